//! A shadowing reverse proxy in a few lines: how to embed tower-mirror in a hyper server.
//!
//! ```text
//! cargo run --example shadow_proxy -- 127.0.0.1:8080 http://127.0.0.1:9001 http://127.0.0.1:9002
//! ```
//!
//! Every request goes to the primary (second argument) and a copy to the shadow (third);
//! Ctrl-C stops accepting, waits for copies in flight and prints the mirror's stats.
//!
//! For a proxy to run in front of real traffic (flags and environment variables, Istio
//! rules with reload, TLS, timeouts and limits toward clients and upstreams, forwarding
//! headers, an access log, an admin endpoint), install the `tower-mirror-proxy` binary:
//! `cargo install --path proxy`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tower::{ServiceBuilder, ServiceExt};
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{BoxError, MirrorLayer};

type Body = BoxBody<Bytes, BoxError>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, primary, shadow] = args.as_slice() else {
        return Err("usage: shadow_proxy LISTEN_ADDR PRIMARY_URL SHADOW_URL".into());
    };
    let primary: HttpUpstream = primary.parse()?;
    let shadow: HttpUpstream = shadow.parse()?;

    let mirror = MirrorLayer::new(shadow)
        .timeout(Duration::from_secs(2))
        .max_in_flight(256)
        .circuit_breaker(5, Duration::from_secs(10));
    let handle = mirror.handle();
    let app = ServiceBuilder::new().layer(mirror).service(primary);
    // A failing primary answers 502, without details (they go to the log).
    let service = hyper::service::service_fn(move |req| {
        let app = app.clone();
        async move {
            Ok::<_, Infallible>(match app.oneshot(req).await {
                Ok(response) => response.map(|body| body.map_err(Into::into).boxed()),
                Err(error) => {
                    eprintln!("primary failed: {error}");
                    let body = Full::from("bad gateway\n").map_err(Into::into).boxed();
                    let mut bad_gateway: Response<Body> = Response::new(body);
                    *bad_gateway.status_mut() = StatusCode::BAD_GATEWAY;
                    bad_gateway
                }
            })
        }
    });

    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let server = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let connection = server.serve_connection(TokioIo::new(stream), service.clone());
                tokio::spawn(graceful.watch(connection.into_owned()));
            }
            _ = &mut ctrl_c => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    let cut = handle.shutdown(Duration::from_secs(5)).await;
    println!("{:?} ({cut} copies cut at shutdown)", handle.stats());
    Ok(())
}
