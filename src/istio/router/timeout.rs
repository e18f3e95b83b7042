//! A rule's `timeout`: a destination that has not answered (its response head) in time
//! gets the client `504 Gateway Timeout`, as Envoy answers it.

use std::time::Duration;

use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower::timeout::TimeoutLayer;
use tower::timeout::error::Elapsed;
use tower_layer::Layer;

use super::{RouterBody, RuleService};

/// Wraps `inner` so that an answer later than `timeout` becomes a `504`.
pub(super) fn layer(inner: RuleService, timeout: Duration) -> RuleService {
    let limited = TimeoutLayer::new(timeout).layer(inner);
    RuleService::new(limited.map_result(|result| match result {
        Err(err) if err.is::<Elapsed>() => Ok(gateway_timeout()),
        other => other,
    }))
}

fn gateway_timeout() -> Response<RouterBody> {
    let body = Full::from("upstream request timeout")
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response
}
