//! One mirror of one rule, as a [`Router`](super::Router) reports it.

use crate::mirror::MirrorHandle;

/// One mirror of one rule, with the handle on its counters.
///
/// ```
/// use tower_mirror::istio::{Config, Router};
/// use tower_mirror::route::{Backends, Labels};
/// use tower_mirror::upstream::HttpUpstream;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::from_yaml(include_str!("../../../examples/config/mirror-httpbin-v2.yaml"))?;
/// let httpbin = Backends::new("httpbin")
///     .with(Labels::from([("version", "v1")]), "http://127.0.0.1:9001".parse::<HttpUpstream>()?)
///     .with(Labels::from([("version", "v2")]), "http://127.0.0.1:9002".parse::<HttpUpstream>()?);
/// let router = Router::builder(&config).backends(httpbin).build()?;
/// let mirror = &router.mirrors()[0];
/// assert_eq!((mirror.destination.as_str(), mirror.percent), ("httpbin", 100.0));
/// assert_eq!(mirror.handle.stats().seen, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MirrorInfo {
    /// The rule's name.
    pub rule: String,
    /// The mirror's destination.
    pub destination: String,
    /// The mirror's selector, as `key=value,...`.
    pub labels: String,
    /// Share of the rule's requests copied.
    pub percent: f64,
    /// Counters, `wait_idle` and `shutdown` for this mirror.
    pub handle: MirrorHandle,
}
