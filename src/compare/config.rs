//! `CompareConfig`: what is compared, what is ignored, and the optional noise source.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use http::header::HeaderName;
use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceExt};

pub(crate) type NoiseBody = UnsyncBoxBody<Bytes, BoxError>;
pub(crate) type NoiseService =
    BoxCloneSyncService<Request<Full<Bytes>>, Response<NoiseBody>, BoxError>;
/// Reads a request's route template, e.g. from axum's `MatchedPath`.
pub(crate) type RouteFrom = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Headers that differ between any two answers (timestamps, hop details, ids): ignored
/// unless [`CompareConfig::compare_header`] asks for them.
const DEFAULT_IGNORED_HEADERS: [&str; 13] = [
    "date",
    "server",
    "x-request-id",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "age",
    "via",
    "etag",
    "last-modified",
    "expires",
    "x-envoy-upstream-service-time",
];

/// How the shadow's answers are compared with the primary's (see [`crate::compare`]).
///
/// ```
/// use tower_mirror::compare::CompareConfig;
///
/// let config = CompareConfig::new()
///     .max_body_bytes(256 * 1024)
///     .ignore_header("x-build-id")
///     .ignore_json_path("$.generated_at")
///     .ignore_json_path("$.items[*].etag")
///     .max_examples(2);
/// ```
#[derive(Clone)]
pub struct CompareConfig {
    pub(crate) max_body_bytes: usize,
    pub(crate) ignored_headers: HashSet<HeaderName>,
    ignored_paths: Vec<Vec<String>>,
    pub(crate) max_differences: usize,
    pub(crate) max_routes: usize,
    pub(crate) max_examples: usize,
    pub(crate) noise: Option<NoiseService>,
    /// The methods the noise instance is sent.
    pub(crate) noise_methods: Vec<Method>,
    pub(crate) route_from: Option<RouteFrom>,
}

impl fmt::Debug for CompareConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut headers: Vec<_> = self
            .ignored_headers
            .iter()
            .map(HeaderName::as_str)
            .collect();
        headers.sort_unstable();
        f.debug_struct("CompareConfig")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("ignored_headers", &headers)
            .field("ignored_paths", &self.ignored_paths)
            .field("max_differences", &self.max_differences)
            .field("max_routes", &self.max_routes)
            .field("max_examples", &self.max_examples)
            .field("noise", &self.noise.is_some())
            .field("noise_methods", &self.noise_methods)
            .field("route_from", &self.route_from.is_some())
            .finish()
    }
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            ignored_headers: DEFAULT_IGNORED_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
            ignored_paths: Vec::new(),
            max_differences: 32,
            max_routes: 1024,
            max_examples: 3,
            noise: None,
            noise_methods: vec![Method::GET, Method::HEAD],
            route_from: None,
        }
    }
}

impl CompareConfig {
    /// The defaults: bodies up to 1 MiB, volatile headers (`date`, `server`,
    /// `x-request-id`, `content-length`, hop-by-hop, caching validators) ignored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest response body compared, on either side (default 1 MiB). Past it the
    /// comparison is skipped (`compare_skipped`); the client's response is never touched.
    #[must_use]
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Ignores a header in comparisons.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name.
    #[must_use]
    pub fn ignore_header(mut self, name: &str) -> Self {
        self.ignored_headers.insert(header_name(name));
        self
    }

    /// Compares a header that is ignored by default (e.g. `content-length`).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name.
    #[must_use]
    pub fn compare_header(mut self, name: &str) -> Self {
        self.ignored_headers.remove(&header_name(name));
        self
    }

    /// Ignores a JSON location and everything under it: `$.generated_at`,
    /// `$.items[*].etag` (`[*]` and `.*` match any index or key).
    #[must_use]
    pub fn ignore_json_path(mut self, path: &str) -> Self {
        self.ignored_paths.push(segments(path));
        self
    }

    /// Most differences kept per comparison (default 32), to bound memory.
    #[must_use]
    pub fn max_differences(mut self, max: usize) -> Self {
        self.max_differences = max;
        self
    }

    /// Most routes (method + path template) tracked in the report (default 1024); the
    /// rest are counted under `(other)`.
    #[must_use]
    pub fn max_routes(mut self, max: usize) -> Self {
        self.max_routes = max.max(1);
        self
    }

    /// Examples kept per route and differing field (default 3; 0 keeps none): the request
    /// and both sides' values, bounded and with credentials redacted (see
    /// [`Example`](super::Example)). The first ones seen are kept; a report holds at most
    /// 1024 examples in all, so its memory does not grow with traffic.
    #[must_use]
    pub fn max_examples(mut self, max: usize) -> Self {
        self.max_examples = max;
        self
    }

