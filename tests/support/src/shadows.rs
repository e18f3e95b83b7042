//! Mock shadows: each records the copies it receives in a [`Recorder`], then answers, fails,
//! sleeps, hangs or panics as asked.

use std::{
    convert::Infallible,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_util::{FutureExt, future::BoxFuture};
use http::{Request, Response, request::Parts};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use tower::{BoxError, Service, util::BoxCloneSyncService};

/// What a shadow receives.
pub type ShadowRequest = Request<Full<Bytes>>;
/// What every mock shadow answers with.
pub type ShadowBody = UnsyncBoxBody<Bytes, BoxError>;
/// A mock shadow's response.
pub type ShadowResponse = Response<ShadowBody>;
/// One concrete shadow type for all mocks, so helpers and assertions can name it.
pub type Shadow = BoxCloneSyncService<ShadowRequest, ShadowResponse, BoxError>;

/// A copy as the shadow received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub parts: Parts,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts
            .headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
    }
}

/// Everything the shadow received, in arrival order (one entry per `call`).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Received>>>);

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn all(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
    /// The single copy received; panics if there were none or several.
    pub fn only(&self) -> Received {
        let all = self.all();
        assert_eq!(all.len(), 1, "expected exactly one copy, got {}", all.len());
        all.into_iter().next().unwrap()
    }
    fn push(&self, req: ShadowRequest) -> Received {
        let (parts, body) = req.into_parts();
        // `Full` yields its only frame at once.
        let body = body
            .collect()
            .now_or_never()
            .expect("Full is always ready")
            .unwrap_or_else(|e: Infallible| match e {})
            .to_bytes();
        let received = Received { parts, body };
        self.0.lock().unwrap().push(received.clone());
        received
    }
}

fn full_body(s: &'static str) -> ShadowBody {
    Full::new(Bytes::from_static(s.as_bytes()))
        .map_err(|e| match e {})
        .boxed_unsync()
}

pub fn respond(status: u16) -> ShadowResponse {
    Response::builder()
        .status(status)
        .body(full_body("shadow"))
        .unwrap()
}

/// A shadow built with `service_fn`: records each copy synchronously in `call`, then answers
/// with `answer(&copy)`.
pub fn shadow_with<F, Fut>(rec: &Recorder, answer: F) -> Shadow
where
    F: Fn(&Received) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<ShadowResponse, BoxError>> + Send + 'static,
{
    let rec = rec.clone();
    BoxCloneSyncService::new(tower::service_fn(move |req: ShadowRequest| {
        let received = rec.push(req);
        answer(&received)
    }))
}

/// Records and answers 200.
pub fn recording_shadow(rec: &Recorder) -> Shadow {
    shadow_with(rec, |_| async { Ok(respond(200)) })
}

pub fn status_shadow(rec: &Recorder, status: u16) -> Shadow {
    shadow_with(rec, move |_| async move { Ok(respond(status)) })
}

pub fn sleeping_shadow(rec: &Recorder, d: Duration) -> Shadow {
    shadow_with(rec, move |_| async move {
        tokio::time::sleep(d).await;
        Ok(respond(200))
    })
}

pub fn hung_shadow(rec: &Recorder) -> Shadow {
    shadow_with(rec, |_| std::future::pending())
}

pub fn failing_shadow(rec: &Recorder) -> Shadow {
    shadow_with(rec, |_| async {
        Err::<ShadowResponse, _>("shadow exploded".into())
    })
}

pub fn panicking_future_shadow(rec: &Recorder) -> Shadow {
    shadow_with(rec, |_| async { panic!("shadow panicked in its future") })
}

/// Panics synchronously inside `Service::call`.
pub fn panicking_call_shadow() -> Shadow {
    BoxCloneSyncService::new(tower::service_fn(
        |_req: ShadowRequest| -> std::future::Ready<Result<ShadowResponse, BoxError>> {
            panic!("shadow panicked in call")
        },
    ))
}

/// `poll_ready` fails; counts how often `call` is reached (it must never be).
#[derive(Clone, Default)]
pub struct ReadyErrorShadow {
    pub calls: Arc<AtomicUsize>,
}

impl Service<ShadowRequest> for ReadyErrorShadow {
    type Response = ShadowResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ShadowResponse, BoxError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err("shadow not ready: broken".into()))
    }
    fn call(&mut self, _: ShadowRequest) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(respond(200)) })
    }
}

/// `poll_ready` never completes.
#[derive(Clone, Default)]
pub struct NeverReadyShadow {
    pub calls: Arc<AtomicUsize>,
}

impl Service<ShadowRequest> for NeverReadyShadow {
    type Response = ShadowResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ShadowResponse, BoxError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Pending
    }
    fn call(&mut self, _: ShadowRequest) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(respond(200)) })
    }
}

pub fn boxed<S>(s: S) -> Shadow
where
    S: Service<ShadowRequest, Response = ShadowResponse, Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    BoxCloneSyncService::new(s)
}
