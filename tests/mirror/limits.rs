//! Guarantee 7: bounded tasks and memory. Over `max_in_flight` or `max_buffered_bytes` a copy is
//! dropped and counted, never queued; the circuit breaker stops copies to a failing shadow.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

fn body_of(n: usize) -> Request<Full<Bytes>> {
    Request::post("/")
        .body(Full::new(Bytes::from(vec![b'x'; n])))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn max_in_flight_drops_copies_over_the_limit() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_in_flight(2)
        .timeout(Duration::from_millis(200))
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..10 {
        send(&mut svc, get("/")).await.unwrap();
        assert!(handle.in_flight() <= 2, "in_flight {}", handle.in_flight());
    }
    let_tasks_run().await;
    assert_eq!(handle.in_flight(), 2);
    assert_eq!(rec.len(), 2, "only two copies reached the shadow");
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.dropped_overload),
        (2, 8),
        "{stats:?}"
    );
    assert_eq!(events.count(|e| *e == Ev::Dispatched), 2);
    assert_eq!(events.count(|e| *e == Ev::Dropped), 8);

    idle(&handle).await;
    assert_eq!(handle.stats().timed_out, 2);
    assert_idle(&handle);

    // Slots are given back: the next copy goes through.
    send(&mut svc, get("/")).await.unwrap();
    let_tasks_run().await;
    assert_eq!(rec.len(), 3);
    assert_eq!(handle.stats().mirrored, 3);
    idle(&handle).await;
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn max_buffered_bytes_drops_copies_and_is_never_exceeded() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_buffered_bytes(1000)
        .timeout(Duration::from_millis(200));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..10 {
        send(&mut svc, body_of(300)).await.unwrap();
        assert!(
            handle.buffered_bytes() <= 1000,
            "buffered {}",
            handle.buffered_bytes()
        );
        let_tasks_run().await;
        assert!(
            handle.buffered_bytes() <= 1000,
            "buffered {}",
            handle.buffered_bytes()
        );
    }
    // Held by the hung shadow calls: three copies (300 bytes and a 1-byte head, the URI
    // `/`) fit, the rest were dropped.
    assert_eq!(handle.buffered_bytes(), 3 * (300 + 1));
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.dropped_overload),
        (3, 7),
        "{stats:?}"
    );
    assert_eq!(rec.len(), 3);

    idle(&handle).await;
    assert_eq!(handle.stats().timed_out, 3);
    assert_idle(&handle);

    send(&mut svc, body_of(300)).await.unwrap();
    let_tasks_run().await;
    assert_eq!(
        handle.stats().mirrored,
        4,
        "budget given back after the calls ended"
    );
    idle(&handle).await;
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn streamed_copy_that_would_exceed_the_budget_is_dropped() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_buffered_bytes(250)
        .on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/").body(body).unwrap())
        .await
        .unwrap();
    let mut body = capture.take().into_body();
    for _ in 0..5 {
        tx.send(data(100, b'q')).unwrap();
        assert_eq!(
            read_data(&mut body).await,
            100,
            "the primary reads every byte"
        );
        assert!(
            handle.buffered_bytes() <= 250,
            "buffered {}",
            handle.buffered_bytes()
        );
    }
    drop(tx);
    assert!(http_body_util::BodyExt::frame(&mut body).await.is_none());
    idle(&handle).await;
    assert!(rec.is_empty());
    let stats = handle.stats();
    assert_eq!(
        (stats.dropped_overload, stats.mirrored),
        (1, 0),
        "{stats:?}"
    );
    assert_eq!(events.decisions(), vec![Ev::Dropped]);
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn memory_and_tasks_stay_flat_under_a_hung_shadow_at_full_load() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_in_flight(16)
        .max_buffered_bytes(64 << 10)
        .timeout(Duration::from_secs(30));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for i in 0..500 {
        send(&mut svc, body_of(1024)).await.unwrap();
        if i % 10 == 0 {
            let_tasks_run().await;
        }
        assert!(handle.in_flight() <= 16);
        assert!(
            handle.buffered_bytes() <= 16 * (1024 + 1),
            "16 copies, body and head"
        );
    }
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.dropped_overload),
        (16, 484),
        "{stats:?}"
    );
    idle(&handle).await;
    assert_eq!(handle.stats().timed_out, 16);
    assert_idle(&handle);
}

