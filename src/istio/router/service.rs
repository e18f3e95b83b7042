//! The router as a Tower service: host, then the first matching rule of that host.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{BoxError, Service, ServiceExt};

use super::hosts::HostTable;
use super::mirror_info::MirrorInfo;
use super::{RouterBody, RuleService};
use crate::istio::host::request_host;
use crate::istio::rewrite::InvalidRewrite;
use crate::istio::rule::Rule;

/// A rule and the stack that serves the requests it matches.
pub(super) struct RuleRoute {
    pub(super) rule: Rule,
    pub(super) service: RuleService,
}

/// A Tower service built from Istio rules.
///
/// Each request is served by the rules of its host (its `Host` header, else its URI's
/// authority; without port or trailing dot, lowercased). A rule serves the hosts it
/// names (`spec.hosts` of a `VirtualService`, the destination of a `RouteRule`):
/// exactly; a short name such as `reviews` in namespace `ns` also as `reviews.ns`,
/// `reviews.ns.svc` and `reviews.ns.svc.cluster.local`; `*.example.com` every name ending
/// in `.example.com`; `*` every host. The most specific host wins: an exact name, then
/// the longest wildcard, then `*`. Its rules are tried in [`Config::rules`] order and the
/// first that matches routes the request by weight across label subsets of its
/// destination and copies it to each of its mirrors; when none matches, the answer is
/// `404 Not Found` (other hosts' rules are not tried, as in Istio).
///
/// A request for a host no rule serves (or with no host at all) goes to the default
/// host: the only host when the rules name exactly one (so Istio's first mirroring rule
/// serves every request whatever its `Host`), or the one set with
/// [`RouterBuilder::default_host`](super::RouterBuilder::default_host); otherwise it
/// gets `404 Not Found`.
///
/// Backends must serve both `Request<RouterBody>` (as primaries) and
/// `Request<Full<Bytes>>` (as shadows), as [`HttpUpstream`](crate::upstream::HttpUpstream)
/// does.
///
/// [`Config::rules`]: crate::istio::Config::rules
#[derive(Clone)]
pub struct Router {
    pub(super) rules: Arc<Vec<RuleRoute>>,
    pub(super) hosts: Arc<HostTable>,
    pub(super) mirrors: Arc<Vec<MirrorInfo>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|route| &route.rule.name)
                    .collect::<Vec<_>>(),
            )
            .field("hosts", &self.hosts)
            .field("mirrors", &self.mirrors)
            .finish()
    }
}

impl Router {
    /// Every mirror of every rule, in rule order, with its handle.
    pub fn mirrors(&self) -> &[MirrorInfo] {
        &self.mirrors
    }

    /// Waits until every mirror of every rule is idle (see
    /// [`MirrorHandle::wait_idle`](crate::MirrorHandle::wait_idle)).
    pub async fn wait_idle(&self) {
        for mirror in self.mirrors.iter() {
            mirror.handle.wait_idle().await;
        }
    }
}

/// Response future of [`Router`].
pub type RouterFuture =
    Pin<Box<dyn Future<Output = Result<Response<RouterBody>, BoxError>> + Send + 'static>>;

impl<B> Service<Request<B>> for Router
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<RouterBody>;
    type Error = BoxError;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call drives its rule's stack with `oneshot`: nothing to wait for here.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let host = request_host(&parts);
        let Some(candidates) = self.hosts.rules_for(host.as_deref()) else {
            tracing::debug!(target: "tower_mirror", host = host.as_deref(), "no rule serves this host");
            return Box::pin(std::future::ready(Ok(answer(
                StatusCode::NOT_FOUND,
                "no rule serves this host\n",
            ))));
        };
        let Some((RuleRoute { rule, service }, entry)) = candidates.iter().find_map(|&index| {
            let route = &self.rules[index];
            route
                .rule
                .matching_entry(&parts)
                .map(|entry| (route, entry))
        }) else {
            tracing::debug!(target: "tower_mirror", path = parts.uri.path(), "no rule matches");
            return Box::pin(std::future::ready(Ok(answer(
                StatusCode::NOT_FOUND,
                "no rule matches this request\n",
            ))));
        };
        tracing::trace!(target: "tower_mirror", rule = %rule.name, "rule matched");
        if let Some(rewrite) = &rule.rewrite
            && let Err(InvalidRewrite(what)) = rewrite.apply(entry, &mut parts)
        {
            tracing::debug!(target: "tower_mirror", rule = %rule.name, what, "rewrite failed");
            return Box::pin(std::future::ready(Ok(answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the rule's rewrite made an invalid request\n",
            ))));
        }
        let req = Request::from_parts(parts, body.map_err(Into::into).boxed_unsync());
        Box::pin(service.clone().oneshot(req))
    }
}

/// The router's own answer, when no backend is asked.
fn answer(status: StatusCode, why: &'static str) -> Response<RouterBody> {
    let body = Full::from(why)
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
