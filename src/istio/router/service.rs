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
use super::{BuildError, RouterBody, RuleService};
use crate::istio::host::request_host;
use crate::istio::mirror_id::MirrorInfo;
use crate::istio::reload::{Mirrored, Reloadable};
use crate::istio::rewrite::InvalidRewrite;
use crate::istio::rule::Rule;

/// A rule and the stack that serves the requests it matches.
pub(super) struct RuleRoute {
    pub(super) rule: Rule,
    pub(super) service: RuleService,
}

/// The rules in force, their hosts and their mirrors, swapped whole by a reload.
pub(super) struct Routes {
    pub(super) rules: Vec<RuleRoute>,
    pub(super) hosts: HostTable,
    pub(super) mirrors: Vec<MirrorInfo>,
}

impl Mirrored for Routes {
    fn mirrors(&self) -> &[MirrorInfo] {
        &self.mirrors
    }
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
/// [`reload`](Self::reload) changes the rules of the router and all its clones while it
/// serves.
///
/// [`Config::rules`]: crate::istio::Config::rules
#[derive(Clone)]
pub struct Router {
    pub(super) routes: Arc<Reloadable<Routes, BuildError>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes = self.routes.load();
        f.debug_struct("Router")
            .field(
                "rules",
                &routes
                    .rules
                    .iter()
                    .map(|route| &route.rule.name)
                    .collect::<Vec<_>>(),
            )
            .field("hosts", &routes.hosts)
            .field("mirrors", &routes.mirrors)
            .finish()
    }
}

impl Router {
    /// Every mirror of every rule in force, in rule order, with its handle. Owned: a
    /// [`reload`](Self::reload) may replace them while you hold the list.
    pub fn mirrors(&self) -> Vec<MirrorInfo> {
        self.routes.load().mirrors.clone()
    }

    /// Puts `config`'s rules in force, for this router and all its clones, in one atomic
    /// swap; or, when they cannot be built, returns the error and changes nothing.
    ///
    /// - Requests already routed (their backend called) finish on the rules they found;
    ///   every later request sees the new ones (hosts included).
    /// - A mirror of the same identity (rule, destination, labels: see
    ///   [`MirrorId`](crate::istio::MirrorId)) keeps its
    ///   [`MirrorHandle`](crate::MirrorHandle): its counters, metrics, budget and pause
    ///   switch carry on, and it takes the new config's percentage. Its circuit breaker
    ///   starts closed.
    /// - The backends and the settings given to the
    ///   [`RouterBuilder`](super::RouterBuilder) (`configure_mirrors`, `seed`, `metrics`,
    ///   `default_host`) apply to the new rules as they did to the first ones.
    ///
    /// ```
    /// # use tower_mirror::istio::{Config, Router};
    /// # fn reload(router: &Router, yaml: &str) {
    /// match Config::from_yaml(yaml).map_err(|e| e.to_string())
    ///     .and_then(|config| router.reload(&config).map_err(|e| e.to_string()))
    /// {
    ///     Ok(()) => println!("reloaded: {} mirrors", router.mirrors().len()),
    ///     Err(error) => eprintln!("reload refused: {error}; keeping the previous config"),
    /// }
    /// # }
    /// ```
    pub fn reload(&self, config: &crate::istio::Config) -> Result<(), BuildError> {
        self.routes.reload(config)
    }

    /// Waits until every mirror of every rule in force is idle (see
    /// [`MirrorHandle::wait_idle`](crate::MirrorHandle::wait_idle)).
    pub async fn wait_idle(&self) {
        for mirror in self.mirrors() {
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
        let routes = self.routes.load();
        let Some(candidates) = routes.hosts.rules_for(host.as_deref()) else {
            tracing::debug!(target: "tower_mirror", host = host.as_deref(), "no rule serves this host");
            return Box::pin(std::future::ready(Ok(answer(
                StatusCode::NOT_FOUND,
                "no rule serves this host\n",
            ))));
        };
        let Some((RuleRoute { rule, service }, entry)) = candidates.iter().find_map(|&index| {
            let route = &routes.rules[index];
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
        // The stack is cloned out: the request finishes on these rules whatever a reload
        // puts in force meanwhile.
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
