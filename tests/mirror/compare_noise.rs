//! `noise_from` sends a request to the second primary only for `noise_methods`: `GET` and
//! `HEAD` by default, so a `POST` never reaches a second instance unless asked.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use tower::service_fn;
use tower::util::BoxCloneSyncService;
use tower_mirror::compare::CompareConfig;

use crate::compare::{Body, Shadow, answer, drive, json};

/// A secondary that records the method of each request it gets.
fn secondary(seen: &Arc<Mutex<Vec<Method>>>) -> Shadow {
    let seen = Arc::clone(seen);
    BoxCloneSyncService::new(service_fn(move |req: Request<Body>| {
        seen.lock().unwrap().push(req.method().clone());
        async { Ok::<_, Infallible>(json(r#"{"ok":true}"#)) }
    }))
}

fn requests() -> Vec<Request<Body>> {
    let with = |method: Method, body: &'static str| {
        Request::builder()
            .method(method)
            .uri("/orders")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    };
    vec![
        with(Method::POST, r#"{"item":1}"#),
        with(Method::GET, ""),
        with(Method::PUT, r#"{"item":2}"#),
        with(Method::DELETE, ""),
        with(Method::HEAD, ""),
        with(Method::PATCH, r#"{"item":3}"#),
        with(Method::POST, r#"{"item":4}"#),
    ]
}

#[tokio::test]
async fn noise_from_never_sends_a_post_by_default() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ok = || answer(|_, _| json(r#"{"ok":true}"#));
    let (handle, _) = drive(
        ok(),
        ok(),
        |layer| layer,
        CompareConfig::new().noise_from(secondary(&seen)),
        requests(),
    )
    .await;
    assert_eq!(*seen.lock().unwrap(), [Method::GET, Method::HEAD]);
    // Every request was still mirrored and compared; only the noise call was left out.
    let stats = handle.stats();
    assert_eq!((stats.compared, stats.matched), (7, 7));
    let report = handle.compare_report();
    let post = report
        .routes
        .iter()
        .find(|r| r.route == "POST /orders")
        .unwrap();
    assert_eq!((post.compared, post.noise_compared), (2, 0));
}

#[tokio::test]
async fn noise_methods_widens_or_narrows_what_the_secondary_gets() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ok = || answer(|_, _| json(r#"{"ok":true}"#));
    drive(
        ok(),
        ok(),
        |layer| layer,
        CompareConfig::new()
            .noise_from(secondary(&seen))
            .noise_methods([Method::POST]),
        requests(),
    )
    .await;
    assert_eq!(*seen.lock().unwrap(), [Method::POST, Method::POST]);

    let seen = Arc::new(Mutex::new(Vec::new()));
    drive(
        ok(),
        ok(),
        |layer| layer,
        CompareConfig::new()
            .noise_methods([])
            .noise_from(secondary(&seen)),
        requests(),
    )
    .await;
    assert!(seen.lock().unwrap().is_empty());
}
