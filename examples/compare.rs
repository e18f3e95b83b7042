//! Compare mode: v2 answers like v1 except for one JSON field and one line of a text page;
//! the report ranks the differences and shows an example of each.
//!
//! ```text
//! cargo run --example compare --features compare
//! cargo run --example compare --features compare -- --html report.html
//! ```
//!
//! Both versions stamp each product with a fresh `request_id` and `served_at` (noise); a
//! second v1 instance lets the layer learn those fields as noise, so what is reported is
//! real: v2 truncates `price` where v1 rounds, and its status page names another build.
//! v2 also gzips its JSON: compare mode decodes it before the diff.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_mirror::compare::CompareConfig;
use tower_mirror::{MirrorBody, MirrorLayer};

type Body = Full<Bytes>;

/// One version of the API: `GET /products/{id}` (JSON) and `GET /status` (text).
fn answer(version: &'static str, path: &str, stamp: u64) -> Response<Body> {
    if path == "/status" {
        let build = if version == "v1" {
            "2024.06.1"
        } else {
            "2024.07.0"
        };
        let page = format!("status: ok\nregion: eu-west\nbuild: {build}\nqueue: empty\n");
        return text_response(page);
    }
    let id: u64 = path
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let price = id as f64 * 1.15;
    // v2's bug: it truncates where v1 rounds.
    let price = match version {
        "v1" => (price * 100.0).round() / 100.0,
        _ => (price * 100.0).trunc() / 100.0,
    };
    let body = format!(
        r#"{{"id":{id},"name":"product {id}","price":{price},"request_id":"r-{stamp}","served_at":{stamp}}}"#
    );
    let response = Response::builder().header(header::CONTENT_TYPE, "application/json");
    let response = if version == "v2" {
        // v2 compresses its answers; the comparison decodes them first.
        let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
        let _ = gzip.write_all(body.as_bytes());
        let zipped = gzip.finish().unwrap_or_default();
        response
            .header(header::CONTENT_ENCODING, "gzip")
            .body(Full::from(zipped))
    } else {
        response.body(Full::from(body))
    };
    response.unwrap_or_default()
}

fn text_response(page: String) -> Response<Body> {
    let mut response = Response::new(Full::from(page));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let html_path = html_path()?;
    let clock = Arc::new(AtomicU64::new(1));
    let version = |name: &'static str| {
        let clock = Arc::clone(&clock);
        move |path: &str| answer(name, path, clock.fetch_add(1, Ordering::Relaxed))
    };
    let (v1, v1_again, v2) = (version("v1"), version("v1"), version("v2"));
    let primary = service_fn(move |req: Request<MirrorBody<Body>>| {
        let response = v1(req.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let secondary = service_fn(move |req: Request<Body>| {
        let response = v1_again(req.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let shadow = service_fn(move |req: Request<Body>| {
        let response = v2(req.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });

    let layer = MirrorLayer::new(shadow).compare(CompareConfig::new().noise_from(secondary));
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(primary);

    for n in 1..=200 {
        let path = if n % 10 == 0 {
            "/status".to_owned()
        } else {
            format!("/products/{n}")
        };
        let req = Request::get(path)
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Full::default())?;
        let response = svc.clone().oneshot(req).await?;
        response.into_body().collect().await?;
        // One comparison at a time, so the examples kept (the first seen) are the same on
        // every run; real traffic needs no such wait.
        handle.wait_idle().await;
    }

    let stats = handle.stats();
    println!(
        "compared {} answers: {} matched, {} differed, {} skipped\n",
        stats.compared, stats.matched, stats.differed, stats.compare_skipped
    );
    let report = handle.compare_report();
    print!("{report}");
    if let Some(path) = html_path {
        std::fs::write(&path, report.to_html())?;
        println!("\nHTML report written to {path}");
    }
    Ok(())
}

/// `--html FILE`: also write the report as a page.
fn html_path() -> Result<Option<String>, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--html"), Some(path)) => Ok(Some(path)),
        _ => Err("usage: compare [--html FILE]".to_owned()),
    }
}
