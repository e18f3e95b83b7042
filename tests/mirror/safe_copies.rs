//! Copies that are safe and recognisable: `safe_methods_only` mirrors only GET, HEAD,
//! OPTIONS and TRACE (the rest is `skipped_filter`), `strip_trace_context` keeps the
//! client's trace out of the shadow, and compare mode's noise instance gets no writes.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

fn request(method: Method, path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn safe_methods_only_mirrors_reads_and_counts_writes_as_filtered() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .safe_methods_only()
        .on_event(events.hook());
    let handle = layer.handle();
    let primary = Echo::new();
    let mut svc = layer.layer(primary.clone());
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE];
    let unsafe_ = [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::from_bytes(b"PURGE").unwrap(),
    ];
    for method in safe.iter().chain(&unsafe_) {
        send(&mut svc, request(method.clone(), &format!("/{method}")))
            .await
            .unwrap();
    }
    idle(&handle).await;
    let copied: Vec<Method> = rec.all().iter().map(|c| c.parts.method.clone()).collect();
    assert_eq!(copied, safe);
    let s = handle.stats();
    assert_eq!((s.mirrored, s.skipped_filter), (4, 5), "{s:?}");
    assert_eq!(
        events.count(|e| *e == Ev::Skipped(Skip::Filter)),
        unsafe_.len()
    );
    assert_eq!(primary.count(), 9, "the primary gets every request");
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn safe_methods_only_comes_before_the_filter() {
    let rec = Recorder::new();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&asked);
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .safe_methods_only()
        .filter(move |parts: &http::request::Parts| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            parts.uri.path() != "/private"
        });
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, request(Method::POST, "/public"))
        .await
        .unwrap();
    send(&mut svc, request(Method::GET, "/private"))
        .await
        .unwrap();
    send(&mut svc, request(Method::GET, "/public"))
        .await
        .unwrap();
    idle(&handle).await;
    assert_eq!(rec.only().parts.uri.path(), "/public");
    assert_eq!(handle.stats().skipped_filter, 2);
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the filter is not asked about a POST"
    );
}

#[tokio::test(start_paused = true)]
async fn strip_trace_context_removes_every_propagation_header_from_the_copy_only() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .strip_trace_context()
        .header("x-mirrored-by", "tower-mirror");
    let handle = layer.handle();
    let primary = Echo::new();
    let mut svc = layer.layer(primary.clone());
    let trace = [
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "congo=t61rcWkgMzE"),
        ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-parentspanid", "05e3ac9a4f6e3b90"),
        ("x-b3-sampled", "1"),
        ("x-b3-flags", "1"),
        ("uber-trace-id", "4bf92f3577b34da6:00f067aa0ba902b7:0:1"),
    ];
    let mut req = Request::get("/traced");
    for (name, value) in trace {
        req = req.header(name, value);
    }
    let req = req
        .header("x-request-id", "keep-me")
        .header("baggage", "userId=alice")
        .body(Full::<Bytes>::default())
        .unwrap();
    send(&mut svc, req).await.unwrap();
    idle(&handle).await;

    let copy = rec.only();
    for (name, _) in trace {
        assert_eq!(copy.header(name), None, "{name} on the copy");
    }
    assert_eq!(copy.header("x-request-id"), Some("keep-me"));
    assert_eq!(
        copy.header("baggage"),
        Some("userId=alice"),
        "not trace context"
    );
    assert_eq!(copy.header("x-mirrored-by"), Some("tower-mirror"));
    let seen = primary.only();
    for (name, value) in trace {
        assert_eq!(
            seen.parts.headers.get(name).unwrap(),
            value,
            "the primary keeps {name}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn without_strip_trace_context_the_copy_carries_the_trace() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let req = Request::get("/")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-b3-sampled", "1")
        .body(Full::<Bytes>::default())
        .unwrap();
    send(&mut svc, req).await.unwrap();
    idle(&handle).await;
    let copy = rec.only();
    assert!(copy.header("traceparent").is_some());
    assert_eq!(copy.header("x-b3-sampled"), Some("1"));
}

#[cfg(feature = "compare")]
mod noise {
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use tower_mirror::compare::CompareConfig;

    use super::*;

    /// A noise instance that records the methods it was sent.
    fn noise(log: &Arc<Mutex<Vec<Method>>>) -> Shadow {
        let log = Arc::clone(log);
        tower::util::BoxCloneSyncService::new(tower::service_fn(move |req: ShadowRequest| {
            log.lock().unwrap().push(req.method().clone());
            async { Ok::<_, tower::BoxError>(respond(201)) }
        }))
    }

    async fn run(layer: tower_mirror::compare::CompareLayer<Shadow>, methods: &[Method]) {
        let handle = layer.handle();
        let svc = layer.layer(Echo::new());
        for method in methods {
            let response = svc
                .clone()
                .oneshot(request(method.clone(), "/"))
                .await
                .unwrap();
            response.into_body().collect().await.unwrap();
        }
        idle(&handle).await;
    }

    const ALL: [Method; 5] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
    ];

    #[tokio::test(start_paused = true)]
    async fn the_noise_instance_gets_only_get_and_head_by_default() {
        let (rec, log) = (Recorder::new(), Arc::default());
        let layer = MirrorLayer::new(recording_shadow(&rec))
            .compare(CompareConfig::new().noise_from(noise(&log)));
        run(layer, &ALL).await;
        assert_eq!(rec.len(), 5, "the shadow gets every copy");
        assert_eq!(*log.lock().unwrap(), [Method::GET, Method::HEAD]);
    }

    #[tokio::test(start_paused = true)]
    async fn noise_methods_widens_it() {
        let (rec, log) = (Recorder::new(), Arc::default());
        let layer = MirrorLayer::new(recording_shadow(&rec)).compare(
            CompareConfig::new()
                .noise_from(noise(&log))
                .noise_methods([Method::GET, Method::POST]),
        );
        run(layer, &ALL).await;
        assert_eq!(*log.lock().unwrap(), [Method::GET, Method::POST]);
    }

    #[tokio::test(start_paused = true)]
    async fn with_safe_methods_only_the_noise_instance_never_gets_a_write() {
        let (rec, log) = (Recorder::new(), Arc::default());
        let layer = MirrorLayer::new(recording_shadow(&rec))
            .safe_methods_only()
            .compare(
                CompareConfig::new()
                    .noise_from(noise(&log))
                    .noise_methods(ALL),
            );
        let handle = layer.handle();
        run(layer, &ALL).await;
        assert_eq!(*log.lock().unwrap(), [Method::GET, Method::HEAD]);
        let copied: Vec<Method> = rec.all().iter().map(|c| c.parts.method.clone()).collect();
        assert_eq!(copied, [Method::GET, Method::HEAD]);
        assert_eq!(handle.stats().skipped_filter, 3);
    }
}