    /// Names each request's route from the request itself instead of guessing a template
    /// from its path (numbers and long hex ids become `{n}` and `{id}`). `template`
    /// returns the path template; the route is the method, a space and that template.
    /// `None` falls back to the guess. It runs on the request's path, before the primary
    /// is called, so it should be cheap.
    ///
    /// With axum, the matched route is in the request's extensions when the layer is
    /// added with `Router::layer` or `route_layer` (not around the whole router):
    ///
    /// ```
    /// use axum::extract::MatchedPath;
    /// use tower_mirror::compare::CompareConfig;
    ///
    /// let config = CompareConfig::new().route_from(|parts| {
    ///     parts.extensions.get::<MatchedPath>().map(|path| path.as_str().to_owned())
    /// });
    /// ```
    #[must_use]
    pub fn route_from<F>(mut self, template: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.route_from = Some(Arc::new(template));
        self
    }

    /// Learns noise as Diffy does: each compared request is also sent to `secondary`, a
    /// second instance of the primary's version. Fields where the two primary-version
    /// answers differ (timestamps, random ids) are learned per route and no longer reported
    /// as differences of the shadow.
    ///
    /// Only `GET` and `HEAD` requests go to `secondary` unless
    /// [`noise_methods`](Self::noise_methods) says otherwise: it is a second instance of
    /// production, and a `POST` sent to it is a second write. With
    /// [`MirrorLayer::safe_methods_only`](crate::MirrorLayer::safe_methods_only), requests
    /// of other methods are not copied at all, so never reach it.
    #[must_use]
    pub fn noise_from<N, RB>(mut self, secondary: N) -> Self
    where
        N: Service<Request<Full<Bytes>>, Response = Response<RB>> + Clone + Send + Sync + 'static,
        N::Future: Send,
        N::Error: Into<BoxError>,
        RB: Body + Send + 'static,
        RB::Error: Into<BoxError>,
    {
        let boxed = secondary
            .map_response(|response: Response<RB>| {
                response.map(|body| {
                    body.map_frame(|frame| {
                        frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                    })
                    .map_err(Into::into)
                    .boxed_unsync()
                })
            })
            .map_err(Into::into);
        self.noise = Some(BoxCloneSyncService::new(boxed));
        self
    }

    /// The methods whose requests [`noise_from`](Self::noise_from) also sends to the
    /// second primary (default `GET` and `HEAD`). Widen it only for methods that change
    /// nothing on the primary's side, or for a secondary with a data store of its own.
    ///
    /// ```
    /// use http::Method;
    /// use tower_mirror::compare::CompareConfig;
    ///
    /// // The noise instance runs against a scratch database: it may take writes.
    /// let config = CompareConfig::new().noise_methods([Method::GET, Method::HEAD, Method::POST]);
    /// ```
    #[must_use]
    pub fn noise_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.noise_methods = methods.into_iter().collect();
        self
    }

    pub(crate) fn ignores_path(&self, path: &str) -> bool {
        if self.ignored_paths.is_empty() {
            return false;
        }
        let path = segments(path);
        self.ignored_paths.iter().any(|pattern| {
            pattern.len() == path.len()
                && pattern.iter().zip(&path).all(|(p, s)| {
                    p == s
                        || (p == "[*]" && s.starts_with('['))
                        || (p == ".*" && (s.starts_with('.') || s.starts_with("[\"")))
                })
        })
    }
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::try_from(name)
        .unwrap_or_else(|e| panic!("CompareConfig: invalid header name {name:?}: {e}"))
}

/// Splits `$.a[0]["b c"].d` into `$`, `.a`, `[0]`, `["b c"]`, `.d`.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                current.push(c);
            }
            '\\' if in_quotes => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '.' | '[' if !in_quotes && !current.is_empty() => {
                out.push(std::mem::take(&mut current));
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments() {
        assert_eq!(
            segments("$.a[0][\"b.c\"].d"),
            ["$", ".a", "[0]", "[\"b.c\"]", ".d"]
        );
    }

    #[test]
    fn wildcards_match_one_segment() {
        let config = CompareConfig::new().ignore_json_path("$.items[*].at");
        assert!(config.ignores_path("$.items[7].at"));
        assert!(!config.ignores_path("$.items[7].id"));
        assert!(!config.ignores_path("$.items"));
    }
}
