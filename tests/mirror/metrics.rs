//! Feature `metrics`: `MirrorLayer::metrics(name)` records exactly the documented series,
//! labelled `mirror="<name>"`, through the `metrics` facade (read here with
//! `metrics-util`'s debugging recorder).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::*;
use tower::{Layer, Service};
use tower_mirror::{MirrorHandle, MirrorLayer};

/// The debugging recorder, installed once for this test binary. A snapshot resets what
/// it reports (counters to 0, histograms emptied, gauges to 0), so tests take turns
/// through [`turn`] and read each snapshot as "what changed since the last one".
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder of this binary");
        snapshotter
    })
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = TURN.lock().await;
    snapshotter().snapshot(); // start from zero
    guard
}

/// One metric of one mirror: its name and its labels other than `mirror`.
type SeriesKey = (String, String);

#[derive(Debug, Default)]
struct Snap {
    counters: BTreeMap<SeriesKey, u64>,
    gauges: BTreeMap<SeriesKey, f64>,
    histograms: BTreeMap<SeriesKey, Vec<f64>>,
}

impl Snap {
    /// What changed for `mirror` since the last snapshot (of any mirror).
    fn of(mirror: &str) -> Self {
        Self::all().remove(mirror).unwrap_or_default()
    }

    /// What changed since the last snapshot, by mirror.
    fn all() -> BTreeMap<String, Self> {
        let mut all: BTreeMap<String, Snap> = BTreeMap::new();
        for (key, _, _, value) in snapshotter().snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<String> = Vec::new();
            let mut mirror = None;
            for label in key.labels() {
                if label.key() == "mirror" {
                    mirror = Some(label.value().to_owned());
                } else {
                    labels.push(format!("{}={}", label.key(), label.value()));
                }
            }
            let mirror = mirror.expect("every series has a mirror label");
            let snap = all.entry(mirror).or_default();
            let id = (key.name().to_owned(), labels.join(","));
            match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(n)) => {
                    snap.counters.insert(id, n);
                }
                (MetricKind::Gauge, DebugValue::Gauge(g)) => {
                    snap.gauges.insert(id, g.into_inner());
                }
                (MetricKind::Histogram, DebugValue::Histogram(values)) => {
                    snap.histograms
                        .insert(id, values.into_iter().map(|v| v.into_inner()).collect());
                }
                other => panic!("unexpected metric {other:?}"),
            }
        }
        all
    }

    /// The counters that moved, as `name{labels}` -> delta.
    fn moved(&self) -> BTreeMap<String, u64> {
        self.counters
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|((name, labels), n)| (format!("{name}{{{labels}}}"), *n))
            .collect()
    }

    fn gauge(&self, name: &str) -> f64 {
        *self
            .gauges
            .get(&(name.to_owned(), String::new()))
            .unwrap_or_else(|| panic!("gauge {name} not registered: {self:?}"))
    }

    fn durations(&self) -> Vec<f64> {
        self.histograms
            .get(&(
                "tower_mirror_shadow_duration_seconds".to_owned(),
                String::new(),
            ))
            .cloned()
            .unwrap_or_default()
    }
}

fn expect(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

const REQ: &str = "tower_mirror_requests_total";

/// One request, its copies settled, and what moved.
async fn one<S>(svc: &mut S, handle: &MirrorHandle, mirror: &str, req: Request<Full<Bytes>>) -> Snap
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    send(svc, req).await.expect("the primary answers");
    idle(handle).await;
    Snap::of(mirror)
}

