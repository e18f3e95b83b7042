//! `MirrorStats` and `MirrorHandle`: the invariants once idle, live gauges, and that every
//! handle and every clone (of the layer, the handle or the service) shares one set of counters.

use std::{task::Poll, time::Duration};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use support::*;
use tower::{Layer, Service, ServiceExt};
use tower_mirror::{MirrorLayer, MirrorStats};

#[tokio::test(start_paused = true)]
async fn fresh_stats_are_default_and_idle() {
    let layer = MirrorLayer::new(recording_shadow(&Recorder::new()));
    let handle = layer.handle();
    assert_eq!(handle.stats(), MirrorStats::default());
    let zero = MirrorStats::default();
    assert_eq!((zero.seen, zero.mirrored, zero.truncated), (0, 0, 0));
    idle(&handle).await;
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn live_gauges_track_running_copies() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec)).timeout(Duration::from_secs(1));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for body in ["a", "bb", "ccc"] {
        send(&mut svc, post("/", body)).await.unwrap();
    }
    let_tasks_run().await;
    assert_eq!(handle.in_flight(), 3);
    assert_eq!(
        handle.buffered_bytes(),
        6 + 3,
        "held until the shadow calls end: bodies and heads (the URI `/`)"
    );
    idle(&handle).await;
    assert_idle(&handle);
    assert_eq!(handle.stats().timed_out, 3);
}

#[tokio::test(start_paused = true)]
async fn handles_and_clones_share_the_counters() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let h1 = layer.handle();
    let h2 = h1.clone();
    let h3 = layer.handle();
    // axum's `Router::layer` clones the layer per route, and services are cloned per call.
    let other_layer = layer.clone();
    let h4 = other_layer.handle();
    let svc_a = layer.layer(Echo::new());
    let mut svc_b = other_layer.layer(Echo::new());
    let mut svc_a2 = svc_a.clone();
    send(&mut svc_a2, get("/a")).await.unwrap();
    send(&mut svc_b, get("/b")).await.unwrap();
    let mut svc_a3 = svc_a.clone();
    send(&mut svc_a3, post("/c", "x")).await.unwrap();
    idle(&h2).await;
    for h in [&h1, &h2, &h3, &h4] {
        let s = h.stats();
        assert_eq!((s.seen, s.mirrored, s.completed), (3, 3, 3), "{s:?}");
        assert_eq!(s, h1.stats());
    }
    assert_eq!(rec.len(), 3);
}

/// Hands out `x-request-id` values that header sampling at 50 % lets through.
struct SampledIn(u64);

impl SampledIn {
    fn next(&mut self) -> String {
        loop {
            self.0 += 1;
            let v = format!("id-{}", self.0);
            let hash = v.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            if hash % 1_000_000 < 500_000 {
                return v;
            }
        }
    }

    fn tag(&mut self, req: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
        let (mut parts, body) = req.into_parts();
        parts
            .headers
            .insert("x-request-id", self.next().parse().unwrap());
        Request::from_parts(parts, body)
    }
}

