//! Faults a rule injects, as Istio's `fault` (`delay`, `abort`, each on a percentage of
//! requests).

use std::time::Duration;

use http::StatusCode;

/// Faults injected into the requests a rule takes, before they are forwarded: a delay,
/// an abort, or both (the delay first). An aborted request is answered by the router
/// itself and neither forwarded nor mirrored.
///
/// ```
/// use std::time::Duration;
/// use tower_mirror::istio::Config;
///
/// let config = Config::from_yaml(r#"
/// apiVersion: networking.istio.io/v1
/// kind: VirtualService
/// metadata: {name: ratings}
/// spec:
///   hosts: [ratings]
///   http:
///   - fault:
///       delay: {fixedDelay: 7s, percentage: {value: 100}}
///       abort: {httpStatus: 500, percentage: {value: 10}}
///     route: [{destination: {host: ratings}}]
/// "#)?;
/// let fault = config.rules()[0].fault.as_ref().unwrap();
/// let delay = fault.delay.as_ref().unwrap();
/// assert_eq!((delay.duration, delay.percent), (Duration::from_secs(7), 100.0));
/// let abort = fault.abort.as_ref().unwrap();
/// assert_eq!((abort.status.as_u16(), abort.percent), (500, 10.0));
/// # Ok::<(), tower_mirror::istio::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Fault {
    /// Requests held back before being forwarded.
    pub delay: Option<FaultDelay>,
    /// Requests answered with an error status instead of being forwarded.
    pub abort: Option<FaultAbort>,
}

/// `fault.delay`: `percent` of the requests wait `duration` before being forwarded.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FaultDelay {
    /// `fixedDelay`.
    pub duration: Duration,
    /// Share of requests delayed, `0.0..=100.0` (none when Istio's `percentage` is unset).
    pub percent: f64,
}

/// `fault.abort`: `percent` of the requests are answered with `status`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FaultAbort {
    /// `httpStatus`.
    pub status: StatusCode,
    /// Share of requests aborted, `0.0..=100.0` (none when Istio's `percentage` is unset).
    pub percent: f64,
}