#[tokio::test(start_paused = true)]
async fn every_series_is_registered_with_its_labels_before_the_first_request() {
    let _turn = turn().await;
    let layer = MirrorLayer::new(recording_shadow(&Recorder::new())).metrics("m-registered");
    let snap = Snap::of("m-registered");
    let names: Vec<String> = snap
        .counters
        .keys()
        .map(|(name, labels)| format!("{name}{{{labels}}}"))
        .collect();
    let mut want: Vec<String> = [
        "mirrored",
        "skipped_sampling",
        "skipped_filter",
        "skipped_body_too_large",
        "skipped_body_incomplete",
        "skipped_upgrade",
        "skipped_no_runtime",
        "skipped_shutdown",
        "skipped_paused",
        "dropped_in_flight",
        "dropped_bytes",
        "dropped_breaker",
    ]
    .iter()
    .map(|d| format!("{REQ}{{decision={d}}}"))
    .chain(
        ["completed", "failed", "timed_out"]
            .iter()
            .map(|o| format!("tower_mirror_copies_total{{outcome={o}}}")),
    )
    .chain(
        ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .iter()
            .map(|c| format!("tower_mirror_shadow_responses_total{{status_class={c}}}")),
    )
    .collect();
    let mut names_sorted = names.clone();
    names_sorted.sort();
    want.sort();
    assert_eq!(names_sorted, want);
    assert!(snap.moved().is_empty(), "all at 0: {:?}", snap.moved());
    for gauge in [
        "tower_mirror_in_flight",
        "tower_mirror_buffered_bytes",
        "tower_mirror_breaker_open",
    ] {
        assert_eq!(snap.gauge(gauge), 0.0);
    }
    assert!(snap.durations().is_empty());
    drop(layer);
}

