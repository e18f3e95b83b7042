//! What a [`Router`](super::Router) needs of a backend.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{BoxError, Service};

use super::RouterBody;

/// What a [`Router`](super::Router) needs of a backend: it serves routed requests as a
/// primary (`Request<RouterBody>`) and copies as a shadow (`Request<Full<Bytes>>`), both
/// answered with a response body `RB`. Implemented for every such service, as
/// [`HttpUpstream`](crate::upstream::HttpUpstream) is.
///
/// ```
/// use tower_mirror::istio::RouterBackend;
/// use tower_mirror::upstream::HttpUpstream;
///
/// fn takes<S: RouterBackend<hyper::body::Incoming>>(_: S) {}
/// takes("http://127.0.0.1:9001".parse::<HttpUpstream>().unwrap());
/// ```
pub trait RouterBackend<RB>:
    Service<Request<RouterBody>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
    + Service<Request<Full<Bytes>>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S, RB> RouterBackend<RB> for S where
    S: Service<Request<RouterBody>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
        + Service<Request<Full<Bytes>>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}
