//! What gets mirrored (sampling, filter, upgrades, size) and what the copy's head looks like.

use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Uri};
use http_body::Body;

use super::control::{PPM, SampleControl, percent_of};
use super::event::SkipReason;
use super::stream::DEFAULT_WINDOW;
use crate::hop_by_hop::strip_hop_by_hop;
use crate::rng::{SharedRng, fnv1a64};

/// What to do with a request whose body is over `max_body_bytes`.
///
/// ```
/// use tower_mirror::{MirrorLayer, Oversize};
/// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// // Still tell the shadow the request happened, without its body.
/// let layer = MirrorLayer::new(shadow).max_body_bytes(64 * 1024).on_oversize(Oversize::HeadersOnly);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Oversize {
    /// Do not mirror the request (counted as `skipped_body_too_large`). The default.
    #[default]
    Skip,
    /// Send the copy as soon as the cap is known to be passed, with an empty body,
    /// `content-length: 0`, no `transfer-encoding` and `x-mirror-body-truncated: true`
    /// (counted in `mirrored` and `truncated`). Envoy and Istio drop these silently.
    HeadersOnly,
    /// Stream the copy: as soon as the cap is known to be passed (a `Content-Length` over
    /// it at `call`, or a body growing past it), the copy is sent (counted `mirrored`,
    /// [`Dispatched`](crate::MirrorEvent::Dispatched)) with what was buffered so far, and
    /// the rest of its body follows as the primary reads it, through a bounded window
    /// ([`stream_window`](crate::MirrorLayer::stream_window), 64 KiB by default, held in
    /// `max_buffered_bytes`). The default of layers built with
    /// [`MirrorLayer::streaming`](crate::MirrorLayer::streaming).
    ///
    /// The primary is never slowed, blocked or failed by it: when the shadow falls a whole
    /// window behind, or the primary's body fails, is dropped before its end or does not
    /// match its `Content-Length`, the copy is aborted: the shadow's body ends with an
    /// error (an HTTP shadow aborts its request rather than send it truncated as
    /// complete) and the copy counts as `failed` (for the circuit breaker too). A copy
    /// aborted before its shadow was called is not sent. A body dropped before the cap was passed
    /// was never sent: `skipped_body_incomplete`, as with the other choices. The copy's
    /// [`timeout`](crate::MirrorLayer::timeout) bounds the whole call, body included.
    ///
    /// Only a shadow that takes a streamed body can stream: on a layer built with
    /// [`MirrorLayer::new`](crate::MirrorLayer::new), whose shadow takes
    /// `Full<Bytes>`, `Stream` behaves as [`Skip`](Self::Skip) (counted
    /// `skipped_body_too_large`), with one `warn!` when the layer is built.
    ///
    /// ```
    /// use tower_mirror::{CopyBody, MirrorLayer, Oversize};
    /// let shadow = tower::service_fn(|_: http::Request<CopyBody>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// });
    /// // Copies up to 1 MiB are buffered and sent whole; larger ones are streamed.
    /// let layer = MirrorLayer::streaming(shadow).max_body_bytes(1 << 20).on_oversize(Oversize::Stream);
    /// ```
    Stream,
}

/// The header that marks a copy sent without its body.
pub(crate) const TRUNCATED_HEADER: HeaderName = HeaderName::from_static("x-mirror-body-truncated");

pub(crate) type Filter = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;
pub(crate) type MapRequest = Arc<dyn Fn(&mut Parts) + Send + Sync>;

/// The request-side settings of a layer.
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) max_body_bytes: usize,
    pub(crate) oversize: Oversize,
    /// Whether the shadow takes streamed bodies (a layer built with `streaming`).
    pub(crate) streams: bool,
    /// Stream every copy with a body, not only those over the cap.
    pub(crate) stream_bodies: bool,
    /// Bytes a streamed copy may have sent and its shadow not yet taken.
    pub(crate) stream_window: usize,
    /// The live share and pause switch, shared by the layer's family and its handles, so
    /// a change reaches every clone on its next request.
    pub(crate) sampling: Arc<SampleControl>,
    pub(crate) sample_header: Option<HeaderName>,
    pub(crate) filter: Option<Filter>,
    /// Mirror only GET, HEAD, OPTIONS and TRACE.
    pub(crate) safe_methods_only: bool,
    /// Remove the trace context headers from the copy.
    pub(crate) strip_trace_context: bool,
    pub(crate) host_suffix: Option<String>,
    pub(crate) extra_headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) remove_headers: Vec<HeaderName>,
    pub(crate) map_request: Option<MapRequest>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            oversize: Oversize::Skip,
            streams: false,
            stream_bodies: false,
            stream_window: DEFAULT_WINDOW,
            sampling: Arc::default(),
            sample_header: None,
            filter: None,
            safe_methods_only: false,
            strip_trace_context: false,
            host_suffix: None,
            extra_headers: Vec::new(),
            remove_headers: Vec::new(),
            map_request: None,
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("oversize", &self.oversize)
            .field("streams", &self.streams)
            .field("stream_bodies", &self.stream_bodies)
            .field("stream_window", &self.stream_window)
            .field("sample_percent", &percent_of(self.sampling.load().ppm()))
            .field("paused", &self.sampling.load().is_paused())
            .field("sample_header", &self.sample_header)
            .field("filter", &self.filter.is_some())
            .field("safe_methods_only", &self.safe_methods_only)
            .field("strip_trace_context", &self.strip_trace_context)
            .field("host_suffix", &self.host_suffix)
            .field("extra_headers", &self.extra_headers)
            .field("remove_headers", &self.remove_headers)
            .field("map_request", &self.map_request.is_some())
            .finish()
    }
}

