//! Runtime control: the sampling share and the pause switch change while the layer runs,
//! through any handle, and every clone of the layer and its services follows on its next
//! request; a paused mirror sends nothing and counts `skipped_paused`.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use support::*;
use tokio::sync::Barrier;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer};
use tower_mirror::{MirrorHandle, MirrorLayer};

fn with_id(path: &str, id: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("x-request-id", id)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

type Primary = BoxCloneSyncService<Request<Full<Bytes>>, Response<Full<Bytes>>, BoxError>;

/// A mirrored stack as one concrete type, so that tasks can own clones of it.
fn boxed_primary(svc: tower_mirror::Mirror<Echo, Shadow>) -> Primary {
    BoxCloneSyncService::new(svc)
}

/// FNV-1a 64 written out, so the test checks the documented rule, not the crate's code.
fn header_decision(value: &str, percent: f64) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in value.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % 1_000_000 < (percent * 10_000.0).round() as u64
}

#[tokio::test(start_paused = true)]
async fn pause_sends_nothing_and_counts_skipped_paused() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    handle.pause();
    assert!(handle.is_paused());
    for _ in 0..5 {
        send(&mut svc, post("/", "body")).await.unwrap();
    }
    idle(&handle).await;
    assert!(rec.is_empty(), "a paused mirror sends nothing");
    let s = handle.stats();
    assert_eq!((s.seen, s.skipped_paused, s.mirrored), (5, 5, 0), "{s:?}");
    assert_eq!(s.skipped_sampling, 0, "paused, not unsampled");
    assert_eq!(events.decisions().len(), 5, "one decision event each");
    assert!(events.outcomes().is_empty());

    handle.resume();
    assert!(!handle.is_paused());
    send(&mut svc, post("/", "body")).await.unwrap();
    idle(&handle).await;
    assert_eq!(rec.len(), 1, "resumed");
    assert_invariants(&handle.stats());
}

#[tokio::test(start_paused = true)]
async fn the_event_names_the_pause() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let layer = MirrorLayer::new(recording_shadow(&Recorder::new())).on_event(move |e| {
        if let tower_mirror::MirrorEvent::Skipped { reason } = e {
            log.lock().unwrap().push(*reason);
        }
    });
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    handle.pause();
    send(&mut svc, get("/")).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [tower_mirror::SkipReason::Paused]);
    assert_eq!(tower_mirror::SkipReason::Paused.to_string(), "paused");
}

#[tokio::test(start_paused = true)]
async fn paused_wins_over_sampling_and_shutdown_wins_over_paused() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).sample_percent(0.0);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    handle.pause();
    send(&mut svc, get("/")).await.unwrap();
    assert_eq!(handle.stats().skipped_paused, 1);
    assert_eq!(handle.stats().skipped_sampling, 0);

    handle.shutdown(std::time::Duration::from_secs(1)).await;
    send(&mut svc, get("/")).await.unwrap();
    let s = handle.stats();
    assert_eq!((s.skipped_shutdown, s.skipped_paused), (1, 1), "{s:?}");
    assert_invariants(&s);
}

#[tokio::test(start_paused = true)]
async fn every_clone_and_service_follows_the_change() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).sample_percent(0.0);
    // Services built before the change, from the layer and from a clone of it, and a
    // clone of a service: as axum and Tower make them.
    let svc_a = layer.layer(Echo::new());
    let mut svc_b = layer.clone().layer(Echo::new());
    let mut svc_a2 = svc_a.clone();
    // A handle from a service, another from the layer.
    let from_service: MirrorHandle = svc_a.handle();
    let from_layer = layer.handle();

    send(&mut svc_a2, get("/")).await.unwrap();
    send(&mut svc_b, get("/")).await.unwrap();
    idle(&from_layer).await;
    assert!(rec.is_empty());

    from_service.set_sample_percent(100.0);
    assert_eq!(
        from_layer.sample_percent(),
        100.0,
        "one share for all handles"
    );
    send(&mut svc_a2, get("/")).await.unwrap();
    send(&mut svc_b, get("/")).await.unwrap();
    idle(&from_layer).await;
    assert_eq!(rec.len(), 2, "both services saw the new share");

    from_layer.pause();
    assert!(from_service.is_paused());
    send(&mut svc_a2, get("/")).await.unwrap();
    send(&mut svc_b, get("/")).await.unwrap();
    idle(&from_layer).await;
    assert_eq!(rec.len(), 2, "both services saw the pause");
    assert_eq!(from_layer.stats().skipped_paused, 2);
    assert_invariants(&from_layer.stats());
}

#[tokio::test(start_paused = true)]
async fn the_build_time_share_is_the_live_one() {
    let layer = MirrorLayer::new(recording_shadow(&Recorder::new())).sample_percent(12.5);
    let handle = layer.handle();
    assert_eq!(handle.sample_percent(), 12.5);
    // Set on the layer after the handle was taken: the handle reads it.
    let layer = layer.sample_percent(40.0);
    assert_eq!(handle.sample_percent(), 40.0);
    handle.set_sample_percent(0.0001);
    assert_eq!(layer.handle().sample_percent(), 0.0001);
}

