//! The `tracing` span each copy runs in, with OpenTelemetry's HTTP client field names so
//! that `tracing-opentelemetry` and log pipelines read it as any other HTTP call.

use http::Request;
use http::header;
use http::uri::Authority;
use tracing::Span;
use tracing::field::Empty;

use super::event::MirrorEvent;

/// OpenTelemetry's `error.type` for an error of no known class.
const OTHER_ERROR: &str = "_OTHER";

/// A `debug` span (target `tower_mirror`, name `mirror`) for the copy `request`:
/// `http.request.method`, `url.path`, `server.address` and `server.port` (from the `Host`
/// header, else the URI), then, once the call ends, `outcome`, `latency_ms`,
/// `http.response.status_code` and `error.type`.
pub(crate) fn copy_span<B>(request: &Request<B>) -> Span {
    let span = tracing::debug_span!(
        target: "tower_mirror",
        "mirror",
        http.request.method = %request.method(),
        url.path = request.uri().path(),
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
        error.type = Empty,
        outcome = Empty,
        latency_ms = Empty,
    );
    // Parsing the host costs more than the span: only for a span someone listens to.
    if !span.is_disabled() {
        let authority = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .and_then(|host| host.parse::<Authority>().ok())
            .or_else(|| request.uri().authority().cloned());
        if let Some(authority) = authority {
            span.record("server.address", authority.host());
            if let Some(port) = authority.port_u16() {
                span.record("server.port", port);
            }
        }
    }
    span
}

/// Records how the copy's call ended on the current span, and says so at `debug`.
pub(crate) fn record_outcome(outcome: &MirrorEvent) {
    let span = Span::current();
    match outcome {
        MirrorEvent::Completed { status, latency } => {
            span.record("outcome", "completed");
            span.record("latency_ms", latency.as_secs_f64() * 1000.0);
            span.record("http.response.status_code", status.as_u16());
            // OpenTelemetry: a client span with a 4xx or 5xx answer ended in error.
            if status.is_client_error() || status.is_server_error() {
                span.record("error.type", status.as_str());
            }
            tracing::debug!(target: "tower_mirror", status = status.as_u16(), "shadow answered");
        }
        MirrorEvent::Failed { latency, error } => {
            span.record("outcome", "failed");
            span.record("latency_ms", latency.as_secs_f64() * 1000.0);
            span.record("error.type", OTHER_ERROR);
            tracing::debug!(target: "tower_mirror", error = %error, "shadow failed");
        }
        _ => {
            span.record("outcome", "timed_out");
            span.record("error.type", "timeout");
            tracing::debug!(target: "tower_mirror", "shadow timed out");
        }
    }
}