/// How much of the body is already known at `call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyPlan {
    /// Known to be over the cap: send headers only, now.
    HeadersOnly,
    /// Known to be empty: send now.
    Empty,
    /// Copy frames as the primary reads them; a body of another length than `expected`
    /// (the validated `Content-Length`) is not sent.
    Buffer { expected: Option<u64> },
    /// Send now, the body streamed as the primary reads it; a body of another length than
    /// `expected` aborts the copy.
    Stream { expected: Option<u64> },
}

impl Policy {
    /// The pause and sampling: one relaxed load and one comparison for a request that is
    /// not copied (at 0 % or paused, nothing else is read).
    #[inline]
    pub(crate) fn sample<B>(&self, req: &Request<B>, rng: &SharedRng) -> Result<(), SkipReason> {
        let sampling = self.sampling.load();
        if sampling.is_paused() {
            return Err(SkipReason::Paused);
        }
        if !self.sampled(sampling.ppm(), req.headers(), rng) {
            return Err(SkipReason::Sampling);
        }
        Ok(())
    }

    /// Requests that are never copied whatever the settings: upgrades.
    pub(crate) fn screen<B>(&self, req: &Request<B>) -> Result<(), SkipReason> {
        if is_upgrade(req.method(), req.headers()) {
            return Err(SkipReason::Upgrade);
        }
        Ok(())
    }

    /// The method rule, then the filter, if any. The filter takes `&Parts`, so the
    /// request is split and rebuilt (moves only) when there is one.
    pub(crate) fn filter<B>(&self, req: Request<B>) -> (Request<B>, Result<(), SkipReason>) {
        if self.safe_methods_only && !is_safe(req.method()) {
            return (req, Err(SkipReason::Filter));
        }
        let Some(filter) = &self.filter else {
            return (req, Ok(()));
        };
        let (parts, body) = req.into_parts();
        let keep = filter(&parts);
        let req = Request::from_parts(parts, body);
        (
            req,
            if keep {
                Ok(())
            } else {
                Err(SkipReason::Filter)
            },
        )
    }

    /// How the body will be copied, or why it will not: its declared size and state.
    pub(crate) fn body_plan<B: Body>(&self, req: &Request<B>) -> Result<BodyPlan, SkipReason> {
        let body = req.body();
        let Ok(expected) = content_length(req.headers()) else {
            return Err(SkipReason::BodyIncomplete);
        };
        let declared = expected.unwrap_or(0);
        if self.stream_bodies && self.streams && !body.is_end_stream() {
            return Ok(BodyPlan::Stream { expected });
        }
        if declared.max(body.size_hint().lower()) > self.max_body_bytes as u64 {
            return match self.oversize {
                Oversize::Stream if self.streams => Ok(BodyPlan::Stream { expected }),
                Oversize::Skip | Oversize::Stream => Err(SkipReason::BodyTooLarge),
                Oversize::HeadersOnly => Ok(BodyPlan::HeadersOnly),
            };
        }
        if body.is_end_stream() {
            // An empty body under a non-zero `Content-Length` is a lie the copy must not repeat.
            return if declared == 0 {
                Ok(BodyPlan::Empty)
            } else {
                Err(SkipReason::BodyIncomplete)
            };
        }
        Ok(BodyPlan::Buffer { expected })
    }

    /// The one sampling rule, at build time and after every change: mirrored when the
    /// draw (the header's FNV-1a 64 hash, else a random number) modulo one million is
    /// below the share in parts per million.
    #[inline]
    fn sampled(&self, ppm: u32, headers: &HeaderMap, rng: &SharedRng) -> bool {
        match ppm {
            PPM => true,
            0 => false,
            ppm => {
                let draw = match self.sample_header.as_ref().and_then(|h| headers.get(h)) {
                    Some(value) => fnv1a64(value.as_bytes()) % u64::from(PPM),
                    None => rng.below(u64::from(PPM)),
                };
                draw < u64::from(ppm)
            }
        }
    }

