//! `--admin ADDR`: what an operator asks the running proxy, and tells it. `GET /healthz`,
//! `GET /stats` (every mirror's counters), `GET /config` (the rules in force and when they
//! were loaded), `GET /report` (compare mode), `GET /metrics` (Prometheus text, feature
//! `metrics`); `POST /mirrors/pause`, `/mirrors/resume` and `/mirrors/percent?value=P`
//! (every mirror, or the one named by `mirror=NAME`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::reload::ReloadStatus;
use crate::routing::{MirrorEntry, Routing};
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
    /// What renders `/metrics`.
    #[cfg(feature = "metrics")]
    pub(crate) prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
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
        let post = |control: Control| {
            if req.method() == Method::POST {
                self.control(control, req.uri().query().unwrap_or(""))
            } else {
                not_allowed("POST")
            }
        };
        match req.uri().path() {
            "/healthz" => get(text(StatusCode::OK, "ok\n")),
            "/stats" => get(self.stats()),
            "/config" => get(json(&self.config())),
            "/report" => get(self.report(wants_html(req))),
            "/metrics" => get(self.metrics()),
            "/mirrors/pause" => post(Control::Pause),
            "/mirrors/resume" => post(Control::Resume),
            "/mirrors/percent" => post(Control::Percent),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /healthz, /stats, /config, /report, /metrics, \
                 POST /mirrors/pause, /mirrors/resume, /mirrors/percent?value=P\n",
            ),
        }
    }

    /// Pauses, resumes or sets the share of every mirror, or of `mirror=NAME`; answers
    /// with what the mirrors are set to now.
    fn control(&self, control: Control, query: &str) -> Response<Full<Bytes>> {
        let routing = self.routing.load();
        let named = query_value(query, "mirror");
        let mirrors: Vec<&MirrorEntry> = routing
            .mirrors
            .iter()
            .filter(|m| named.as_deref().is_none_or(|name| m.name == name))
            .collect();
        if mirrors.is_empty() {
            return match named {
                Some(name) => {
                    text_owned(StatusCode::NOT_FOUND, format!("no mirror named {name:?}\n"))
                }
                None => text(StatusCode::NOT_FOUND, "no mirror to control\n"),
            };
        }
        match control {
            Control::Pause => mirrors.iter().for_each(|m| m.handle.pause()),
            Control::Resume => mirrors.iter().for_each(|m| m.handle.resume()),
            Control::Percent => {
                let Some(value) = query_value(query, "value") else {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "give the share as ?value=P (0 to 100)\n",
                    );
                };
                let Ok(percent) = value.parse::<f64>() else {
                    return text_owned(
                        StatusCode::BAD_REQUEST,
                        format!("value {value:?}: not a number\n"),
                    );
                };
                // All or none: the first refusal is the same for every mirror.
                if let Err(error) = mirrors[0].handle.try_set_sample_percent(percent) {
                    return text_owned(
                        StatusCode::BAD_REQUEST,
                        format!("value {value:?}: {error}\n"),
                    );
                }
                for mirror in &mirrors[1..] {
                    // Accepted for the first: accepted for every one.
                    let _ = mirror.handle.try_set_sample_percent(percent);
                }
            }
        }
        for mirror in &mirrors {
            tracing::info!(
                mirror = %mirror.name,
                paused = mirror.handle.is_paused(),
                percent = mirror.handle.sample_percent(),
                "mirror set from the admin address"
            );
        }
        json(&Mirrors {
            mirrors: mirrors.into_iter().map(MirrorReport::new).collect(),
        })
    }

    #[cfg(feature = "metrics")]
    fn metrics(&self) -> Response<Full<Bytes>> {
        let Some(prometheus) = &self.prometheus else {
            return text(StatusCode::NOT_FOUND, "no metrics recorder\n");
        };
        let mut response = Response::new(Full::from(prometheus.render()));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    }

    #[cfg(not(feature = "metrics"))]
    fn metrics(&self) -> Response<Full<Bytes>> {
        text(
            StatusCode::NOT_FOUND,
            "this build has no metrics (feature `metrics`)\n",
        )
    }

    fn stats(&self) -> Response<Full<Bytes>> {
        let routing = self.routing.load();
        json(&Mirrors {
            mirrors: routing.mirrors.iter().map(MirrorReport::new).collect(),
        })
    }

    fn config(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Config<'a> {
            loaded_at: String,
            files: &'a [String],
            primary: Option<&'a str>,
            rules: &'a [crate::rule_files::RuleSummary],
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

    /// JSON for every comparing mirror; with `Accept: text/html`, the first one's report
    /// as a self-contained page (a browser opening the admin address).
    #[cfg(feature = "compare")]
    fn report(&self, html: bool) -> Response<Full<Bytes>> {
        let routing = self.routing.load();
        if html {
            return match routing.mirrors.iter().find(|m| m.compare) {
                Some(m) => {
                    let mut response =
                        Response::new(Full::from(m.handle.compare_report().to_html()));
                    response.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    response
                }
                None => text(
                    StatusCode::NOT_FOUND,
                    "no mirror compares: start with --compare\n",
                ),
            };
        }
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
    fn report(&self, _html: bool) -> Response<Full<Bytes>> {
        text(
            StatusCode::NOT_FOUND,
            "this build has no compare mode (feature `compare`)\n",
        )
    }
}

/// Each mirror's report, in the order the mirrors see requests.
#[derive(Serialize)]
struct Mirrors<'a> {
    mirrors: Vec<MirrorReport<'a>>,
}

/// What a `POST /mirrors/...` asks.
#[derive(Clone, Copy, Debug)]
enum Control {
    Pause,
    Resume,
    Percent,
}

/// The value of `key` in a query string, percent-decoded (`+` is a space).
fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decoded(k)? == key).then(|| decoded(v)).flatten()
    })
}

/// Percent-decodes `text`; `None` when that is not UTF-8 or a `%` is not followed by two
/// hex digits.
fn decoded(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        match first {
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            }
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            other => {
                bytes.push(other);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// Whether the client asks for HTML before anything else it accepts.
fn wants_html(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
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
    text_owned(status, body.to_owned())
}

fn text_owned(status: StatusCode, body: String) -> Response<Full<Bytes>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        let query = "value=12.5&mirror=httpbin%2F0-%3Ehttpbin%7Bversion%3Dv2%7D";
        assert_eq!(query_value(query, "value").as_deref(), Some("12.5"));
        assert_eq!(
            query_value(query, "mirror").as_deref(),
            Some("httpbin/0->httpbin{version=v2}")
        );
        assert_eq!(query_value("a+b=c+d", "a b").as_deref(), Some("c d"));
        assert_eq!(query_value("value", "value").as_deref(), Some(""));
        assert_eq!(query_value("value=%zz", "value"), None);
        assert_eq!(query_value("other=1", "value"), None);
    }
}
