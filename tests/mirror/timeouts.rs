//! Guarantee 8: every shadow call ends within `timeout` (readiness + call + draining the response
//! body, together), and a normal response body is drained.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::Response;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use support::*;
use tokio::time::Instant;
use tower::{BoxError, Layer};
use tower_mirror::{MirrorHandle, MirrorLayer};

const TIMEOUT: Duration = Duration::from_millis(300);

/// Sends one empty-bodied request (dispatched at once) and waits for the copy; returns the
/// time the copy took, the handle and the events.
async fn one_copy(shadow: Shadow) -> (Duration, MirrorHandle, Events) {
    let events = Events::new();
    let layer = MirrorLayer::new(shadow)
        .timeout(TIMEOUT)
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let start = Instant::now();
    send(&mut svc, get("/")).await.unwrap();
    idle(&handle).await;
    let took = start.elapsed();
    assert_idle(&handle);
    assert_eq!(handle.stats().mirrored, 1);
    (took, handle, events)
}

fn assert_timed_out(took: Duration, handle: &MirrorHandle, events: &Events) {
    assert!(
        took >= TIMEOUT && took < TIMEOUT + Duration::from_millis(100),
        "the copy ended after {took:?}, timeout {TIMEOUT:?}"
    );
    let stats = handle.stats();
    assert_eq!(
        (stats.timed_out, stats.completed, stats.failed),
        (1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(events.outcomes(), vec![Ev::TimedOut]);
}

#[tokio::test(start_paused = true)]
async fn shadow_never_ready_times_out() {
    let shadow = NeverReadyShadow::default();
    let calls = shadow.calls.clone();
    let (took, handle, events) = one_copy(boxed(shadow)).await;
    assert_timed_out(took, &handle, &events);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn hung_call_times_out() {
    let rec = Recorder::new();
    let (took, handle, events) = one_copy(hung_shadow(&rec)).await;
    assert_timed_out(took, &handle, &events);
    assert_eq!(rec.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn response_body_that_never_ends_times_out() {
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |_| async {
        let first = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(
            Bytes::from_static(b"partial"),
        ))]);
        let body = StreamBody::new(futures_util::StreamExt::chain(
            first,
            futures_util::stream::pending(),
        ));
        Ok(Response::new(body.boxed_unsync()))
    });
    let (took, handle, events) = one_copy(shadow).await;
    assert_timed_out(took, &handle, &events);
}

#[tokio::test(start_paused = true)]
async fn timeout_covers_call_and_body_together() {
    // 200 ms to answer + 200 ms to finish the body: each under the 300 ms timeout, the sum over.
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |_| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let late = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"late")))
        });
        Ok(Response::new(StreamBody::new(late).boxed_unsync()))
    });
    let (took, handle, events) = one_copy(shadow).await;
    assert_timed_out(took, &handle, &events);
}

#[tokio::test(start_paused = true)]
async fn slow_but_in_time_shadow_completes() {
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |_| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let late = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"late")))
        });
        Ok(Response::new(StreamBody::new(late).boxed_unsync()))
    });
    let (took, handle, events) = one_copy(shadow).await;
    assert!(
        took >= Duration::from_millis(200),
        "took {took:?}: body not drained?"
    );
    assert_eq!(handle.stats().completed, 1);
    match &events.outcomes()[..] {
        [Ev::Completed(status, latency)] => {
            assert_eq!(*status, http::StatusCode::OK);
            assert!(
                *latency >= Duration::from_millis(100),
                "latency {latency:?}"
            );
        }
        other => panic!("expected one Completed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn response_body_is_drained() {
    let rec = Recorder::new();
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    let shadow = shadow_with(&rec, move |_| {
        let body = CountingBody::new(&["a", "bb", "ccc", "dddd"], counter.clone());
        async move { Ok(Response::new(body.boxed_unsync())) }
    });
    let (_, handle, _) = one_copy(shadow).await;
    assert_eq!(
        polled.load(Ordering::SeqCst),
        4,
        "every frame of the reply was read"
    );
    assert_eq!(handle.stats().completed, 1);
}

/// Sends `n` requests to a hung shadow at one instant; returns when each copy timed out,
/// after the start, in order.
async fn hung_copies_end(n: usize, spread: Option<f64>) -> Vec<Duration> {
    let rec = Recorder::new();
    let start = Instant::now();
    let ends = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = {
        let ends = Arc::clone(&ends);
        move |event: &tower_mirror::MirrorEvent| {
            if matches!(event, tower_mirror::MirrorEvent::TimedOut) {
                ends.lock().unwrap().push(start.elapsed());
            }
        }
    };
    let mut layer = MirrorLayer::new(hung_shadow(&rec))
        .timeout(TIMEOUT)
        .on_event(hook);
    if let Some(spread) = spread {
        layer = layer.timeout_spread(spread);
    }
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for _ in 0..n {
        send(&mut svc, get("/")).await.unwrap();
    }
    idle(&handle).await;
    assert_eq!(handle.stats().timed_out, n as u64);
    assert_eq!(rec.len(), n);
    let mut ends = ends.lock().unwrap().clone();
    ends.sort();
    ends
}

#[tokio::test(start_paused = true)]
async fn copies_sent_together_time_out_spread_over_the_last_half_of_the_timeout() {
    let ends = hung_copies_end(200, None).await;
    // Still guarantee 8: none later than the timeout (plus the paused clock's tick).
    let last = *ends.last().unwrap();
    assert!(last <= TIMEOUT + Duration::from_millis(1), "{last:?}");
    let first = ends[0];
    assert!(first >= TIMEOUT / 2, "{first:?}");
    // Spread, not in one instant: every tenth of the last half holds some.
    let tenth = TIMEOUT / 20;
    for i in 0..10 {
        let from = TIMEOUT / 2 + tenth * i;
        let n = ends
            .iter()
            .filter(|t| **t >= from && **t < from + tenth)
            .count();
        assert!(
            (10..=30).contains(&n),
            "{n} copies ended in tenth {i}: {ends:?}"
        );
    }
    // The same every run.
    assert_eq!(ends, hung_copies_end(200, None).await);
}

#[tokio::test(start_paused = true)]
async fn without_spread_copies_sent_together_time_out_together() {
    let ends = hung_copies_end(50, Some(0.0)).await;
    assert!(
        ends.iter()
            .all(|t| *t >= TIMEOUT && *t <= TIMEOUT + Duration::from_millis(1)),
        "{ends:?}"
    );
}
