//! Compare mode: v2 answers like v1 except for one JSON field; the report points at it.
//!
//! ```text
//! cargo run --example compare --features compare
//! ```
//!
//! Both versions stamp each answer with a fresh `request_id` and `served_at` (noise); a
//! second v1 instance lets the layer learn those fields as noise, so the only difference
//! reported is the real one: v2 rounds `price` differently.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_mirror::compare::CompareConfig;
use tower_mirror::{MirrorBody, MirrorLayer};

/// One version of a product API: `GET /products/{id}`.
fn product(version: &'static str, id: u64, stamp: u64) -> String {
    let price = id as f64 * 1.15;
    // v2's bug: it truncates where v1 rounds.
    let price = match version {
        "v1" => (price * 100.0).round() / 100.0,
        _ => (price * 100.0).trunc() / 100.0,
    };
    format!(
        r#"{{"id":{id},"name":"product {id}","price":{price},"request_id":"r-{stamp}","served_at":{stamp}}}"#
    )
}

fn id_of(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let clock = Arc::new(AtomicU64::new(1));
    let version = |name: &'static str| {
        let clock = Arc::clone(&clock);
        move |path: &str| product(name, id_of(path), clock.fetch_add(1, Ordering::Relaxed))
    };
    let (v1, v1_again, v2) = (version("v1"), version("v1"), version("v2"));
    let primary = service_fn(move |req: Request<MirrorBody<Full<Bytes>>>| {
        let body = v1(req.uri().path());
        async move { Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body))) }
    });
    let secondary = service_fn(move |req: Request<Full<Bytes>>| {
        let body = v1_again(req.uri().path());
        async move { Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body))) }
    });
    let shadow = service_fn(move |req: Request<Full<Bytes>>| {
        let body = v2(req.uri().path());
        async move { Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body))) }
    });

    let layer = MirrorLayer::new(shadow).compare(CompareConfig::new().noise_from(secondary));
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(primary);

    for id in 1..=200 {
        let req = Request::get(format!("/products/{id}")).body(Full::default())?;
        let response = svc.clone().oneshot(req).await?;
        response.into_body().collect().await?;
        if id % 20 == 0 {
            // Let noise be learned as we go, like a steady trickle of traffic would.
            handle.wait_idle().await;
        }
    }
    handle.wait_idle().await;

    let stats = handle.stats();
    println!(
        "compared {} answers: {} matched, {} differed, {} skipped\n",
        stats.compared, stats.matched, stats.differed, stats.compare_skipped
    );
    print!("{}", handle.compare_report());
    Ok(())
}