#[tokio::test(start_paused = true)]
async fn each_decision_and_outcome_moves_exactly_its_series() {
    let _turn = turn().await;
    const M: &str = "m-decisions";
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |copy| {
        let path = copy.parts.uri.path().to_owned();
        async move {
            match path.as_str() {
                "/fail" => Err("boom".into()),
                "/hang" => std::future::pending().await,
                "/503" => Ok(respond(503)),
                "/302" => Ok(respond(302)),
                "/404" => Ok(respond(404)),
                _ => Ok(respond(200)),
            }
        }
    });
    let layer = MirrorLayer::new(shadow)
        .max_body_bytes(8)
        .max_buffered_bytes(6)
        .timeout(Duration::from_secs(1))
        .filter(|parts: &http::request::Parts| parts.uri.path() != "/filtered")
        .metrics(M);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    let mirrored = |outcome: &str, class: Option<&str>| {
        let mut e = vec![
            (format!("{REQ}{{decision=mirrored}}"), 1),
            (format!("tower_mirror_copies_total{{outcome={outcome}}}"), 1),
        ];
        if let Some(class) = class {
            e.push((
                format!("tower_mirror_shadow_responses_total{{status_class={class}}}"),
                1,
            ));
        }
        e.into_iter().collect::<BTreeMap<_, _>>()
    };
    for (path, outcome, class) in [
        ("/ok", "completed", Some("2xx")),
        ("/302", "completed", Some("3xx")),
        ("/404", "completed", Some("4xx")),
        ("/503", "completed", Some("5xx")),
        ("/fail", "failed", None),
        ("/hang", "timed_out", None),
    ] {
        let snap = one(&mut svc, &handle, M, get(path)).await;
        assert_eq!(snap.moved(), mirrored(outcome, class), "{path}");
        assert_eq!(snap.durations().len(), 1, "{path}: one duration per copy");
    }

    let skipped = |d: &str| expect(&[(&format!("{REQ}{{decision={d}}}"), 1)]);
    let snap = one(&mut svc, &handle, M, get("/filtered")).await;
    assert_eq!(snap.moved(), skipped("skipped_filter"));
    let snap = one(&mut svc, &handle, M, post("/big", "more than eight")).await;
    assert_eq!(snap.moved(), skipped("skipped_body_too_large"));
    let snap = one(&mut svc, &handle, M, post("/seven", "1234567")).await;
    assert_eq!(snap.moved(), skipped("dropped_bytes"), "7 bytes, budget 6");
    let upgrade = Request::get("/ws")
        .header("upgrade", "websocket")
        .body(Full::default())
        .unwrap();
    let snap = one(&mut svc, &handle, M, upgrade).await;
    assert_eq!(snap.moved(), skipped("skipped_upgrade"));

    let mut streamed = layer.layer(Echo::new());
    let cut = Request::post("/cut")
        .body(erroring(&[b"ab"], "cut"))
        .unwrap();
    send(&mut streamed, cut).await.unwrap_err();
    idle(&handle).await;
    assert_eq!(Snap::of(M).moved(), skipped("skipped_body_incomplete"));

    handle.set_sample_percent(0.0);
    let snap = one(&mut svc, &handle, M, get("/")).await;
    assert_eq!(snap.moved(), skipped("skipped_sampling"));
    handle.set_sample_percent(100.0);
    handle.pause();
    let snap = one(&mut svc, &handle, M, get("/")).await;
    assert_eq!(snap.moved(), skipped("skipped_paused"));
    handle.resume();

    handle.shutdown(Duration::from_secs(1)).await;
    let snap = one(&mut svc, &handle, M, get("/")).await;
    assert_eq!(snap.moved(), skipped("skipped_shutdown"));
    assert!(snap.durations().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropped_in_flight_and_breaker_move_their_series_and_the_breaker_gauge() {
    let _turn = turn().await;
    const M: &str = "m-drops";
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |copy| {
        let path = copy.parts.uri.path().to_owned();
        async move {
            match path.as_str() {
                "/hang" => std::future::pending().await,
                "/ok" => Ok(respond(200)),
                _ => Err("boom".into()),
            }
        }
    });
    let layer = MirrorLayer::new(shadow)
        .max_in_flight(1)
        .timeout(Duration::from_secs(1))
        .circuit_breaker(2, Duration::from_secs(5))
        .metrics(M);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    // One copy hangs and holds the only slot: the next is dropped.
    send(&mut svc, get("/hang")).await.unwrap();
    let_tasks_run().await;
    send(&mut svc, get("/hang")).await.unwrap();
    idle(&handle).await;
    assert_eq!(
        Snap::of(M).moved(),
        expect(&[
            (&format!("{REQ}{{decision=mirrored}}"), 1),
            (&format!("{REQ}{{decision=dropped_in_flight}}"), 1),
            ("tower_mirror_copies_total{outcome=timed_out}", 1),
        ])
    );

    // The timeout above and one failure open the breaker (2 in a row).
    let snap = one(&mut svc, &handle, M, get("/fail")).await;
    assert_eq!(snap.gauge("tower_mirror_breaker_open"), 1.0, "{snap:?}");
    let snap = one(&mut svc, &handle, M, get("/ok")).await;
    assert_eq!(
        snap.moved(),
        expect(&[(&format!("{REQ}{{decision=dropped_breaker}}"), 1)])
    );
    // After the back-off the probe goes, succeeds, and closes it.
    tokio::time::advance(Duration::from_secs(2)).await;
    let snap = one(&mut svc, &handle, M, get("/ok")).await;
    assert_eq!(snap.gauge("tower_mirror_breaker_open"), 0.0, "{snap:?}");
    assert_eq!(handle.stats().completed, 1);
}

#[tokio::test(start_paused = true)]
async fn one_duration_per_finished_copy_with_its_latency() {
    let _turn = turn().await;
    const M: &str = "m-durations";
    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |copy| {
        let path = copy.parts.uri.path().to_owned();
        async move {
            match path.as_str() {
                "/slow" => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    Ok(respond(200))
                }
                "/fail" => Err("boom".into()),
                "/hang" => std::future::pending().await,
                _ => Ok(respond(200)),
            }
        }
    });
    let layer = MirrorLayer::new(shadow)
        .timeout(Duration::from_secs(2))
        .metrics(M);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let paths = ["/fast", "/slow", "/fail", "/hang", "/fast", "/slow"];
    for path in paths {
        send(&mut svc, get(path)).await.unwrap();
    }
    idle(&handle).await;
    let mut durations = Snap::of(M).durations();
    assert_eq!(durations.len(), paths.len(), "one value per finished copy");
    durations.sort_by(f64::total_cmp);
    // Paused time: instant calls take 0, the slow ones 250 ms, the hung one the timeout.
    assert_eq!(durations, [0.0, 0.0, 0.0, 0.25, 0.25, 2.0]);
}

