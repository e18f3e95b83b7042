use std::fmt;

use super::Labels;

/// Why a route could not be built from its configuration.
///
/// Returned by [`Backends::select`](super::Backends::select) and
/// [`WeightedRouteBuilder::build`](super::WeightedRouteBuilder::build); routing itself
/// never fails with it.
///
/// ```
/// use tower_mirror::route::{Backends, Labels, RouteError};
///
/// let backends = Backends::new("httpbin").with(Labels::from([("version", "v1")]), ());
/// let err = backends.select(&Labels::from([("version", "v3")])).unwrap_err();
/// assert!(matches!(err, RouteError::NoMatchingBackend { .. }));
/// assert_eq!(
///     err.to_string(),
///     "no backend of `httpbin` matches the selector `version=v3`: add one with \
///      `Backends::with` or fix the selector's labels"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// The weighted route was built without any split.
    NoSplits,
    /// Every split has weight 0, so no split could ever be picked.
    AllWeightsZero,
    /// A selector matches no backend of the destination.
    NoMatchingBackend {
        /// The destination whose backends were searched.
        destination: String,
        /// The selector that matched nothing.
        selector: Labels,
    },
    /// The split weights add up to more than `u32::MAX`.
    WeightOverflow,
    /// The name given to `sticky_by_header` is not a valid HTTP header name.
    InvalidHeaderName {
        /// The name as given.
        name: String,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSplits => f.write_str(
                "the weighted route has no splits: add at least one with `.split(labels, weight)`",
            ),
            Self::AllWeightsZero => f.write_str(
                "every split of the weighted route has weight 0, so none can be picked: give \
                 at least one split a weight above 0",
            ),
            Self::NoMatchingBackend {
                destination,
                selector,
            } if selector.is_empty() => write!(
                f,
                "destination `{destination}` has no backends: add one with `Backends::with`"
            ),
            Self::NoMatchingBackend {
                destination,
                selector,
            } => write!(
                f,
                "no backend of `{destination}` matches the selector `{selector}`: add one with \
                 `Backends::with` or fix the selector's labels"
            ),
            Self::WeightOverflow => write!(
                f,
                "the split weights add up to more than {}: use smaller weights (percentages \
                 are enough)",
                u32::MAX
            ),
            Self::InvalidHeaderName { name } => write!(
                f,
                "`{name}` is not a valid HTTP header name for `sticky_by_header`: use a token \
                 such as `x-user`"
            ),
        }
    }
}

impl std::error::Error for RouteError {}
