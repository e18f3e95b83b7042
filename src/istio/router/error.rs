//! Why a [`Config`](crate::istio::Config) could not be built into a
//! [`Router`](super::Router).

use std::fmt;

use crate::route::RouteError;

/// Why a [`Config`](crate::istio::Config) could not be built into a
/// [`Router`](super::Router).
///
/// ```
/// use tower_mirror::istio::{BuildError, Config, Router};
/// use tower_mirror::upstream::HttpUpstream;
///
/// let config = Config::from_yaml(include_str!("../../../examples/config/mirror-httpbin-v2.yaml"))?;
/// let err = Router::builder::<HttpUpstream>(&config).build().unwrap_err();
/// assert!(matches!(err, BuildError::UnknownDestination { .. }));
/// # Ok::<(), tower_mirror::istio::ConfigError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A rule routes or mirrors to a destination no [`Backends`](crate::route::Backends)
    /// were given for.
    UnknownDestination {
        /// The rule's name.
        rule: String,
        /// The destination, as written in the rule.
        destination: String,
    },
    /// A rule's split or mirror selects no backend, or its weights are unusable.
    Route {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        source: RouteError,
    },
    /// [`RouterBuilder::default_host`](super::RouterBuilder::default_host) names a host
    /// no rule serves.
    UnknownDefaultHost {
        /// The name given.
        host: String,
        /// The hosts the rules serve, as first written.
        known: Vec<String>,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownDestination { rule, destination } => write!(
                f,
                "rule `{rule}`: no backends for destination `{destination}`; \
                 add `Backends::new(\"{destination}\")` to the router builder"
            ),
            Self::Route { rule, source } => write!(f, "rule `{rule}`: {source}"),
            Self::UnknownDefaultHost { host, known } => write!(
                f,
                "default host `{host}`: no rule serves it; the rules serve [{}]",
                known.join(", ")
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Route { source, .. } => Some(source),
            Self::UnknownDestination { .. } | Self::UnknownDefaultHost { .. } => None,
        }
    }
}
