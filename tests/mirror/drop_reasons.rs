//! Drop reasons (guarantee 7): a copy dropped to protect the process says which limit it
//! hit, in its event (`MirrorEvent::Dropped { reason }`) and in its counter
//! (`dropped_in_flight`, `dropped_bytes`, `dropped_breaker`); `dropped_overload` stays their
//! sum. Each limit is asked both when the request arrives and when its copy is ready to go.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use support::*;
use tower::Layer;
use tower_mirror::{DropReason, MirrorEvent, MirrorLayer, MirrorStats};

/// The decision events, with their reasons (the common log keeps only their kind).
#[derive(Clone, Default)]
struct Decisions(Arc<Mutex<Vec<MirrorEvent>>>);

impl Decisions {
    fn hook(&self) -> impl Fn(&MirrorEvent) + Clone + Send + Sync + 'static {
        let log = Arc::clone(&self.0);
        move |e: &MirrorEvent| {
            if matches!(
                e,
                MirrorEvent::Skipped { .. } | MirrorEvent::Dropped { .. } | MirrorEvent::Dispatched
            ) {
                log.lock().unwrap().push(e.clone());
            }
        }
    }

    fn all(&self) -> Vec<MirrorEvent> {
        self.0.lock().unwrap().clone()
    }

    fn dropped(&self) -> Vec<DropReason> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                MirrorEvent::Dropped { reason } => Some(reason),
                _ => None,
            })
            .collect()
    }
}

fn dropped(reason: DropReason) -> MirrorEvent {
    MirrorEvent::Dropped { reason }
}

/// The drop counters, in the order (in flight, bytes, breaker, overload).
fn drops(s: &MirrorStats) -> (u64, u64, u64, u64) {
    (
        s.dropped_in_flight,
        s.dropped_bytes,
        s.dropped_breaker,
        s.dropped_overload,
    )
}

/// `dropped_overload` is the sum of the three reasons, and the usual invariants hold.
fn assert_drop_invariants(s: &MirrorStats) {
    assert_eq!(
        s.dropped_overload,
        s.dropped_in_flight + s.dropped_bytes + s.dropped_breaker,
        "dropped_overload == dropped_in_flight + dropped_bytes + dropped_breaker: {s:?}"
    );
    assert_invariants(s);
}