/// Three copies to a hung shadow; `snapshot_while_running` reads the gauges before they
/// time out (a snapshot resets the recorder's gauges, so the idle check is only
/// meaningful without one).
async fn three_hung_copies(name: &str, snapshot_while_running: bool) -> Option<Snap> {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .timeout(Duration::from_secs(1))
        .metrics(name);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for body in ["a", "bb", "ccc"] {
        send(&mut svc, post("/", body)).await.unwrap();
    }
    let_tasks_run().await;
    let running = snapshot_while_running.then(|| Snap::of(name));
    idle(&handle).await;
    running
}

#[tokio::test(start_paused = true)]
async fn gauges_show_running_copies() {
    let _turn = turn().await;
    let running = three_hung_copies("m-gauges-running", true).await.unwrap();
    assert_eq!(running.gauge("tower_mirror_in_flight"), 3.0);
    // The bodies (1 + 2 + 3 bytes) and the heads the budget counts (URI `/`, no headers).
    assert_eq!(running.gauge("tower_mirror_buffered_bytes"), 6.0 + 3.0);
}

#[tokio::test(start_paused = true)]
async fn gauges_read_zero_once_idle() {
    let _turn = turn().await;
    three_hung_copies("m-gauges-idle", false).await;
    let idle = Snap::of("m-gauges-idle");
    assert_eq!(idle.gauge("tower_mirror_in_flight"), 0.0);
    assert_eq!(idle.gauge("tower_mirror_buffered_bytes"), 0.0);
}

/// Without a snapshot in between (a snapshot resets the recorder's gauges), the last value
/// set after a burst of copies is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_copies_leave_the_gauges_at_zero() {
    let _turn = turn().await;
    const M: &str = "m-gauges-concurrent";
    let rec = Recorder::new();
    let layer = MirrorLayer::new(sleeping_shadow(&rec, Duration::from_millis(1))).metrics(M);
    let handle = layer.handle();
    let svc = tower::util::BoxCloneSyncService::new(layer.layer(Echo::new()));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let body = if i % 2 == 0 { "even" } else { "odd-body" };
                send(&mut svc, post(&format!("/{t}/{i}"), body))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    idle(&handle).await;
    let snap = Snap::of(M);
    assert_eq!(snap.gauge("tower_mirror_in_flight"), 0.0);
    assert_eq!(snap.gauge("tower_mirror_buffered_bytes"), 0.0);
    let mirrored = snap.counters[&(REQ.to_owned(), "decision=mirrored".to_owned())];
    assert_eq!(mirrored, handle.stats().mirrored);
    assert_eq!(snap.durations().len() as u64, mirrored);
}

