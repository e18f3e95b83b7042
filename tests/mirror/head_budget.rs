//! Guarantee 7, the head: a copy's head (its URI and headers) counts against
//! `max_buffered_bytes` from the moment it is cloned until the shadow call ends, as its
//! body does. A copy whose head does not fit is dropped (`dropped_bytes`) before anything
//! is cloned. Under load, with 400 KiB of headers per request and a slow shadow, the
//! budget's gauge never passes its limit and bounds how many copies are held.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use support::*;
use tower::{Layer, ServiceExt, service_fn};
use tower_mirror::{MirrorBody, MirrorLayer};

/// What the budget counts for a copy's head, as the crate docs define it: the URI's
/// length, and for each header its name, its value and 128 bytes for the map entry.
fn head_cost(parts: &Parts) -> usize {
    let uri = &parts.uri;
    let uri_len = uri.scheme_str().map_or(0, str::len)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    uri_len
        + parts
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 128)
            .sum::<usize>()
}

/// 40 headers of 10 KiB: 400 KiB of head, made once and shared by every request.
fn big_headers() -> HeaderMap {
    let value = HeaderValue::from_bytes(&[b'h'; 10 * 1024]).unwrap();
    (0..40)
        .map(|i| {
            let name = HeaderName::from_bytes(format!("x-big-{i}").as_bytes()).unwrap();
            (name, value.clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_heads_under_load_never_pass_the_budget() {
    const BUDGET: usize = 1 << 20;
    const CLIENTS: usize = 16;
    const PER_CLIENT: usize = 40;
    let headers = big_headers();
    let one_head = {
        let (mut parts, ()) = Request::get("/big").body(()).unwrap().into_parts();
        parts.headers = headers.clone();
        head_cost(&parts)
    };
    assert!(one_head > 400 * 1024 && 2 * one_head <= BUDGET && 3 * one_head > BUDGET);

    let received = Arc::new(AtomicUsize::new(0));
    let intact = Arc::new(AtomicUsize::new(0));
    let shadow = {
        let (received, intact, expected) = (received.clone(), intact.clone(), headers.clone());
        service_fn(move |req: Request<Full<Bytes>>| {
            received.fetch_add(1, Ordering::SeqCst);
            let whole = expected
                .iter()
                .all(|(name, value)| req.headers().get(name) == Some(value));
            if whole {
                intact.fetch_add(1, Ordering::SeqCst);
            }
            // A slow shadow: each copy holds its head for a while.
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
            }
        })
    };
    let layer = MirrorLayer::new(shadow)
        .max_buffered_bytes(BUDGET)
        .timeout(Duration::from_secs(10));
    let handle = layer.handle();
    let svc = layer.layer(service_fn(
        |req: Request<MirrorBody<Full<Bytes>>>| async move {
            let body = req.into_body().collect().await?.to_bytes();
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(body)))
        },
    ));

    let sampler = support::load::Sampler::start(handle.clone());
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (svc, headers) = (svc.clone(), headers.clone());
        clients.spawn(async move {
            for _ in 0..PER_CLIENT {
                let mut req = Request::get("/big").body(Full::new(Bytes::new())).unwrap();
                *req.headers_mut() = headers.clone();
                let response = svc.clone().oneshot(req).await.unwrap();
                assert_eq!(response.status(), 200);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
    }
    while let Some(client) = clients.join_next().await {
        client.expect("a client panicked");
    }
    idle(&handle).await;
    let peaks = sampler.stop();
    let stats = handle.stats();
    eprintln!("peaks {peaks:?} (one head {one_head} B, budget {BUDGET} B); {stats:?}");

    assert!(
        peaks.buffered_bytes <= BUDGET,
        "buffered_bytes peaked at {} over {BUDGET}",
        peaks.buffered_bytes
    );
    assert!(
        peaks.buffered_bytes >= one_head,
        "the heads are counted: peak {} < one head {one_head}",
        peaks.buffered_bytes
    );
    assert!(
        peaks.in_flight <= 2,
        "at most two 400 KiB heads fit in 1 MiB, yet {} copies were held",
        peaks.in_flight
    );
    assert_eq!(stats.seen, (CLIENTS * PER_CLIENT) as u64);
    assert!(
        stats.dropped_bytes > 0,
        "heads over the budget dropped: {stats:?}"
    );
    assert_eq!(
        stats.dropped_in_flight + stats.dropped_breaker,
        0,
        "{stats:?}"
    );
    assert!(stats.mirrored > 0, "{stats:?}");
    assert_eq!(stats.completed, stats.mirrored, "{stats:?}");
    assert_eq!(received.load(Ordering::SeqCst) as u64, stats.mirrored);
    assert_eq!(
        intact.load(Ordering::SeqCst) as u64,
        stats.mirrored,
        "every copy whole"
    );
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn the_head_is_counted_from_call_to_the_end_of_the_shadow_call() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec)).timeout(Duration::from_secs(1));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let (tx, body) = channel_body();
    let req = Request::post("/upload?id=7")
        .header("x-request-id", "abc-123")
        .header("content-type", "application/octet-stream")
        .body(body)
        .unwrap();
    let expected_head = head_cost(&req.clone_parts());
    send(&mut svc, req).await.unwrap();
    // Counted at `call`, before a byte of the body is read.
    assert_eq!(handle.buffered_bytes(), expected_head);

    let mut body = capture.take().into_body();
    tx.send(data(300, b'b')).unwrap();
    assert_eq!(read_data(&mut body).await, 300);
    assert_eq!(handle.buffered_bytes(), expected_head + 300);
    drop(tx);
    assert!(body.frame().await.is_none());
    let_tasks_run().await;

    // Held by the hung shadow: its head, exactly as counted, and its body.
    let copy = rec.only();
    assert_eq!(head_cost(&copy.parts), expected_head);
    assert_eq!(handle.buffered_bytes(), expected_head + 300);
    assert_eq!(handle.in_flight(), 1);

    idle(&handle).await;
    assert_eq!(handle.stats().timed_out, 1);
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn a_head_over_the_budget_is_dropped_before_it_is_cloned() {
    let rec = Recorder::new();
    let events = Events::new();
    let heads_made = Arc::new(AtomicUsize::new(0));
    let req = || {
        Request::get("/big")
            .header("x-big", "h".repeat(4096))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let cost = head_cost(&req().into_parts().0);
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_buffered_bytes(cost - 1)
        .map_request({
            let heads_made = heads_made.clone();
            move |_| {
                heads_made.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..3 {
        send(&mut svc, req()).await.unwrap();
    }
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.dropped_bytes, stats.mirrored), (3, 0), "{stats:?}");
    assert_eq!(events.decisions(), vec![Ev::Dropped; 3]);
    assert!(rec.is_empty());
    assert_eq!(
        heads_made.load(Ordering::SeqCst),
        0,
        "no copy's head was made for a dropped copy"
    );
    assert_idle(&handle);

    // One byte more and the same request fits.
    let layer = MirrorLayer::new(recording_shadow(&rec)).max_buffered_bytes(cost);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, req()).await.unwrap();
    idle(&handle).await;
    assert_eq!(handle.stats().completed, 1);
    assert_eq!(rec.only().header("x-big").map(str::len), Some(4096));
    assert_idle(&handle);
}

/// The request's head without its body, for computing what the copy's head costs.
trait CloneParts {
    fn clone_parts(&self) -> Parts;
}

impl<B> CloneParts for Request<B> {
    fn clone_parts(&self) -> Parts {
        let mut parts = Request::new(()).into_parts().0;
        parts.method = self.method().clone();
        parts.uri = self.uri().clone();
        parts.version = self.version();
        parts.headers = self.headers().clone();
        parts
    }
}
