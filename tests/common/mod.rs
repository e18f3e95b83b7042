//! Shared mocks for the mirror behaviour tests: recording shadows, an echo primary, a primary
//! that hands the request back to the test, scripted request bodies and an event log.
#![allow(dead_code)]

use std::{
    collections::VecDeque,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_util::{FutureExt, future::BoxFuture};
use http::{HeaderMap, Request, Response, StatusCode, request::Parts};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use tokio::sync::mpsc;
use tower::{BoxError, Service, ServiceExt, util::BoxCloneSyncService};
use tower_mirror::{MirrorEvent, MirrorHandle, MirrorStats, SkipReason};

/// What a shadow receives.
pub type ShadowRequest = Request<Full<Bytes>>;
/// What every mock shadow answers with.
pub type ShadowBody = UnsyncBoxBody<Bytes, BoxError>;
pub type ShadowResponse = Response<ShadowBody>;
/// One concrete shadow type for all mocks, so helpers and assertions can name it.
pub type Shadow = BoxCloneSyncService<ShadowRequest, ShadowResponse, BoxError>;

/// A request extension the copy must never carry and the primary must always see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker(pub u32);

// ---------------------------------------------------------------- shadows

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

pub fn full_body(s: &'static str) -> ShadowBody {
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

/// A response body that counts the frames polled out of it (to see it drained).
pub struct CountingBody {
    frames: VecDeque<Bytes>,
    polled: Arc<AtomicUsize>,
}

impl CountingBody {
    pub fn new(frames: &[&'static str], polled: Arc<AtomicUsize>) -> Self {
        Self {
            frames: frames
                .iter()
                .map(|f| Bytes::from_static(f.as_bytes()))
                .collect(),
            polled,
        }
    }
}

impl Body for CountingBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match this.frames.pop_front() {
            Some(f) => {
                this.polled.fetch_add(1, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(f))))
            }
            None => Poll::Ready(None),
        }
    }
}

// ---------------------------------------------------------------- primaries

/// What the primary saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub parts: Parts,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

/// Primary that reads the whole body (data + trailers), records what it saw, optionally sleeps,
/// and answers 201 with the body echoed, a header and a response extension.
#[derive(Clone, Default)]
pub struct Echo {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub delay: Option<Duration>,
}

impl Echo {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_delay(d: Duration) -> Self {
        Self {
            delay: Some(d),
            ..Self::default()
        }
    }
    pub fn only(&self) -> Seen {
        let all = self.seen.lock().unwrap().clone();
        assert_eq!(all.len(), 1, "primary saw {} requests", all.len());
        all.into_iter().next().unwrap()
    }
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl<B> Service<Request<B>> for Echo
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let seen = self.seen.clone();
        let delay = self.delay;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let collected = body.collect().await.map_err(Into::into)?;
            let trailers = collected.trailers().cloned();
            let body = collected.to_bytes();
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            seen.lock().unwrap().push(Seen {
                parts,
                body: body.clone(),
                trailers,
            });
            let mut res = Response::builder()
                .status(StatusCode::CREATED)
                .header("x-primary", "echo")
                .body(Full::new(body))
                .unwrap();
            res.extensions_mut().insert(Marker(7));
            Ok(res)
        })
    }
}

/// Primary that answers 200 at once and hands the request (with its unread body) to the test.
pub struct Capture<B> {
    slot: Arc<Mutex<VecDeque<Request<B>>>>,
}

impl<B> Clone for Capture<B> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
        }
    }
}

impl<B> Default for Capture<B> {
    fn default() -> Self {
        Self {
            slot: Arc::default(),
        }
    }
}

impl<B> Capture<B> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn take(&self) -> Request<B> {
        self.slot
            .lock()
            .unwrap()
            .pop_front()
            .expect("the primary received no request")
    }
}

impl<B: Send + 'static> Service<Request<B>> for Capture<B> {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.slot.lock().unwrap().push_back(req);
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

// ---------------------------------------------------------------- request bodies

pub type FrameResult = Result<Frame<Bytes>, BoxError>;
/// A request body made of scripted frames.
pub type ScriptBody = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<FrameResult>>>;

pub fn script(items: Vec<FrameResult>) -> ScriptBody {
    StreamBody::new(futures_util::stream::iter(items))
}

/// Data frames, then optional trailers. `StreamBody` never reports `is_end_stream`, so the
/// end is only seen when `None` is polled.
pub fn chunked(chunks: &[&[u8]], trailers: Option<HeaderMap>) -> ScriptBody {
    let mut items: Vec<FrameResult> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    if let Some(t) = trailers {
        items.push(Ok(Frame::trailers(t)));
    }
    script(items)
}

/// Data frames then an error.
pub fn erroring(chunks: &[&[u8]], msg: &'static str) -> ScriptBody {
    let mut items: Vec<FrameResult> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    items.push(Err(msg.into()));
    script(items)
}

/// A request body fed by the test through a channel; ends when the sender is dropped.
pub struct ChannelBody {
    rx: mpsc::UnboundedReceiver<FrameResult>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<FrameResult>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

pub fn channel_body() -> (mpsc::UnboundedSender<FrameResult>, ChannelBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, ChannelBody { rx })
}

