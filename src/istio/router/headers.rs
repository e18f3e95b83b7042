//! A rule's and its destinations' `headers`: request headers changed before the request
//! goes on (and is mirrored), response headers before the client gets them.

use std::sync::Arc;

use http::{Request, Response};
use tower::ServiceExt;

use super::{RouterBody, RuleService};
use crate::istio::headers::Headers;

/// Wraps `inner` with `changes`, applied in order to requests and to responses; nothing
/// is added when they change nothing.
pub(super) fn layer(inner: RuleService, changes: &[&Headers]) -> RuleService {
    let changes: Vec<Headers> = changes
        .iter()
        .filter(|h| !h.is_empty())
        .map(|h| (*h).clone())
        .collect();
    let mut service = inner;
    if changes.iter().any(|h| !h.request.is_empty()) {
        let changes = Arc::new(changes.clone());
        service = RuleService::new(service.map_request(move |mut req: Request<RouterBody>| {
            for headers in changes.iter() {
                headers.request.apply(req.headers_mut());
            }
            req
        }));
    }
    if changes.iter().any(|h| !h.response.is_empty()) {
        let changes = Arc::new(changes);
        service = RuleService::new(service.map_response(
            move |mut response: Response<RouterBody>| {
                for headers in changes.iter() {
                    headers.response.apply(response.headers_mut());
                }
                response
            },
        ));
    }
    service
}