#[test]
fn a_bad_share_panics_and_leaves_the_old_one() {
    let handle = MirrorLayer::new(recording_shadow(&Recorder::new()))
        .sample_percent(25.0)
        .handle();
    handle.pause();
    for bad in [f64::NAN, -0.5, 100.5, f64::INFINITY, f64::NEG_INFINITY] {
        let result = catch_unwind(AssertUnwindSafe(|| handle.set_sample_percent(bad)));
        let message = result.expect_err("a bad share panics");
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(message.contains("set_sample_percent"), "{message}");
        assert_eq!(handle.sample_percent(), 25.0, "after {bad}");
        assert!(handle.is_paused(), "the pause is kept after {bad}");

        let error = handle.try_set_sample_percent(bad).unwrap_err();
        assert!(error.to_string().contains("0.0..=100.0"), "{error}");
        assert_eq!(handle.sample_percent(), 25.0);
    }
    handle.try_set_sample_percent(60.0).unwrap();
    assert_eq!(handle.sample_percent(), 60.0);
    assert!(handle.is_paused(), "a new share does not resume");
}

#[tokio::test]
async fn by_header_the_same_rule_after_a_change() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(10.0)
        .sample_by_header("x-request-id");
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let ids: Vec<String> = (0..300).map(|i| format!("rid-{i}")).collect();
    let mut chosen = Vec::new();
    for percent in [10.0, 35.0, 80.0] {
        handle.set_sample_percent(percent);
        let before = rec.len();
        for (i, id) in ids.iter().enumerate() {
            send(&mut svc, with_id(&format!("/{i}"), id)).await.unwrap();
        }
        idle(&handle).await;
        let got: BTreeSet<usize> = rec.all()[before..]
            .iter()
            .map(|c| c.parts.uri.path()[1..].parse().unwrap())
            .collect();
        let expected: BTreeSet<usize> = (0..ids.len())
            .filter(|&i| header_decision(&ids[i], percent))
            .collect();
        assert_eq!(got, expected, "at {percent} %");
        chosen.push(got);
    }
    assert!(
        chosen[0].is_subset(&chosen[1]) && chosen[1].is_subset(&chosen[2]),
        "turning up keeps the ids already chosen"
    );
    assert!(chosen[0].len() < chosen[1].len() && chosen[1].len() < chosen[2].len());
}

/// 32 tasks send in rounds; between rounds the share changes or the mirror pauses. Every
/// round's copies are exactly what the share at that round asks for (0, 100, paused) or
/// close to it (random at 20 %, seeded).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_concurrency_the_shadow_count_follows_the_share() {
    const TASKS: usize = 32;
    const PER_TASK: usize = 40;
    const ROUND: u64 = (TASKS * PER_TASK) as u64;
    const STEPS: usize = 6;
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(0.0)
        .max_in_flight(100_000)
        .seed(11);
    let handle = layer.handle();
    let svc = boxed_primary(layer.layer(Echo::new()));

    // (what to do before the round, copies expected: exact, or a range)
    enum Step {
        Percent(f64),
        Pause,
        Resume,
    }
    let steps: [(Step, std::ops::RangeInclusive<u64>); STEPS] = [
        (Step::Percent(0.0), 0..=0),
        (Step::Percent(100.0), ROUND..=ROUND),
        (Step::Pause, 0..=0),
        (Step::Resume, ROUND..=ROUND),
        // mean 256, sigma ~14.3: 5 sigma.
        (Step::Percent(20.0), 184..=328),
        (Step::Percent(0.0), 0..=0),
    ];
    let start = Arc::new(Barrier::new(TASKS + 1));
    let done = Arc::new(Barrier::new(TASKS + 1));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let mut svc = svc.clone();
        let (start, done) = (Arc::clone(&start), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            for _ in 0..STEPS {
                start.wait().await;
                for i in 0..PER_TASK {
                    let response = send(&mut svc, get(&format!("/{t}/{i}"))).await;
                    assert_eq!(response.expect("no client error").status(), 201);
                }
                done.wait().await;
            }
        }));
    }

    let mut before = handle.stats();
    for (step, expected) in steps {
        match step {
            Step::Percent(p) => handle.set_sample_percent(p),
            Step::Pause => handle.pause(),
            Step::Resume => handle.resume(),
        }
        start.wait().await;
        done.wait().await;
        idle(&handle).await;
        let now = handle.stats();
        let copies = now.mirrored - before.mirrored;
        assert!(
            expected.contains(&copies),
            "{copies} copies, expected {expected:?} (share {}, paused {})",
            handle.sample_percent(),
            handle.is_paused()
        );
        assert_eq!(now.seen - before.seen, ROUND);
        assert_eq!(rec.len() as u64, now.mirrored, "the shadow got every copy");
        before = now;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let s = handle.stats();
    assert_eq!(s.skipped_paused, ROUND);
    assert_eq!(s.dropped_overload, 0);
    assert_invariants(&s);
}

/// The share flips while 32 tasks send: nothing is lost or counted twice, every request
/// is either mirrored or skipped for one reason, and the shadow got every copy counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flipping_while_requests_flow_keeps_the_books() {
    const TASKS: usize = 32;
    const PER_TASK: usize = 100;
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).max_in_flight(100_000);
    let handle = layer.handle();
    let svc = boxed_primary(layer.layer(Echo::new()));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let response = send(&mut svc, get(&format!("/{t}/{i}"))).await;
                assert_eq!(response.expect("no client error").status(), 201);
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    let control = {
        let handle = handle.clone();
        tokio::spawn(async move {
            for round in 0..200u32 {
                match round % 4 {
                    0 => handle.set_sample_percent(0.0),
                    1 => handle.set_sample_percent(100.0),
                    2 => handle.pause(),
                    _ => handle.resume(),
                }
                tokio::task::yield_now().await;
            }
            handle.resume();
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    control.await.unwrap();
    idle(&handle).await;
    let s = handle.stats();
    assert_eq!(s.seen, (TASKS * PER_TASK) as u64);
    assert_eq!(rec.len() as u64, s.mirrored);
    assert_invariants(&s);
    assert_eq!(handle.in_flight(), 0);
}