#[tokio::test(start_paused = true)]
async fn two_mirrors_keep_separate_series() {
    let _turn = turn().await;
    let (rec_a, rec_b) = (Recorder::new(), Recorder::new());
    let a = MirrorLayer::new(recording_shadow(&rec_a)).metrics("m-two-a");
    let b = MirrorLayer::new(failing_shadow(&rec_b)).metrics("m-two-b");
    let (ha, hb) = (a.handle(), b.handle());
    // b wraps the primary, a wraps b: every request goes through both.
    let mut svc = a.layer(b.layer(Echo::new()));
    for _ in 0..3 {
        send(&mut svc, get("/")).await.unwrap();
    }
    ha.set_sample_percent(0.0);
    send(&mut svc, get("/")).await.unwrap();
    idle(&ha).await;
    idle(&hb).await;
    let mut all = Snap::all();
    let (snap_a, snap_b) = (
        all.remove("m-two-a").unwrap(),
        all.remove("m-two-b").unwrap(),
    );
    assert_eq!(
        snap_a.moved(),
        expect(&[
            (&format!("{REQ}{{decision=mirrored}}"), 3),
            (&format!("{REQ}{{decision=skipped_sampling}}"), 1),
            ("tower_mirror_copies_total{outcome=completed}", 3),
            ("tower_mirror_shadow_responses_total{status_class=2xx}", 3),
        ])
    );
    assert_eq!(
        snap_b.moved(),
        expect(&[
            (&format!("{REQ}{{decision=mirrored}}"), 4),
            ("tower_mirror_copies_total{outcome=failed}", 4),
        ])
    );
    assert_eq!(snap_a.durations().len(), 3);
    assert_eq!(snap_b.durations().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_layer_family_has_one_name() {
    let _turn = turn().await;
    let layer = MirrorLayer::new(recording_shadow(&Recorder::new())).metrics("m-first");
    // Same name again (as a rebuilt stack does): fine. Another name: the first is kept.
    let layer = layer.metrics("m-first").metrics("m-second");
    let clone = layer.clone();
    let handle = layer.handle();
    let mut svc = clone.layer(Echo::new());
    send(&mut svc, get("/")).await.unwrap();
    idle(&handle).await;
    let all = Snap::all();
    assert_eq!(
        all["m-first"].moved()[&format!("{REQ}{{decision=mirrored}}")],
        1
    );
    assert!(!all.contains_key("m-second"), "never registered");
}

#[test]
fn no_runtime_is_a_decision_too() {
    let _turn = TURN.blocking_lock();
    snapshotter().snapshot();
    let layer = MirrorLayer::new(recording_shadow(&Recorder::new())).metrics("m-no-runtime");
    let mut svc = layer.layer(Echo::new());
    // An empty body is sent at `call`: with no runtime, skipped there.
    let _response = svc.call(get("/"));
    assert_eq!(
        Snap::of("m-no-runtime").moved(),
        expect(&[(&format!("{REQ}{{decision=skipped_no_runtime}}"), 1)])
    );
}

#[cfg(feature = "compare")]
#[tokio::test(start_paused = true)]
async fn compare_results_are_counted_by_result() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use tower_mirror::compare::CompareConfig;

    let _turn = turn().await;
    const M: &str = "m-compare";
    let rec = Recorder::new();
    // The primary echoes the body with 201 and `x-primary: echo`; the shadow answers the
    // same, except on `/differ`.
    let shadow = shadow_with(&rec, |copy| {
        let body = match copy.parts.uri.path() {
            "/differ" => Bytes::from_static(b"nope"),
            _ => copy.body.clone(),
        };
        async move {
            Ok(http::Response::builder()
                .status(201)
                .header("x-primary", "echo")
                .body(Full::new(body).map_err(|e| match e {}).boxed_unsync())
                .unwrap())
        }
    });
    let layer = MirrorLayer::new(shadow)
        .metrics(M)
        .compare(CompareConfig::new().max_body_bytes(16));
    let handle = layer.handle();
    let svc = layer.layer(Echo::new());
    for (path, body) in [
        ("/same", "hello"),
        ("/differ", "hello"),
        ("/big", "a body longer than sixteen bytes"),
    ] {
        let response = svc.clone().oneshot(post(path, body)).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    idle(&handle).await;
    let snap = Snap::of(M);
    let compared = |result: &str| {
        snap.counters
            .get(&(
                "tower_mirror_compared_total".to_owned(),
                format!("result={result}"),
            ))
            .copied()
    };
    assert_eq!(compared("matched"), Some(1), "{snap:?}");
    assert_eq!(compared("differed"), Some(1));
    assert_eq!(compared("skipped"), Some(1));
    let stats = handle.stats();
    assert_eq!(
        (stats.matched, stats.differed, stats.compare_skipped),
        (1, 1, 1)
    );
}
