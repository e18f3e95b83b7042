//! Compare mode: the shadow's answers diffed against the primary's, off the critical path.
#![cfg(feature = "compare")]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_mirror::compare::{Compare, CompareConfig, Difference};
use tower_mirror::{MirrorBody, MirrorEvent, MirrorHandle, MirrorLayer};

pub(crate) type Body = Full<Bytes>;

pub(crate) fn response(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Full::new(body.into())).unwrap()
}

/// Sends `n` GETs to `path` through a compare layer over `primary`/`shadow` answering
/// the given (static) responses; returns the handle after `wait_idle`, and the events.
async fn run_compare(
    primary: Response<Body>,
    shadow: Response<Body>,
    config: CompareConfig,
    path: &str,
    n: usize,
) -> (MirrorHandle, Vec<MirrorEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let shadow = service_fn(move |_: Request<Body>| {
        let response = shadow.clone();
        async move { Ok::<_, Infallible>(response) }
    });
    let primary = service_fn(move |_: Request<MirrorBody<Body>>| {
        let response = primary.clone();
        async move { Ok::<_, Infallible>(response) }
    });
    let recorded = Arc::clone(&events);
    let layer = MirrorLayer::new(shadow)
        .on_event(move |e| recorded.lock().unwrap().push(e.clone()))
        .compare(config);
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(primary);
    for _ in 0..n {
        let res = svc
            .clone()
            .oneshot(Request::get(path).body(Body::default()).unwrap())
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }
    handle.wait_idle().await;
    let events = events.lock().unwrap().clone();
    (handle, events)
}

/// A version's answer to a request's method and path-and-query.
pub(crate) type Answer = Arc<dyn Fn(&Method, &str) -> Response<Body> + Send + Sync>;

/// Makes an [`Answer`].
pub(crate) fn answer(
    f: impl Fn(&Method, &str) -> Response<Body> + Send + Sync + 'static,
) -> Answer {
    Arc::new(f)
}

/// The shadow's type in [`Harness`]: layers are configured on it.
pub(crate) type Shadow = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;
type Primary = BoxCloneSyncService<Request<MirrorBody<Body>>, Response<Body>, Infallible>;

/// A compare layer over two [`Answer`]s, driven one request at a time (each comparison
/// done before the next), recording its events.
pub(crate) struct Harness {
    svc: Compare<Primary, Shadow>,
    pub(crate) handle: MirrorHandle,
    events: Arc<Mutex<Vec<MirrorEvent>>>,
}

impl Harness {
    /// The mirror layer is set up by `mirror`, then put in compare mode with `config`.
    pub(crate) fn new(
        primary: Answer,
        shadow: Answer,
        mirror: impl FnOnce(MirrorLayer<Shadow>) -> MirrorLayer<Shadow>,
        config: CompareConfig,
    ) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let shadow = BoxCloneSyncService::new(service_fn(move |req: Request<Body>| {
            let response = shadow(req.method(), &path_and_query(req.uri()));
            async move { Ok::<_, Infallible>(response) }
        }));
        let primary =
            BoxCloneSyncService::new(service_fn(move |req: Request<MirrorBody<Body>>| {
                let response = primary(req.method(), &path_and_query(req.uri()));
                async move {
                    // Read as a real primary would: the copy is sent once the body is whole.
                    req.into_body().collect().await.unwrap();
                    Ok::<_, Infallible>(response)
                }
            }));
        let recorded = Arc::clone(&events);
        let layer = mirror(MirrorLayer::new(shadow))
            .on_event(move |e| recorded.lock().unwrap().push(e.clone()))
            .compare(config);
        let handle = layer.handle();
        let svc = ServiceBuilder::new().layer(layer).service(primary);
        Self {
            svc,
            handle,
            events,
        }
    }

    /// Sends each request, reads the response to its end, and waits for its comparison.
    pub(crate) async fn send(&self, requests: impl IntoIterator<Item = Request<Body>>) {
        for req in requests {
            let res = self.svc.clone().oneshot(req).await.unwrap();
            res.into_body().collect().await.unwrap();
            self.handle.wait_idle().await;
        }
    }

    pub(crate) fn events(&self) -> Vec<MirrorEvent> {
        self.events.lock().unwrap().clone()
    }
}