    /// The copy's head: method, URI and version as received; headers minus hop-by-hop and
    /// removed ones, with the host suffix and extra headers; no extensions.
    pub(crate) fn copy_head(&self, req: &Request<impl Sized>) -> Parts {
        let (mut head, ()) = Request::new(()).into_parts();
        head.method = req.method().clone();
        head.uri = req.uri().clone();
        head.version = req.version();
        head.headers = req.headers().clone();
        strip_hop_by_hop(&mut head.headers);
        strip_proxy_headers(&mut head.headers);
        if self.strip_trace_context {
            strip_trace_context(&mut head.headers);
        }
        for name in &self.remove_headers {
            head.headers.remove(name);
        }
        if let Some(suffix) = &self.host_suffix {
            add_host_suffix(&mut head, suffix);
        }
        for (name, value) in &self.extra_headers {
            head.headers.insert(name.clone(), value.clone());
        }
        if let Some(map_request) = &self.map_request {
            map_request(&mut head);
        }
        head
    }
}

/// Marks a copy sent without its body (`Oversize::HeadersOnly`).
pub(crate) fn mark_truncated(head: &mut Parts) {
    head.headers.remove(header::TRANSFER_ENCODING);
    head.headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    head.headers
        .insert(TRUNCATED_HEADER, HeaderValue::from_static("true"));
}

/// RFC 9110's safe methods (§9.2.1): a shadow that shares a data store with the primary
/// can take them without writing twice.
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The headers that carry a trace from hop to hop: W3C Trace Context (`traceparent`,
/// `tracestate`), Zipkin B3 (`b3`, `x-b3-*`) and Jaeger (`uber-trace-id`).
const TRACE_HEADERS: [&str; 4] = ["traceparent", "tracestate", "b3", "uber-trace-id"];

/// Without them the shadow starts traces of its own instead of joining the client's.
fn strip_trace_context(headers: &mut HeaderMap) {
    for name in TRACE_HEADERS {
        headers.remove(name);
    }
    let b3 = |name: &HeaderName| name.as_str().starts_with("x-b3-");
    if headers.keys().any(b3) {
        let names: Vec<HeaderName> = headers.keys().filter(|n| b3(n)).cloned().collect();
        for name in names {
            headers.remove(name);
        }
    }
}

/// `CONNECT` tunnels and `Upgrade` handshakes (WebSocket, h2c) cannot be replayed.
fn is_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::CONNECT || headers.contains_key(header::UPGRADE)
}

/// The declared body length: `Ok(None)` without `Content-Length`; `Err` when it is not one
/// plain number (junk, a sign, conflicting values): the copy must not repeat such a header.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, InvalidLength> {
    let mut declared = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        // RFC 9110 §8.6 allows a list of identical values, e.g. `5, 5`.
        for part in value.to_str().map_err(|_| InvalidLength)?.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidLength);
            }
            let n: u64 = part.parse().map_err(|_| InvalidLength)?;
            if declared.is_some_and(|d| d != n) {
                return Err(InvalidLength);
            }
            declared = Some(n);
        }
    }
    Ok(declared)
}

/// A `Content-Length` that is not one plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidLength;

/// The copy loses the whole `proxy-*` family (guarantee 3), not only the standard
/// hop-by-hop ones: they address the hop, and a shadow must not act on them.
fn strip_proxy_headers(headers: &mut HeaderMap) {
    let proxy = |name: &HeaderName| name.as_str().starts_with("proxy-");
    if headers.keys().any(proxy) {
        let names: Vec<HeaderName> = headers.keys().filter(|n| proxy(n)).cloned().collect();
        for name in names {
            headers.remove(name);
        }
    }
}

/// Envoy's format: `host:port` becomes `host<suffix>:port`, on the `Host` header if there
/// is one, else on the URI's authority.
fn add_host_suffix(head: &mut Parts, suffix: &str) {
    if let Some(host) = head.headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        if let Ok(value) = HeaderValue::from_str(&suffixed(host, suffix)) {
            head.headers.insert(header::HOST, value);
        }
        return;
    }
    let Some(authority) = head.uri.authority() else {
        return;
    };
    let mut parts = head.uri.clone().into_parts();
    if let Ok(authority) = suffixed(authority.as_str(), suffix).parse() {
        parts.authority = Some(authority);
        if let Ok(uri) = Uri::from_parts(parts) {
            head.uri = uri;
        }
    }
}

fn suffixed(host: &str, suffix: &str) -> String {
    match host.rsplit_once(':') {
        // A port, not the inside of an IPv6 literal (`[::1]`): only digits after it.
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && !name.ends_with(':') =>
        {
            format!("{name}{suffix}:{port}")
        }
        _ => format!("{host}{suffix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_goes_before_the_port() {
        assert_eq!(suffixed("httpbin:8000", "-shadow"), "httpbin-shadow:8000");
        assert_eq!(suffixed("httpbin", "-shadow"), "httpbin-shadow");
        assert_eq!(suffixed("[::1]:80", "-s"), "[::1]-s:80");
    }
}
