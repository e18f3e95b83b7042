//! Fixtures shared by the mirror benches: the requests, the primaries, the shadow, and a
//! timing loop that keeps the shadow's spawned work out of the measured time.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use tower::{Service, ServiceExt};
use tower_mirror::MirrorHandle;

/// Requests timed between two `wait_idle`s: that many copies are alive at once. Below the
/// default `max_in_flight` (1024) and, at 64 KiB each, well below the default
/// `max_buffered_bytes` (64 MiB), so no copy is ever dropped for overload (the benches
/// assert it). 500 live 64 KiB copies (32 MiB) do not fit in the CPU caches, as with a
/// real shadow that takes milliseconds to answer under load.
pub const BATCH: u64 = 500;

/// A batch small enough that the copies' buffers are recycled while still in cache: a
/// shadow that answers at once under light load.
#[allow(dead_code)] // only `ratios` uses it
pub const SMALL_BATCH: u64 = 16;

pub const FRAME_LEN: usize = 16 * 1024;
pub const FRAMES: usize = 4;
pub const POST_LEN: usize = FRAME_LEN * FRAMES;

/// A body of `FRAMES` data frames, all ready at once (as from a fast client).
pub type FramedBody =
    StreamBody<stream::Iter<std::array::IntoIter<Result<Frame<Bytes>, Infallible>, FRAMES>>>;

/// Builds the benches' requests; the URI and the frame are made once and shared, as
/// hyper shares its read buffer.
#[derive(Clone)]
pub struct Requests {
    uri: Uri,
    frame: Bytes,
}

impl Requests {
    pub fn new() -> Self {
        Self {
            uri: Uri::from_static("http://httpbin.default.svc:8000/headers?show_env=1"),
            frame: Bytes::from(vec![0x5a; FRAME_LEN]),
        }
    }

    /// A bodiless GET with the headers of a typical API call.
    pub fn get(&self) -> Request<Empty<Bytes>> {
        let mut req = Request::new(Empty::new());
        *req.method_mut() = Method::GET;
        *req.uri_mut() = self.uri.clone();
        let headers = req.headers_mut();
        headers.insert(header::HOST, HeaderValue::from_static("httpbin:8000"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("curl/8.5.0"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(
            "x-request-id",
            HeaderValue::from_static("7f8c3a2e-5b1d-4e9f-a6c0-2d4b8e1f9a37"),
        );
        req
    }

    /// A 64 KiB POST whose body arrives as 4 frames of 16 KiB, with its `Content-Length`.
    pub fn post(&self) -> Request<FramedBody> {
        let frames = [(); FRAMES].map(|()| Ok(Frame::data(self.frame.clone())));
        let mut req = Request::new(StreamBody::new(stream::iter(frames)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let headers = req.headers_mut();
        headers.insert(header::HOST, HeaderValue::from_static("httpbin:8000"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(POST_LEN));
        req
    }
}

/// The primary for GETs: a canned response, no work.
pub async fn canned<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// The primary for POSTs: reads the whole body into one `Bytes`, as axum's `Bytes`
/// extractor does.
pub async fn collect<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let body = req.into_body().collect().await.expect("bench body");
    let body = body.to_bytes();
    assert_eq!(black_box(body.len()), POST_LEN);
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// The strictest primary for POSTs: walks the frames and copies nothing, as a proxy
/// forwarding them would (minus the socket).
#[allow(dead_code)] // only `ratios` uses it
pub async fn drain<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut body = std::pin::pin!(req.into_body());
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.expect("bench body").data_ref() {
            len += data.len();
        }
    }
    assert_eq!(black_box(len), POST_LEN);
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// A shadow that answers at once.
pub async fn shadow(_req: Request<Full<Bytes>>) -> Result<Response<Empty<Bytes>>, Infallible> {
    Ok(Response::new(Empty::new()))
}

/// What happens to the copies a timed loop spawns.
#[derive(Clone, Copy)]
pub enum Copies<'a> {
    /// No mirror layer: nothing spawned.
    None,
    /// Every `batch` requests the clock stops while the copies spawned so far run to their
    /// end (`wait_idle`): the time is the primary path only (the policy, the copy's head,
    /// the tee, the spawn itself), not the shadow's task.
    Excluded(&'a MirrorHandle, u64),
    /// As `Excluded`, but the clock keeps running through `wait_idle`: the whole CPU cost
    /// of a mirrored request on this thread.
    Included(&'a MirrorHandle, u64),
}

/// Sends `n` requests through `svc`, one after the other (`ready` + `call` + awaiting the
/// response, building the request included), and returns the time they took.
pub async fn timed<S, B>(
    svc: &mut S,
    n: u64,
    request: impl Fn() -> Request<B>,
    copies: Copies<'_>,
) -> Duration
where
    S: Service<Request<B>>,
    S::Error: std::fmt::Debug,
{
    let (handle, batch, count_shadow) = match copies {
        Copies::None => (None, BATCH, false),
        Copies::Excluded(handle, batch) => (Some(handle), batch, false),
        Copies::Included(handle, batch) => (Some(handle), batch, true),
    };
    let mut total = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let this_batch = left.min(batch);
        left -= this_batch;
        let start = Instant::now();
        for _ in 0..this_batch {
            let response = svc
                .ready()
                .await
                .expect("bench service")
                .call(request())
                .await
                .expect("bench service");
            black_box(response);
        }
        let mut elapsed = start.elapsed();
        if let Some(handle) = handle {
            handle.wait_idle().await;
            if count_shadow {
                elapsed = start.elapsed();
            }
        }
        total += elapsed;
    }
    total
}

/// Panics if a copy was dropped or skipped where every one should have been sent: the
/// numbers would then measure the cheap refusal path instead.
pub fn assert_all_mirrored(handle: &MirrorHandle) {
    let stats = handle.stats();
    assert_eq!(stats.dropped_overload, 0, "copies dropped: {stats:?}");
    assert_eq!(stats.mirrored, stats.seen, "copies skipped: {stats:?}");
    assert_eq!(stats.completed, stats.mirrored, "copies failed: {stats:?}");
}

/// A current-thread runtime: spawned copies run only when the bench yields (in
/// `wait_idle`), so they never compete with the measured loop for a core.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
