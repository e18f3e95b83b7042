//! Guarantee 10 (metrics side): exactly one decision event per request, plus one outcome event per
//! dispatched copy, after its decision; events agree with the counters.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

/// Answers by path: /ok 200, /500 500, /fail error, /hang never, /slow 200 after 100 ms.
fn path_shadow(rec: &Recorder) -> Shadow {
    shadow_with(rec, |copy| {
        let path = copy.parts.uri.path().to_owned();
        async move {
            match path.as_str() {
                "/500" => Ok(respond(500)),
                "/fail" => Err("shadow exploded".into()),
                "/hang" => std::future::pending().await,
                "/slow" => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(respond(200))
                }
                _ => Ok(respond(200)),
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn one_decision_per_request_and_one_outcome_per_copy() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(path_shadow(&rec))
        .filter(|parts: &http::request::Parts| parts.method != Method::DELETE)
        .max_body_bytes(8)
        .timeout(Duration::from_millis(200))
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    let upgrade = || {
        Request::get("/ws")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let delete = || Request::delete("/x").body(Full::new(Bytes::new())).unwrap();
    let requests = vec![
        get("/ok"),
        get("/500"),
        get("/fail"),
        get("/hang"),
        get("/slow"),
        delete(),
        upgrade(),
        post("/big", "more than eight bytes"),
        post("/ok", "small"),
    ];
    let n = requests.len();
    for req in requests {
        send(&mut svc, req).await.unwrap();
    }
    idle(&handle).await;
    assert_idle(&handle);

    let all = events.all();
    let decisions = events.decisions();
    let outcomes = events.outcomes();
    assert_eq!(decisions.len(), n, "one decision per request: {all:?}");
    assert_eq!(
        outcomes.len(),
        events.count(|e| *e == Ev::Dispatched),
        "one outcome per dispatched copy: {all:?}"
    );
    assert!(!all.contains(&Ev::Unknown), "{all:?}");
    // An outcome never comes before its dispatch.
    let mut open = 0i64;
    for e in &all {
        match e {
            Ev::Dispatched => open += 1,
            e if e.is_outcome() => {
                open -= 1;
                assert!(open >= 0, "outcome before dispatch: {all:?}");
            }
            _ => {}
        }
    }

    assert_eq!(events.count(|e| *e == Ev::Dispatched), 6);
    assert_eq!(events.count(|e| *e == Ev::Skipped(Skip::Filter)), 1);
    assert_eq!(events.count(|e| *e == Ev::Skipped(Skip::Upgrade)), 1);
    assert_eq!(events.count(|e| *e == Ev::Skipped(Skip::BodyTooLarge)), 1);
    assert_eq!(
        events.count(|e| matches!(e, Ev::Completed(StatusCode::OK, _))),
        3
    );
    assert_eq!(
        events.count(|e| matches!(e, Ev::Completed(StatusCode::INTERNAL_SERVER_ERROR, _))),
        1
    );
    assert_eq!(events.count(|e| matches!(e, Ev::Failed(..))), 1);
    assert_eq!(events.count(|e| *e == Ev::TimedOut), 1);
    assert!(
        all.iter()
            .any(|e| matches!(e, Ev::Completed(_, l) if *l >= Duration::from_millis(100))),
        "the slow copy's latency is reported: {all:?}"
    );

    // Events and counters agree.
    let s = handle.stats();
    assert_eq!(s.seen as usize, n);
    assert_eq!(s.mirrored as usize, events.count(|e| *e == Ev::Dispatched));
    assert_eq!(
        s.completed as usize,
        events.count(|e| matches!(e, Ev::Completed(..)))
    );
    assert_eq!(
        s.failed as usize,
        events.count(|e| matches!(e, Ev::Failed(..)))
    );
    assert_eq!(s.timed_out as usize, events.count(|e| *e == Ev::TimedOut));
    assert_eq!(s.skipped_filter, 1);
    assert_eq!(s.skipped_upgrade, 1);
    assert_eq!(s.skipped_body_too_large, 1);
}

#[tokio::test(start_paused = true)]
async fn dropped_copies_get_a_dropped_event_and_no_outcome() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_in_flight(1)
        .timeout(Duration::from_millis(100))
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for _ in 0..3 {
        send(&mut svc, get("/")).await.unwrap();
    }
    idle(&handle).await;
    assert_eq!(
        events.all(),
        vec![Ev::Dispatched, Ev::Dropped, Ev::Dropped, Ev::TimedOut]
    );
}

#[tokio::test(start_paused = true)]
async fn sampled_out_requests_get_a_sampling_event() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(0.0)
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for _ in 0..3 {
        send(&mut svc, get("/")).await.unwrap();
    }
    idle(&handle).await;
    assert_eq!(events.all(), vec![Ev::Skipped(Skip::Sampling); 3]);
}