fn post(n: usize) -> Request<Full<Bytes>> {
    Request::post("/")
        .body(Full::new(Bytes::from(vec![b'x'; n])))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_full_in_flight_limit_drops_at_call_with_reason_in_flight() {
    let rec = Recorder::new();
    let decisions = Decisions::default();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_in_flight(2)
        .timeout(Duration::from_secs(1))
        .on_event(decisions.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..6 {
        send(&mut svc, get("/")).await.unwrap();
    }
    assert_eq!(
        decisions.dropped(),
        [DropReason::InFlight; 4],
        "{:?}",
        decisions.all()
    );
    let stats = handle.stats();
    assert_eq!(drops(&stats), (4, 0, 0, 4), "{stats:?}");
    assert_eq!(stats.mirrored, 2);

    idle(&handle).await;
    assert_drop_invariants(&handle.stats());
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn a_slot_taken_while_the_body_streams_drops_at_dispatch_with_reason_in_flight() {
    let rec = Recorder::new();
    let decisions = Decisions::default();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_in_flight(1)
        .timeout(Duration::from_secs(1))
        .on_event(decisions.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    // Planned while the slot is free: its body is still to come.
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/streamed").body(body).unwrap())
        .await
        .unwrap();
    let mut streamed = capture.take().into_body();
    // An empty body goes at once and takes the only slot (another service of the same
    // layer: one budget).
    send(&mut layer.layer(Echo::new()), get("/empty"))
        .await
        .unwrap();
    assert_eq!(handle.in_flight(), 1);

    tx.send(data(10, b'a')).unwrap();
    assert_eq!(read_data(&mut streamed).await, 10);
    drop(tx);
    assert!(streamed.frame().await.is_none(), "the primary read it all");

    assert_eq!(
        decisions.all(),
        [MirrorEvent::Dispatched, dropped(DropReason::InFlight)]
    );
    let stats = handle.stats();
    assert_eq!(drops(&stats), (1, 0, 0, 1), "{stats:?}");
    let_tasks_run().await;
    assert_eq!(rec.len(), 1, "only the empty body's copy was sent");

    idle(&handle).await;
    assert_drop_invariants(&handle.stats());
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn a_full_byte_budget_drops_with_reason_bytes() {
    let rec = Recorder::new();
    let decisions = Decisions::default();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_buffered_bytes(1000)
        .timeout(Duration::from_secs(1))
        .on_event(decisions.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..5 {
        send(&mut svc, post(300)).await.unwrap();
    }
    // Three copies of 300 bytes (and a 1-byte head, the URI `/`) are held by the hung
    // shadow; the next two do not fit.
    assert_eq!(handle.buffered_bytes(), 3 * (300 + 1));
    assert_eq!(decisions.dropped(), [DropReason::Bytes; 2]);
    let stats = handle.stats();
    assert_eq!(drops(&stats), (0, 2, 0, 2), "{stats:?}");
    assert_eq!(stats.mirrored, 3);

    idle(&handle).await;
    assert_drop_invariants(&handle.stats());
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_drops_at_call_with_reason_circuit_open() {
    let rec = Recorder::new();
    let decisions = Decisions::default();
    let layer = MirrorLayer::new(failing_shadow(&rec))
        .circuit_breaker(2, Duration::from_secs(10))
        .on_event(decisions.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    for _ in 0..5 {
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(rec.len(), 2, "two failures open the breaker");
    assert_eq!(decisions.dropped(), [DropReason::CircuitOpen; 3]);
    let stats = handle.stats();
    assert_eq!(drops(&stats), (0, 0, 3, 3), "{stats:?}");
    assert_eq!(stats.failed, 2);
    assert_drop_invariants(&stats);
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_that_opens_while_the_body_streams_drops_at_dispatch_with_reason_circuit_open() {
    let rec = Recorder::new();
    let decisions = Decisions::default();
    let layer = MirrorLayer::new(failing_shadow(&rec))
        .circuit_breaker(1, Duration::from_secs(10))
        .on_event(decisions.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    // Planned while the breaker is closed.
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/streamed").body(body).unwrap())
        .await
        .unwrap();
    let mut streamed = capture.take().into_body();
    // This copy fails and opens the breaker (another service of the same layer: one
    // breaker).
    send(&mut layer.layer(Echo::new()), get("/fails"))
        .await
        .unwrap();
    let_tasks_run().await;
    assert_eq!(handle.stats().failed, 1);

    tx.send(data(10, b'b')).unwrap();
    assert_eq!(read_data(&mut streamed).await, 10);
    drop(tx);
    assert!(streamed.frame().await.is_none());

    assert_eq!(
        decisions.all(),
        [MirrorEvent::Dispatched, dropped(DropReason::CircuitOpen)]
    );
    let stats = handle.stats();
    assert_eq!(drops(&stats), (0, 0, 1, 1), "{stats:?}");
    assert_eq!(rec.len(), 1);

    idle(&handle).await;
    assert_drop_invariants(&handle.stats());
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn each_limit_counts_under_its_own_reason_and_overload_is_their_sum() {
    let rec = Recorder::new();
    let decisions = Decisions::default();
    // Fails at once on `/fail`, hangs on anything else.
    let shadow = shadow_with(&rec, |copy| {
        let fail = copy.parts.uri.path() == "/fail";
        async move {
            if fail {
                Err("down".into())
            } else {
                std::future::pending().await
            }
        }
    });
    let layer = MirrorLayer::new(shadow)
        .max_in_flight(1)
        .max_buffered_bytes(100)
        .circuit_breaker(1, Duration::from_secs(10))
        .timeout(Duration::from_secs(1))
        .on_event(decisions.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    // Too large for the byte budget.
    send(&mut svc, post(200)).await.unwrap();
    // Fails, which opens the breaker...
    send(&mut svc, get("/fail")).await.unwrap();
    idle(&handle).await;
    // ...so the next copy is refused.
    send(&mut svc, get("/refused")).await.unwrap();
    // After the first back-off (1 s) one probe goes; it hangs and holds the only slot.
    tokio::time::advance(Duration::from_secs(2)).await;
    send(&mut svc, get("/probe")).await.unwrap();
    send(&mut svc, get("/no-slot")).await.unwrap();

    assert_eq!(
        decisions.all(),
        [
            dropped(DropReason::Bytes),
            MirrorEvent::Dispatched,
            dropped(DropReason::CircuitOpen),
            MirrorEvent::Dispatched,
            dropped(DropReason::InFlight),
        ]
    );
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(drops(&stats), (1, 1, 1, 3), "{stats:?}");
    assert_eq!(
        (stats.seen, stats.mirrored, stats.failed, stats.timed_out),
        (5, 2, 1, 1),
        "{stats:?}"
    );
    assert_drop_invariants(&stats);
    assert_idle(&handle);
}

#[test]
fn a_reason_displays_as_the_suffix_of_its_counter() {
    let stats = MirrorStats::default();
    let counters = [
        (
            DropReason::InFlight,
            "dropped_in_flight",
            stats.dropped_in_flight,
        ),
        (DropReason::Bytes, "dropped_bytes", stats.dropped_bytes),
        (
            DropReason::CircuitOpen,
            "dropped_breaker",
            stats.dropped_breaker,
        ),
    ];
    for (reason, counter, _) in counters {
        assert_eq!(format!("dropped_{reason}"), counter);
    }
    // Re-exported at the crate root, beside `SkipReason`.
    let _: tower_mirror::DropReason = tower_mirror::mirror::DropReason::Bytes;
}
