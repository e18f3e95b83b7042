//! The `axum` example's router, served over loopback: axum's `Router::layer` accepts
//! `MirrorLayer`, the handlers answer, and the shadow gets its copies without credentials.

// The example itself, so this test breaks when the example does.
#[allow(dead_code)] // its `main` and flag parsing
#[path = "../../examples/axum.rs"]
mod axum_example;

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Reply, client, fetch};
use support::within;
use tokio::net::TcpListener;

#[tokio::test]
async fn example_router_serves_and_mirrors() {
    let shadow = Backend::new("shadow", Reply::Now);
    let shadow_server = shadow.start().await;
    let (router, handle) = axum_example::app(shadow_server.url().parse().unwrap());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let client = client();
    let index = fetch(
        &client,
        Request::get(format!("http://{addr}/"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(index.status, 200);
    assert_eq!(index.body, "hello from the primary\n");

    let order = r#"{"item":"book","qty":2}"#;
    let created = fetch(
        &client,
        Request::post(format!("http://{addr}/orders?src=test"))
            .header("content-type", "application/json")
            .header("authorization", "Bearer secret")
            .header("cookie", "session=1")
            .body(Full::from(order))
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.headers["content-type"], "application/json");
    assert_eq!(created.body, format!(r#"{{"created":{order}}}"#));

    // Unknown paths go to the fallback, which the layer wraps too.
    let missing = fetch(
        &client,
        Request::get(format!("http://{addr}/nope"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, 404);

    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!((stats.seen, stats.mirrored, stats.completed), (3, 3, 3));

    let copies = shadow.received();
    let paths: Vec<_> = copies.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(paths, ["/", "/orders?src=test", "/nope"]);
    let copy = &copies[1];
    assert_eq!(copy.method, "POST");
    assert_eq!(copy.body, order);
    assert_eq!(copy.headers["content-type"], "application/json");
    assert!(copy.headers.get("authorization").is_none());
    assert!(copy.headers.get("cookie").is_none());
    assert_eq!(copy.host(), shadow_server.addr.to_string());

    stop.send(()).unwrap();
    within(server).await.unwrap().unwrap();
}

/// axum clones the layer for every route and method (and, when the router is used as a
/// service without `with_state`, for every request) before calling `layer` on each clone.
/// The breaker and the sampling RNG must still be one per layer.
#[tokio::test]
async fn one_breaker_and_one_rng_for_all_routes() {
    use std::time::Duration;

    use axum::body::Body;
    use axum::routing::get;
    use bytes::Bytes;
    use tower::ServiceExt;
    use tower_mirror::MirrorLayer;

    let down = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Err::<http::Response<Full<Bytes>>, _>(std::io::Error::other("shadow down"))
    });
    let layer = MirrorLayer::new(down).circuit_breaker(1, Duration::from_secs(60));
    let handle = layer.handle();
    let app = axum::Router::new()
        .route("/a", get(|| async { "a" }))
        .route("/b", get(|| async { "b" }))
        .layer(layer);
    for path in ["/a", "/b"] {
        let req = Request::get(path).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap();
        within(handle.wait_idle()).await;
    }
    // The first failure opened the breaker; the copy of `/b` must be dropped.
    assert_eq!(handle.stats().dropped_overload, 1, "{:?}", handle.stats());

    let ok = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    });
    let layer = MirrorLayer::new(ok).seed(7).sample_percent(50.0);
    let handle = layer.handle();
    let app = axum::Router::new()
        .route("/", get(|| async { "a" }))
        .layer(layer);
    for _ in 0..50 {
        let req = Request::get("/").body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap();
    }
    within(handle.wait_idle()).await;
    // One seeded sequence over all requests: some are mirrored, some are not.
    let mirrored = handle.stats().mirrored;
    assert!((1..50).contains(&mirrored), "{mirrored} of 50 mirrored");
}
