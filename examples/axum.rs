//! An axum app that mirrors its traffic to a shadow deployment.
//!
//! ```text
//! cargo run --example axum -- [--listen 127.0.0.1:3000] [--shadow http://127.0.0.1:9002]
//! SHADOW_URL=http://127.0.0.1:9002 cargo run --example axum
//! ```
//!
//! Every request is served by the app's own handlers; a copy goes to the shadow, whose
//! answers are ignored. Ctrl-C stops the server, waits for copies in flight and prints the
//! mirror stats.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{BoxError, MirrorHandle, MirrorLayer};

/// The app: its routes, with every request mirrored to `shadow`.
pub fn app(shadow: HttpUpstream) -> (Router, MirrorHandle) {
    let mirror = MirrorLayer::new(shadow)
        .sample_percent(100.0) // lower it to mirror only a share of the traffic
        .timeout(Duration::from_secs(2))
        .strip_credentials(); // the shadow never sees Authorization or Cookie
    let handle = mirror.handle();
    let router = Router::new()
        .route("/", get(index))
        .route("/orders", post(create_order))
        .layer(mirror);
    (router, handle)
}

async fn index() -> &'static str {
    "hello from the primary\n"
}

async fn create_order(body: String) -> impl IntoResponse {
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"created":{body}}}"#),
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (listen, shadow) = config()?;
    println!("mirroring to {}", shadow.base());
    let (app, handle) = app(shadow);

    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;

    let cut = handle.shutdown(Duration::from_secs(5)).await;
    let stats = handle.stats();
    println!("mirror stats: {stats:?}, {cut} copies cut at shutdown");
    Ok(())
}

/// `--listen ADDR` (default 127.0.0.1:3000) and `--shadow URL` (default `$SHADOW_URL`,
/// else http://127.0.0.1:9002).
fn config() -> Result<(SocketAddr, HttpUpstream), BoxError> {
    let mut listen = "127.0.0.1:3000".to_owned();
    let mut shadow =
        std::env::var("SHADOW_URL").unwrap_or_else(|_| "http://127.0.0.1:9002".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--shadow" => shadow = value,
            _ => return Err(format!("unknown flag {flag} (use --listen, --shadow)").into()),
        }
    }
    let listen = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let shadow = shadow
        .parse()
        .map_err(|e| format!("--shadow {shadow}: {e}"))?;
    Ok((listen, shadow))
}