/// A shadow that fails or succeeds on demand.
fn switchable_shadow(rec: &Recorder, fail: Arc<AtomicBool>) -> Shadow {
    shadow_with(rec, move |_| {
        let fail = fail.load(Ordering::SeqCst);
        async move {
            if fail {
                Err("down".into())
            } else {
                Ok(respond(200))
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_opens_after_failures_in_a_row() {
    let rec = Recorder::new();
    let fail = Arc::new(AtomicBool::new(true));
    let events = Events::new();
    let layer = MirrorLayer::new(switchable_shadow(&rec, fail.clone()))
        .circuit_breaker(3, Duration::from_secs(10))
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..3 {
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(rec.len(), 3);
    assert_eq!(handle.stats().failed, 3);

    for _ in 0..5 {
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(rec.len(), 3, "open breaker: nothing sent to the shadow");
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.dropped_overload),
        (3, 5),
        "{stats:?}"
    );
    assert_eq!(events.count(|e| *e == Ev::Dropped), 5);
    assert_idle(&handle);

    // After the longest back-off a probe goes out; it succeeds and the breaker closes.
    fail.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(11)).await;
    send(&mut svc, get("/")).await.unwrap();
    idle(&handle).await;
    assert_eq!(rec.len(), 4, "probe after the back-off");
    assert_eq!(handle.stats().completed, 1);
    for _ in 0..3 {
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(rec.len(), 7, "closed again");
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.dropped_overload),
        (4, 5),
        "{stats:?}"
    );
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_counts_failures_in_a_row_only() {
    let rec = Recorder::new();
    let fail = Arc::new(AtomicBool::new(true));
    let layer = MirrorLayer::new(switchable_shadow(&rec, fail.clone()))
        .circuit_breaker(3, Duration::from_secs(10));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for failing in [true, true, false, true, true, false, true, true] {
        fail.store(failing, Ordering::SeqCst);
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(rec.len(), 8, "never three failures in a row");
    assert_eq!(handle.stats().dropped_overload, 0);
}

#[tokio::test(start_paused = true)]
async fn no_circuit_breaker_by_default() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(failing_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for _ in 0..20 {
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(rec.len(), 20);
    let stats = handle.stats();
    assert_eq!((stats.failed, stats.dropped_overload), (20, 0));
}

/// After calls that took 80 ms, a limit of 8 in flight admits one copy per 10 ms (with a
/// burst of one early): slots freed together are taken again spread out.
#[tokio::test(start_paused = true)]
async fn copies_after_answered_calls_are_paced_at_the_limit_per_call_duration() {
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |_| async {
        tokio::time::sleep(Duration::from_millis(80)).await;
        Ok(respond(200))
    });
    let layer = MirrorLayer::new(shadow).max_in_flight(8);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    // Nothing known yet: the first eight all go.
    for _ in 0..8 {
        send(&mut svc, get("/")).await.unwrap();
    }
    idle(&handle).await;
    assert_eq!(handle.stats().completed, 8);

    // All eight slots are free, but only the due copy and one early one go at once.
    for _ in 0..8 {
        send(&mut svc, get("/")).await.unwrap();
    }
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.dropped_in_flight),
        (10, 6),
        "{stats:?}"
    );
    // Then one per 10 ms.
    tokio::time::advance(Duration::from_millis(10)).await;
    send(&mut svc, get("/")).await.unwrap();
    send(&mut svc, get("/")).await.unwrap();
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.dropped_in_flight),
        (11, 7),
        "{stats:?}"
    );
    idle(&handle).await;
    assert_eq!(rec.len(), 11);
}

/// With pacing off, freed slots are taken again at once: a second burst after answered
/// calls is copied whole while slots are free.
#[tokio::test(start_paused = true)]
async fn without_pacing_a_burst_takes_every_free_slot() {
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |_| async {
        tokio::time::sleep(Duration::from_millis(80)).await;
        Ok(respond(200))
    });
    let layer = MirrorLayer::new(shadow).max_in_flight(8).pacing(false);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..8 {
        send(&mut svc, get("/")).await.unwrap();
    }
    idle(&handle).await;
    for _ in 0..9 {
        send(&mut svc, get("/")).await.unwrap();
    }
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.dropped_in_flight),
        (16, 1),
        "the ninth finds every slot taken: {stats:?}"
    );
    idle(&handle).await;
    assert_eq!(rec.len(), 16);
}
