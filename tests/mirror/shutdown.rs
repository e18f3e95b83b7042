//! `MirrorHandle::shutdown(deadline)`: stops new copies, waits for in-flight ones, cuts those
//! still running at the deadline (counted `timed_out`) and returns how many were cut.

use std::time::Duration;

use support::*;
use tokio::time::Instant;
use tower::Layer;
use tower_mirror::MirrorLayer;

#[tokio::test(start_paused = true)]
async fn requests_after_shutdown_are_skipped() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).on_event(events.hook());
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    assert_eq!(handle.shutdown(Duration::from_secs(1)).await, 0);
    for _ in 0..3 {
        let res = send(&mut svc, post("/", "after")).await.unwrap();
        assert_eq!(
            res.status(),
            http::StatusCode::CREATED,
            "the primary still serves"
        );
    }
    idle(&handle).await;
    assert!(rec.is_empty());
    let stats = handle.stats();
    assert_eq!(
        (stats.seen, stats.skipped_shutdown, stats.mirrored),
        (3, 3, 0)
    );
    assert_eq!(events.decisions(), vec![Ev::Skipped(Skip::Shutdown); 3]);
    assert_eq!(echo.seen.lock().unwrap().len(), 3);
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_in_flight_copies() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(sleeping_shadow(&rec, Duration::from_millis(500)))
        .timeout(Duration::from_secs(10));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for _ in 0..3 {
        send(&mut svc, get("/")).await.unwrap();
    }
    let start = Instant::now();
    let abandoned = handle.shutdown(Duration::from_secs(5)).await;
    let took = start.elapsed();
    assert_eq!(abandoned, 0);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "shutdown took {took:?}"
    );
    let stats = handle.stats();
    assert_eq!(
        stats.completed, 3,
        "finished before shutdown returned: {stats:?}"
    );
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn requests_during_shutdown_are_skipped() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(sleeping_shadow(&rec, Duration::from_secs(1)))
        .timeout(Duration::from_secs(10));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, get("/before")).await.unwrap();
    let (abandoned, ()) = tokio::join!(handle.shutdown(Duration::from_secs(5)), async {
        let_tasks_run().await;
        assert_eq!(handle.in_flight(), 1, "shutdown is still waiting");
        send(&mut svc, get("/during")).await.unwrap();
    });
    assert_eq!(abandoned, 0);
    assert_eq!(rec.only().parts.uri.path(), "/before");
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.skipped_shutdown),
        (1, 1),
        "{stats:?}"
    );
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn hung_copies_are_cut_at_the_deadline() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .timeout(Duration::from_secs(60))
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, get("/a")).await.unwrap();
    send(&mut svc, post("/b", "bytes")).await.unwrap();
    let_tasks_run().await;
    assert_eq!(handle.in_flight(), 2);

    let start = Instant::now();
    let abandoned = handle.shutdown(Duration::from_secs(1)).await;
    let took = start.elapsed();
    assert_eq!(abandoned, 2);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(2),
        "cut at the deadline, not the 60 s timeout: {took:?}"
    );
    assert_eq!(handle.in_flight(), 0);
    assert_eq!(handle.buffered_bytes(), 0);
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.timed_out), (2, 2), "{stats:?}");
    assert_eq!(events.count(|e| *e == Ev::TimedOut), 2);
    idle(&handle).await;
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn shutdown_through_a_cloned_handle_stops_every_clone() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let mut svc2 = svc.clone();
    assert_eq!(handle.clone().shutdown(Duration::from_secs(1)).await, 0);
    send(&mut svc, get("/")).await.unwrap();
    send(&mut svc2, get("/")).await.unwrap();
    idle(&handle).await;
    assert!(rec.is_empty());
    assert_eq!(handle.stats().skipped_shutdown, 2);
}
