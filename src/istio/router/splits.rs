//! A rule's weighted split, with one stack per split so that what depends on the chosen
//! destination (its `headers`) is applied before the request is mirrored, as Envoy does.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{BoxError, Service, ServiceExt};

use super::{RouterBody, RuleService};
use crate::route::WeightedRoute;

/// Picks a split as `route` does (weights, seed, sticky header) and sends the request
/// down that split's stack.
pub(super) fn service<S>(route: WeightedRoute<S>, stacks: Vec<RuleService>) -> RuleService
where
    S: Send + Sync + 'static,
{
    RuleService::new(SplitRoute {
        route,
        stacks: stacks.into(),
    })
}

struct SplitRoute<S> {
    route: WeightedRoute<S>,
    /// One per split of `route`, in its order.
    stacks: Arc<[RuleService]>,
}

impl<S> Clone for SplitRoute<S> {
    fn clone(&self) -> Self {
        SplitRoute {
            route: self.route.clone(),
            stacks: Arc::clone(&self.stacks),
        }
    }
}

impl<S> Service<Request<RouterBody>> for SplitRoute<S> {
    type Response = Response<RouterBody>;
    type Error = BoxError;
    type Future = tower::util::Oneshot<RuleService, Request<RouterBody>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Each call drives its split's stack with `oneshot`: nothing to wait for here.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RouterBody>) -> Self::Future {
        let split = self.route.pick(req.headers());
        // `pick` returns an index of `route`'s splits, and there is one stack per split.
        self.stacks[split].clone().oneshot(req)
    }
}