#[tokio::test(start_paused = true)]
async fn invariants_hold_after_mixed_traffic() {
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |copy| {
        let path = copy.parts.uri.path().to_owned();
        async move {
            match path.as_str() {
                "/fail" => Err("down".into()),
                "/hang" => std::future::pending().await,
                _ => Ok(respond(200)),
            }
        }
    });
    let layer = MirrorLayer::new(shadow)
        .sample_percent(50.0)
        .sample_by_header("x-request-id")
        .seed(11)
        .filter(|parts: &http::request::Parts| parts.method != Method::DELETE)
        .max_body_bytes(16)
        .max_in_flight(4)
        .timeout(Duration::from_millis(100));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let capture = Capture::new();
    let mut streaming = layer.layer(capture.clone());
    let mut ids = SampledIn(0);

    // Random sampling (no header).
    for _ in 0..40 {
        send(&mut svc, get("/random")).await.unwrap();
        idle(&handle).await;
    }
    // Sampled in by header from here on, so every other path is reached.
    for path in ["/ok", "/fail", "/hang"] {
        send(&mut svc, ids.tag(get(path))).await.unwrap();
        idle(&handle).await;
    }
    let delete = Request::delete("/x").body(Full::new(Bytes::new())).unwrap();
    send(&mut svc, ids.tag(delete)).await.unwrap();
    let upgrade = Request::get("/ws")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(&mut svc, ids.tag(upgrade)).await.unwrap();
    send(&mut svc, ids.tag(post("/big", "way over sixteen bytes")))
        .await
        .unwrap();
    // Incomplete body.
    let req = Request::post("/partial")
        .header("x-request-id", ids.next())
        .body(chunked(&[b"a", b"b"], None))
        .unwrap();
    send(&mut streaming, req).await.unwrap();
    drop(capture.take());
    // No runtime: from a plain thread.
    let mut off_runtime = svc.clone();
    let req = ids.tag(get("/ok"));
    std::thread::spawn(move || {
        {
            let mut ready = ServiceExt::<Request<Full<Bytes>>>::ready(&mut off_runtime);
            assert!(matches!(poll_once(&mut ready), Poll::Ready(Ok(_))));
        }
        let mut fut = Box::pin(off_runtime.call(req));
        assert!(matches!(poll_once(&mut fut), Poll::Ready(Ok(_))));
    })
    .join()
    .unwrap();
    idle(&handle).await;
    // Overload: 4 hung copies fill max_in_flight, the other 2 are dropped.
    for _ in 0..6 {
        send(&mut svc, ids.tag(get("/hang"))).await.unwrap();
    }
    idle(&handle).await;
    // Shutdown: later requests are skipped.
    assert_eq!(handle.shutdown(Duration::from_secs(1)).await, 0);
    send(&mut svc, ids.tag(get("/late"))).await.unwrap();
    idle(&handle).await;

    let s = handle.stats();
    assert_invariants(&s);
    assert_idle(&handle);
    assert_eq!(s.seen, 40 + 3 + 3 + 1 + 1 + 6 + 1, "{s:?}");
    for (name, value) in [
        ("skipped_sampling", s.skipped_sampling),
        ("skipped_filter", s.skipped_filter),
        ("skipped_upgrade", s.skipped_upgrade),
        ("skipped_body_too_large", s.skipped_body_too_large),
        ("skipped_body_incomplete", s.skipped_body_incomplete),
        ("skipped_no_runtime", s.skipped_no_runtime),
        ("skipped_shutdown", s.skipped_shutdown),
        ("dropped_overload", s.dropped_overload),
        ("completed", s.completed),
        ("failed", s.failed),
        ("timed_out", s.timed_out),
    ] {
        assert!(value > 0, "{name} never exercised: {s:?}");
    }
    assert_eq!(
        (
            s.dropped_overload,
            s.timed_out,
            s.failed,
            s.skipped_no_runtime
        ),
        (2, 5, 1, 1),
        "{s:?}"
    );
    assert_eq!(s.skipped_sampling + s.completed, 40 + 1, "{s:?}");
}

#[tokio::test]
async fn stats_is_a_plain_copy() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let before: MirrorStats = handle.stats();
    let res = send(&mut svc, get("/")).await.unwrap();
    res.into_body().collect().await.unwrap();
    idle(&handle).await;
    let after = handle.stats();
    assert_eq!(before.seen, 0, "a snapshot does not move");
    assert_eq!(after.seen, 1);
    let copied = after;
    assert_eq!(copied, after);
    assert!(format!("{after:?}").contains("seen"));
}

#[tokio::test]
async fn readiness_is_delegated_to_the_primary() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let mut svc = layer.layer(tower::limit::ConcurrencyLimit::new(Echo::new(), 1));
    // The primary's limit is visible through the mirror: after one `ready` + `call` that is
    // still running, the next `poll_ready` is pending.
    ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
        .await
        .unwrap();
    let (tx, body) = channel_body();
    let pending_call = svc.call(Request::post("/").body(body).unwrap());
    let mut fut = Box::pin(pending_call);
    assert!(poll_once(&mut fut).is_pending());
    let mut ready = ServiceExt::<Request<ChannelBody>>::ready(&mut svc);
    assert!(
        poll_once(&mut ready).is_pending(),
        "the primary's limit applies"
    );

    drop(tx);
    fut.await.unwrap();
}
