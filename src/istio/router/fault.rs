//! A rule's `fault`: some requests wait before going on, some are answered at once with
//! an error status and neither forwarded nor mirrored, each on its own percentage, the
//! delay first (as Envoy's fault filter does).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{BoxError, Service, ServiceExt};

use super::{RouterBody, RuleService};
use crate::istio::fault::Fault;
use crate::rng::SharedRng;

/// Wraps `inner` with the faults; `rng` draws which requests get them.
pub(super) fn layer(inner: RuleService, fault: &Fault, rng: SharedRng) -> RuleService {
    RuleService::new(Faulty {
        inner,
        fault: Arc::new(fault.clone()),
        rng: Arc::new(rng),
    })
}

#[derive(Clone)]
struct Faulty {
    inner: RuleService,
    fault: Arc<Fault>,
    rng: Arc<SharedRng>,
}

impl Faulty {
    /// One draw per decision, as a percentage in millionths (as mirror sampling).
    fn hit(&self, percent: f64) -> bool {
        let threshold = (percent * 10_000.0).round() as u64;
        self.rng.below(1_000_000) < threshold
    }
}

type FaultFuture =
    Pin<Box<dyn Future<Output = Result<Response<RouterBody>, BoxError>> + Send + 'static>>;

impl Service<Request<RouterBody>> for Faulty {
    type Response = Response<RouterBody>;
    type Error = BoxError;
    type Future = FaultFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The inner stack is driven with `oneshot` per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RouterBody>) -> Self::Future {
        let delay = self
            .fault
            .delay
            .as_ref()
            .filter(|d| self.hit(d.percent))
            .map(|d| d.duration);
        let abort = self
            .fault
            .abort
            .as_ref()
            .filter(|a| self.hit(a.percent))
            .map(|a| a.status);
        // `Oneshot` does nothing until polled: an aborted request is never forwarded.
        // Boxed here: inside the async block rustc loses the request type's lifetimes
        // (a known limit of higher-ranked inference in async blocks).
        let forward: Result<FaultFuture, StatusCode> = match abort {
            Some(status) => Err(status),
            None => Ok(Box::pin(self.inner.clone().oneshot(req))),
        };
        Box::pin(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            match forward {
                Ok(forward) => forward.await,
                Err(status) => Ok(aborted(status)),
            }
        })
    }
}

fn aborted(status: StatusCode) -> Response<RouterBody> {
    let body = Full::from("fault filter abort")
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