/// [`Harness`] in one call: the handle and the events once `requests` are compared.
pub(crate) async fn drive(
    primary: Answer,
    shadow: Answer,
    mirror: impl FnOnce(MirrorLayer<Shadow>) -> MirrorLayer<Shadow>,
    config: CompareConfig,
    requests: impl IntoIterator<Item = Request<Body>>,
) -> (MirrorHandle, Vec<MirrorEvent>) {
    let harness = Harness::new(primary, shadow, mirror, config);
    harness.send(requests).await;
    (harness.handle.clone(), harness.events())
}

fn path_and_query(uri: &http::Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string)
}

/// A JSON answer with status 200.
pub(crate) fn json(body: impl Into<Bytes>) -> Response<Body> {
    response(200, &[("content-type", "application/json")], body)
}

pub(crate) fn compared(events: &[MirrorEvent]) -> Vec<Vec<Difference>> {
    events
        .iter()
        .filter_map(|e| match e {
            MirrorEvent::Compared { differences, .. } => Some(differences.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn identical_answers_match() {
    let answer = response(
        200,
        &[("content-type", "application/json")],
        r#"{"a":[1,2]}"#,
    );
    let (handle, events) =
        run_compare(answer.clone(), answer, CompareConfig::new(), "/items/1", 3).await;
    let stats = handle.stats();
    assert_eq!((stats.compared, stats.matched, stats.differed), (3, 3, 0));
    assert_eq!(compared(&events), vec![Vec::<Difference>::new(); 3]);
    let report = handle.compare_report();
    assert_eq!(report.routes.len(), 1);
    assert_eq!(report.routes[0].route, "GET /items/{n}");
    assert_eq!(report.routes[0].matched, 3);
}

#[tokio::test]
async fn status_header_and_json_differences_are_reported_with_paths() {
    let primary = response(
        200,
        &[("x-version", "1"), ("date", "Mon")],
        r#"{"items":[{"price":1},{"price":2}],"total":3}"#,
    );
    let shadow = response(
        201,
        &[("x-version", "2"), ("date", "Tue")],
        r#"{"items":[{"price":1},{"price":5}],"total":3,"new":true}"#,
    );
    let (handle, events) = run_compare(primary, shadow, CompareConfig::new(), "/cart", 1).await;
    let diffs = &compared(&events)[0];
    let fields: Vec<String> = diffs.iter().map(Difference::field).collect();
    assert_eq!(
        fields,
        ["status", "header:x-version", "$.items[1].price", "$.new"]
    );
    assert_eq!(
        diffs[0],
        Difference::Status {
            primary: 200,
            shadow: 201
        }
    );
    assert_eq!(diffs[2].to_string(), "$.items[1].price: 2 != 5");
    assert_eq!(diffs[3].to_string(), "$.new: (absent) != true");
    assert_eq!(handle.stats().differed, 1);
    let route = &handle.compare_report().routes[0];
    assert_eq!(route.route, "GET /cart");
    assert!(
        route
            .top_fields
            .contains(&("$.items[1].price".to_owned(), 1))
    );
    // `date` is ignored by default.
    assert!(!fields.iter().any(|f| f == "header:date"));
}

#[tokio::test]
async fn ignored_headers_and_paths_are_ignored() {
    let primary = response(
        200,
        &[("x-build", "a")],
        r#"{"at":"10:00","rows":[{"id":1,"seen":1}]}"#,
    );
    let shadow = response(
        200,
        &[("x-build", "b")],
        r#"{"at":"10:01","rows":[{"id":1,"seen":2}]}"#,
    );
    let config = CompareConfig::new()
        .ignore_header("x-build")
        .ignore_json_path("$.at")
        .ignore_json_path("$.rows[*].seen");
    let (handle, _) = run_compare(primary.clone(), shadow.clone(), config, "/", 1).await;
    assert_eq!(handle.stats().matched, 1);
    // Without the ignores, the same answers differ in exactly those three places.
    let (_, events) = run_compare(primary, shadow, CompareConfig::new(), "/", 1).await;
    let fields: Vec<String> = compared(&events)[0].iter().map(Difference::field).collect();
    assert_eq!(fields, ["header:x-build", "$.at", "$.rows[0].seen"]);
}

#[tokio::test]
async fn noise_learned_from_two_primaries_is_suppressed_but_real_differences_are_not() {
    // Each primary-version answer carries a fresh request id and timestamp (noise); the
    // shadow also changes `price` (a real difference).
    let counter = Arc::new(AtomicUsize::new(0));
    let v1_answer = {
        let counter = Arc::clone(&counter);
        move || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            format!(r#"{{"id":"req-{n}","at":{n},"price":10}}"#)
        }
    };
    let primary = {
        let answer = v1_answer.clone();
        service_fn(move |_: Request<MirrorBody<Body>>| {
            let body = answer();
            async move { Ok::<_, Infallible>(Response::new(Body::from(body))) }
        })
    };
    let secondary = {
        let answer = v1_answer.clone();
        service_fn(move |_: Request<Body>| {
            let body = answer();
            async move { Ok::<_, Infallible>(Response::new(Body::from(body))) }
        })
    };
    let shadow = {
        let counter = Arc::clone(&counter);
        service_fn(move |_: Request<Body>| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let body = format!(r#"{{"id":"req-{n}","at":{n},"price":12}}"#);
            async move { Ok::<_, Infallible>(Response::new(Body::from(body))) }
        })
    };
    let layer = MirrorLayer::new(shadow).compare(CompareConfig::new().noise_from(secondary));
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(primary);
    for i in 0..20 {
        let req = Request::get(format!("/products/{i}"))
            .body(Body::default())
            .unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        res.into_body().collect().await.unwrap();
        // One at a time: each comparison learns before the next.
        handle.wait_idle().await;
    }
    let route = &handle.compare_report().routes[0];
    assert_eq!(route.route, "GET /products/{n}");
    assert_eq!(route.noise_fields, ["$.at", "$.id"]);
    assert_eq!(
        route.differed, 20,
        "the price difference is real: never suppressed"
    );
    assert_eq!(route.top_fields, [("$.price".to_owned(), 20)]);
}

#[tokio::test]
async fn a_primary_answer_over_the_cap_streams_untouched_and_is_skipped() {
    let big = Bytes::from(vec![b'x'; 64 * 1024]);
    let primary = response(200, &[], big.clone());
    let shadow = response(200, &[], big.clone());
    let config = CompareConfig::new().max_body_bytes(1024);
    let events = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&events);
    let layer = MirrorLayer::new(service_fn(move |_: Request<Body>| {
        let r = shadow.clone();
        async move { Ok::<_, Infallible>(r) }
    }))
    .on_event(move |e| recorded.lock().unwrap().push(e.clone()))
    .compare(config);
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(service_fn(
        move |_: Request<MirrorBody<Body>>| {
            let r = primary.clone();
            async move { Ok::<_, Infallible>(r) }
        },
    ));
    let res = svc
        .oneshot(Request::get("/big").body(Body::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), big);
    handle.wait_idle().await;
    let stats = handle.stats();
    assert_eq!((stats.compared, stats.compare_skipped), (0, 1));
    assert_eq!(stats.completed, 1, "the copy itself still completed");
    assert!(compared(&events.lock().unwrap()).is_empty());
}

#[tokio::test]
async fn a_slow_comparison_adds_no_latency_to_the_client() {
    const SHADOW_DELAY: Duration = Duration::from_millis(300);
    async fn client_time(compare: bool) -> (Duration, MirrorHandle) {
        let shadow = service_fn(|_: Request<Body>| async {
            tokio::time::sleep(SHADOW_DELAY).await;
            Ok::<_, Infallible>(Response::new(Body::from("v2")))
        });
        let primary = service_fn(|_: Request<MirrorBody<Body>>| async {
            Ok::<_, Infallible>(Response::new(Body::from("v1")))
        });
        let start = Instant::now();
        let handle;
        if compare {
            let layer = MirrorLayer::new(shadow).compare(CompareConfig::new());
            handle = layer.handle();
            let svc = ServiceBuilder::new().layer(layer).service(primary);
            for _ in 0..10 {
                let res = svc
                    .clone()
                    .oneshot(Request::new(Body::default()))
                    .await
                    .unwrap();
                assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "v1");
            }
        } else {
            let layer = MirrorLayer::new(shadow);
            handle = layer.handle();
            let svc = ServiceBuilder::new().layer(layer).service(primary);
            for _ in 0..10 {
                let res = svc
                    .clone()
                    .oneshot(Request::new(Body::default()))
                    .await
                    .unwrap();
                assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "v1");
            }
        }
        (start.elapsed(), handle)
    }
    let (plain, plain_handle) = client_time(false).await;
    let (compared, compare_handle) = client_time(true).await;
    // Ten requests, each with a 300 ms shadow: the client never waits for any of them.
    assert!(plain < SHADOW_DELAY, "mirror only: {plain:?}");
    assert!(
        compared < SHADOW_DELAY,
        "compare mode: {compared:?} (mirror only: {plain:?})"
    );
    plain_handle.wait_idle().await;
    compare_handle.wait_idle().await;
    assert_eq!(compare_handle.stats().differed, 10);
}
