//! `--admin ADDR`: what an operator asks the running proxy. `GET /healthz`, `GET /stats`
//! (every mirror's counters), `GET /config` (the rules in force and when they were
//! loaded), `GET /report` (compare mode).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::reload::ReloadStatus;
use crate::routing::Routing;
use crate::stats::MirrorReport;

/// How long an admin client has to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin endpoints read.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) routing: Arc<ArcSwap<Routing>>,
    pub(crate) reload: Arc<ReloadStatus>,
    /// The files the routing is read from (none without --rules).
    pub(crate) files: Vec<String>,
}

/// Binds `addr` and serves the admin endpoints on it from a task of their own.
pub(crate) async fn serve(addr: SocketAddr, admin: Arc<Admin>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "the admin address is not loopback: whoever reaches it can read \
            the configuration and the counters");
    }
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors: the proxy's own accept loop says so.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let admin = admin.clone();
            let service = hyper::service::service_fn(move |req| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(admin.respond(&req)) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Ok(local)
}

impl Admin {
    fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let get = |answer: Response<Full<Bytes>>| {
            if req.method() == Method::GET || req.method() == Method::HEAD {
                answer
            } else {
                not_allowed("GET")
            }
        };
        match req.uri().path() {
            "/healthz" => get(text(StatusCode::OK, "ok\n")),
            "/stats" => get(json(&self.stats())),
            "/config" => get(json(&self.config())),
            "/report" => get(self.report()),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /healthz, /stats, /config, /report\n",
            ),
        }
    }

    fn stats(&self) -> serde_json::Value {
        let routing = self.routing.load();
        let mirrors: Vec<_> = routing.mirrors.iter().map(MirrorReport::new).collect();
        serde_json::json!({ "mirrors": mirrors })
    }

    fn config(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Config<'a> {
            loaded_at: String,
            files: &'a [String],
            primary: Option<&'a str>,
            rules: &'a [crate::routing::RuleSummary],
            mirrors: Vec<&'a str>,
            reload: &'a ReloadStatus,
        }
        let routing = self.routing.load();
        let config = Config {
            loaded_at: humantime::format_rfc3339_millis(routing.loaded_at).to_string(),
            files: &self.files,
            primary: routing.primary.as_deref(),
            rules: &routing.rules,
            mirrors: routing.mirrors.iter().map(|m| m.name.as_str()).collect(),
            reload: &self.reload,
        };
        serde_json::to_value(&config).unwrap_or_default()
    }

    #[cfg(feature = "compare")]
    fn report(&self) -> Response<Full<Bytes>> {
        let routing = self.routing.load();
        let reports: Vec<_> = routing
            .mirrors
            .iter()
            .filter(|m| m.compare)
            .map(|m| {
                let report: serde_json::Value =
                    serde_json::from_str(&m.handle.compare_report().to_json()).unwrap_or_default();
                serde_json::json!({ "name": m.name, "report": report })
            })
            .collect();
        if reports.is_empty() {
            return text(
                StatusCode::NOT_FOUND,
                "no mirror compares: start with --compare\n",
            );
        }
        json(&serde_json::json!({ "mirrors": reports }))
    }

    #[cfg(not(feature = "compare"))]
    fn report(&self) -> Response<Full<Bytes>> {
        text(
            StatusCode::NOT_FOUND,
            "this build has no compare mode (feature `compare`)\n",
        )
    }
}

fn json(value: &impl Serialize) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    let mut response = Response::new(Full::from(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}
