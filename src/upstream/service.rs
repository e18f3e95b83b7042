use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::base::{Base, shown_str};
use super::builder::Builder;
use super::error::{Kind, UpstreamError};
use super::future::ResponseFuture;
use crate::BoxError;

/// The one body type the pooled client is typed over; any request body is boxed into it.
type ClientBody = UnsyncBoxBody<Bytes, BoxError>;

/// A Tower [`Service`] that sends each HTTP request to one base URL over a shared,
/// pooled `hyper_util` client.
///
/// Each request is rewritten onto the base: its scheme and authority replaced, its path
/// and query kept (after the base's path, if any: base `http://h:1/api` and request
/// `/v1/x?q=1` give `/api/v1/x?q=1`), `Host` set to the base's authority, hop-by-hop
/// headers dropped (`connection` and those it names, `keep-alive`, `proxy-connection`,
/// `proxy-authenticate`, `proxy-authorization`, `te`, `trailer`, `transfer-encoding`,
/// `upgrade`), and the version set to HTTP/1.1 whatever it came in as (HTTP/2 with
/// [`Builder::http2_prior_knowledge`], which carries the authority in `:authority` and
/// drops `Host`). The response, status, headers and streaming body, comes back as it is.
///
/// Clones share one connection pool, so clone freely (axum and [`Mirror`](crate::Mirror) clone per
/// request). It works as a primary service and as a mirror's shadow.
///
/// # Runtime
///
/// Calls need a Tokio runtime with I/O and timers enabled (as `#[tokio::main]` gives);
/// outside one, the call fails with [`UpstreamError::is_no_runtime`].
///
/// # TLS
///
/// `https` base URLs are accepted, but this build has no TLS connector: every call to
/// one fails with [`UpstreamError::is_tls_unsupported`]. Put a TLS-terminating proxy in
/// front, or use a TLS-capable client as the service instead.
///
/// # Not supported
///
/// Protocol upgrades (WebSocket, `CONNECT` tunnels): the `upgrade` header is dropped.
///
/// # Example
///
/// ```no_run
/// use http::Request;
/// use http_body_util::Full;
/// use bytes::Bytes;
/// use tower::ServiceExt;
/// use tower_mirror::upstream::HttpUpstream;
///
/// # async fn run() -> Result<(), tower_mirror::BoxError> {
/// let upstream: HttpUpstream = "http://127.0.0.1:9001".parse()?;
/// let req = Request::get("/status?verbose=1").body(Full::new(Bytes::new()))?;
/// let res = upstream.oneshot(req).await?; // GET http://127.0.0.1:9001/status?verbose=1
/// println!("{}", res.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpUpstream {
    shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) client: Client<HttpConnector, ClientBody>,
    pub(super) base: Base,
    pub(super) http2: bool,
    pub(super) preserve_host: bool,
}

impl HttpUpstream {
    /// An upstream for `base` with the default settings (see [`Builder`]).
    ///
    /// # Panics
    ///
    /// If `base` has no `http`/`https` scheme or no host, or carries credentials or a
    /// query: like Tower's builders, a wrong address is a configuration bug found at
    /// start-up. Use [`try_new`](Self::try_new) or `str::parse` for addresses that come
    /// from outside.
    ///
    /// # Example
    ///
    /// ```
    /// use http::Uri;
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// let upstream = HttpUpstream::new(Uri::from_static("http://127.0.0.1:9001"));
    /// assert_eq!(upstream.base(), "http://127.0.0.1:9001");
    /// ```
    pub fn new(base: Uri) -> Self {
        match Self::try_new(base) {
            Ok(upstream) => upstream,
            Err(err) => panic!("{err}"),
        }
    }

    /// An upstream for `base` with the default settings, or an error saying why the URL
    /// is refused: it must be `http` or `https`, have a host, and carry no credentials and
    /// no query. A path is kept as a prefix for every request.
    ///
    /// # Example
    ///
    /// ```
    /// use http::Uri;
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// let err = HttpUpstream::try_new(Uri::from_static("/no/host")).unwrap_err();
    /// assert!(err.is_invalid_url());
    /// ```
    pub fn try_new(base: Uri) -> Result<Self, UpstreamError> {
        Builder::default().build(base)
    }

    /// A [`Builder`] to set timeouts, pool limits or HTTP/2.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// let h2 = HttpUpstream::builder()
    ///     .http2_prior_knowledge()
    ///     .build("http://127.0.0.1:9002".parse().unwrap())
    ///     .unwrap();
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The base URL requests go to, as `scheme://authority/path-prefix`.
    pub fn base(&self) -> &str {
        self.shared.base.display()
    }

    pub(super) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl FromStr for HttpUpstream {
    type Err = UpstreamError;

    /// Parses a base URL such as `http://127.0.0.1:9001` or `http://backend:8080/api`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: Uri = s.parse().map_err(|e| {
            let why = match s.split_once("://") {
                Some((_, rest)) if rest.is_empty() || rest.starts_with('/') => {
                    "it has no host".to_owned()
                }
                _ => format!("not a URL ({e})"),
            };
            UpstreamError::invalid_url(&shown_str(s), why)
        })?;
        Self::try_new(uri)
    }
}

impl<B> Service<Request<B>> for HttpUpstream
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = UpstreamError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The pooled client queues internally; it is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let base = &shared.base;
        if base.is_https() {
            return ResponseFuture::failed(UpstreamError::new(
                Kind::TlsUnsupported,
                base.display().clone(),
            ));
        }
        // hyper_util spawns connection tasks on the current runtime and would panic.
        if tokio::runtime::Handle::try_current().is_err() {
            return ResponseFuture::failed(UpstreamError::new(
                Kind::NoRuntime,
                base.display().clone(),
            ));
        }
        let mut req = req.map(|body| body.map_err(Into::into).boxed_unsync());
        if let Err(err) = base.rewrite(&mut req, shared.http2, shared.preserve_host) {
            return ResponseFuture::failed(err);
        }
        ResponseFuture::sending(shared.client.request(req), base.display().clone())
    }
}

impl fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpUpstream")
            .field("base", &self.base())
            .field("http2_prior_knowledge", &self.shared.http2)
            .finish()
    }
}
