use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use tower_service::Service;

use super::bound_client::BoundClient;
use super::error::UpstreamError;
use super::future::ResponseFuture;
use crate::BoxError;

/// A Tower [`Service`] that sends each HTTP request to one base URL over a shared,
/// pooled `hyper_util` client.
///
/// Each request is rewritten onto the base: its scheme and authority replaced, its path
/// and query kept (after the base's path, if any: base `http://h:1/api` and request
/// `/v1/x?q=1` give `/api/v1/x?q=1`), `Host` set to the base's authority, hop-by-hop
/// headers dropped (`connection` and those it names, `keep-alive`, `proxy-connection`,
/// `proxy-authenticate`, `proxy-authorization`, `te`, `trailer`, `transfer-encoding`,
/// `upgrade`), and the version set to HTTP/1.1 whatever it came in as (HTTP/2 with
/// [`Builder::http2_prior_knowledge`](super::Builder::http2_prior_knowledge), which carries the authority in `:authority` and
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
/// With the `rustls` feature an `https` base connects over TLS (trust roots, client
/// identity and ALPN are set on the [`Builder`](super::Builder)); without it, an `https`
/// base is refused when the upstream is built or parsed
/// ([`UpstreamError::is_tls_unsupported`]). Any other connector, your own TLS stack
/// included, plugs in with [`from_client`](Self::from_client).
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
    client: Arc<BoundClient>,
}

impl HttpUpstream {
    /// The base URL requests go to, as `scheme://authority/path-prefix`.
    pub fn base(&self) -> &str {
        self.client.base().display()
    }

    pub(super) fn from_bound(client: BoundClient) -> Self {
        Self {
            client: Arc::new(client),
        }
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
        self.client.send(req)
    }
}

impl fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpUpstream")
            .field("base", &self.base())
            .field("http2_prior_knowledge", &self.client.http2())
            .finish()
    }
}