pub fn data(n: usize, byte: u8) -> FrameResult {
    Ok(Frame::data(Bytes::from(vec![byte; n])))
}

/// Reads the next frame and returns its data length (panics on trailers, error or end).
pub async fn read_data<B>(body: &mut B) -> usize
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let frame = body
        .frame()
        .await
        .expect("body ended early")
        .expect("body errored");
    frame.into_data().expect("expected a data frame").len()
}

pub fn trailers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, v.parse().unwrap());
    }
    map
}

pub fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::new(Bytes::new())).unwrap()
}

pub fn post(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

// ---------------------------------------------------------------- events

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Sampling,
    Filter,
    BodyTooLarge,
    BodyIncomplete,
    Upgrade,
    NoRuntime,
    Shutdown,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Skipped(Skip),
    Dropped,
    Dispatched,
    Completed(StatusCode, Duration),
    Failed(Duration, String),
    TimedOut,
    Unknown,
}

impl Ev {
    pub fn is_decision(&self) -> bool {
        matches!(self, Ev::Skipped(_) | Ev::Dropped | Ev::Dispatched)
    }
    pub fn is_outcome(&self) -> bool {
        matches!(self, Ev::Completed(..) | Ev::Failed(..) | Ev::TimedOut)
    }
}

pub fn classify(e: &MirrorEvent) -> Ev {
    match e {
        MirrorEvent::Skipped { reason, .. } => Ev::Skipped(match reason {
            SkipReason::Sampling => Skip::Sampling,
            SkipReason::Filter => Skip::Filter,
            SkipReason::BodyTooLarge => Skip::BodyTooLarge,
            SkipReason::BodyIncomplete => Skip::BodyIncomplete,
            SkipReason::Upgrade => Skip::Upgrade,
            SkipReason::NoRuntime => Skip::NoRuntime,
            SkipReason::Shutdown => Skip::Shutdown,
            _ => Skip::Unknown,
        }),
        MirrorEvent::Dropped { .. } => Ev::Dropped,
        MirrorEvent::Dispatched => Ev::Dispatched,
        MirrorEvent::Completed {
            status, latency, ..
        } => Ev::Completed(*status, *latency),
        MirrorEvent::Failed { latency, error, .. } => Ev::Failed(*latency, error.clone()),
        MirrorEvent::TimedOut => Ev::TimedOut,
        _ => Ev::Unknown,
    }
}

/// Events collected through `MirrorLayer::on_event`.
#[derive(Debug, Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Ev>>>);

impl Events {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn hook(&self) -> impl Fn(&MirrorEvent) + Clone + Send + Sync + 'static {
        let log = self.0.clone();
        move |e: &MirrorEvent| log.lock().unwrap().push(classify(e))
    }
    pub fn all(&self) -> Vec<Ev> {
        self.0.lock().unwrap().clone()
    }
    pub fn decisions(&self) -> Vec<Ev> {
        self.all().into_iter().filter(Ev::is_decision).collect()
    }
    pub fn outcomes(&self) -> Vec<Ev> {
        self.all().into_iter().filter(Ev::is_outcome).collect()
    }
    pub fn count(&self, pred: impl Fn(&Ev) -> bool) -> usize {
        self.all().iter().filter(|e| pred(e)).count()
    }
}

// ---------------------------------------------------------------- helpers

/// `wait_idle`, bounded so a copy that never finishes fails the test instead of hanging it
/// (with paused time the bound passes instantly). `wait_idle` also waits for request bodies
/// still being copied, so call it only once the primary is done with the body.
pub async fn idle(handle: &MirrorHandle) {
    tokio::time::timeout(Duration::from_secs(120), handle.wait_idle())
        .await
        .expect("wait_idle did not return: a copy never finished");
}

pub async fn send<S, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error>
where
    S: Service<R>,
{
    svc.ready().await?.call(req).await
}

pub fn skipped_total(s: &MirrorStats) -> u64 {
    s.skipped_sampling
        + s.skipped_filter
        + s.skipped_body_too_large
        + s.skipped_body_incomplete
        + s.skipped_upgrade
        + s.skipped_no_runtime
        + s.skipped_shutdown
}

/// The two invariants that hold once idle.
pub fn assert_invariants(s: &MirrorStats) {
    assert_eq!(
        s.seen,
        s.mirrored + skipped_total(s) + s.dropped_overload,
        "seen == mirrored + skipped_* + dropped_overload: {s:?}"
    );
    assert_eq!(
        s.mirrored,
        s.completed + s.failed + s.timed_out,
        "mirrored == completed + failed + timed_out: {s:?}"
    );
}

/// Idle handle: no copy running, nothing buffered, invariants hold.
pub fn assert_idle(handle: &MirrorHandle) {
    assert_eq!(handle.in_flight(), 0, "in_flight after wait_idle");
    assert_eq!(handle.buffered_bytes(), 0, "buffered_bytes after wait_idle");
    assert_invariants(&handle.stats());
}

/// Lets spawned copy tasks run on a current-thread runtime.
pub async fn let_tasks_run() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Polls a future once with a no-op waker.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(fut).poll(&mut cx)
}
