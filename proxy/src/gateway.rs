//! One client request through the proxy: forwarding headers on the way in, the routing in
//! force, a deadline for the primary, and what the client is told when it fails (a bare
//! `502 bad gateway`, `504 gateway timeout` or `400 bad request`; the details go to the
//! log, never to the client).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, TRANSFER_ENCODING};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tower::{BoxError, ServiceExt};
use tower_mirror::upstream::UpstreamError;

use crate::access_log::Entry;
use crate::decision::InScope;
use crate::forwarding::{Client, Forwarding};
use crate::idle::{Activity, Busy};
use crate::routing::{ProxyBody, Routing};

/// What every request shares.
#[derive(Debug)]
pub(crate) struct Gateway {
    /// The routing in force; a reload swaps it.
    pub(crate) routing: Arc<ArcSwap<Routing>>,
    pub(crate) forwarding: Forwarding,
    pub(crate) primary_timeout: Duration,
    pub(crate) access_log: bool,
}

/// The gateway as one client connection's hyper service.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionService {
    gateway: Arc<Gateway>,
    client: Client,
    activity: Arc<Activity>,
}

impl ConnectionService {
    pub(crate) fn new(gateway: Arc<Gateway>, client: Client, activity: Arc<Activity>) -> Self {
        Self {
            gateway,
            client,
            activity,
        }
    }
}

type RoutedFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, BoxError>> + Send>>;
type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<Incoming>) -> ResponseFuture {
        let busy = self.activity.begin();
        let gateway = &self.gateway;
        let (mut parts, body) = req.into_parts();
        let mut entry = gateway
            .access_log
            .then(|| Entry::start(self.client.ip, &parts.method, parts.uri.path()));
        let decisions = entry.as_ref().map(Entry::decisions);
        if let Some(decisions) = &decisions {
            parts.extensions.insert(decisions.clone());
        }
        gateway
            .forwarding
            .request(&mut parts.headers, &parts.uri, parts.version, self.client);
        let (method, uri) = (parts.method.clone(), parts.uri.clone());
        let body_failed = Arc::new(AtomicBool::new(false));
        let body = ClientBody {
            body,
            failed: body_failed.clone(),
        };
        let routing = gateway.routing.load_full();
        let call: RoutedFuture = Box::pin(
            routing
                .service
                .clone()
                .oneshot(Request::from_parts(parts, body.boxed_unsync())),
        );
        let (limit, forwarding) = (gateway.primary_timeout, gateway.forwarding);

        Box::pin(async move {
            let outcome = tokio::time::timeout(limit, InScope::new(call, decisions)).await;
            // Held until the primary has answered: a reload does not drop what serves it.
            drop(routing);
            let mut response = match outcome {
                Ok(Ok(response)) => answer(response, forwarding, &method, &uri),
                Ok(Err(error)) if body_failed.load(Ordering::Acquire) => {
                    tracing::debug!(%method, path = uri.path(), %error, "the client's request body failed: 400");
                    page(StatusCode::BAD_REQUEST)
                }
                Ok(Err(error)) if is_timeout(&*error) => {
                    tracing::warn!(%method, path = uri.path(), %error, "the primary timed out: 504");
                    page(StatusCode::GATEWAY_TIMEOUT)
                }
                Ok(Err(error)) => {
                    tracing::warn!(%method, path = uri.path(), %error, "the primary failed: 502");
                    page(StatusCode::BAD_GATEWAY)
                }
                Err(_) => {
                    tracing::warn!(%method, path = uri.path(), timeout = ?limit,
                        "the primary did not answer within --primary-timeout: 504");
                    page(StatusCode::GATEWAY_TIMEOUT)
                }
            };
            if let Some(entry) = &mut entry {
                entry.answered(response.status().as_u16());
            }
            let response_body = std::mem::replace(response.body_mut(), empty());
            *response.body_mut() = ResponseBody {
                body: response_body,
                entry,
                busy: Some(busy),
            }
            .boxed_unsync();
            Ok(response)
        })
    }
}

/// The primary's answer as the client gets it: hop-by-hop headers out, `Via` in; or a 502
/// when its framing is ambiguous (`Content-Length` and `Transfer-Encoding` together are
/// how responses are smuggled past proxies).
fn answer(
    mut response: Response<ProxyBody>,
    forwarding: Forwarding,
    method: &http::Method,
    uri: &http::Uri,
) -> Response<ProxyBody> {
    let headers = response.headers();
    if headers.contains_key(CONTENT_LENGTH) && headers.contains_key(TRANSFER_ENCODING) {
        tracing::warn!(%method, path = uri.path(),
            "the primary answered with both Content-Length and Transfer-Encoding: 502");
        return page(StatusCode::BAD_GATEWAY);
    }
    let version = response.version();
    forwarding.response(response.headers_mut(), version);
    response
}

/// Whether the upstream failed by timing out (connecting), anywhere in the error's chain.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error
            .downcast_ref::<UpstreamError>()
            .is_some_and(UpstreamError::is_timeout)
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// The proxy's own answer: the status's reason in lowercase, nothing else.
fn page(status: StatusCode) -> Response<ProxyBody> {
    let text = match status {
        StatusCode::BAD_REQUEST => "bad request\n",
        StatusCode::GATEWAY_TIMEOUT => "gateway timeout\n",
        _ => "bad gateway\n",
    };
    let mut response = Response::new(
        Full::from(text)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty() -> ProxyBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pin_project_lite::pin_project! {
    /// The client's request body, noting when it fails (a malformed chunk, a reset):
    /// then the request failed through the client's fault, not the primary's.
    struct ClientBody {
        #[pin]
        body: Incoming,
        failed: Arc<AtomicBool>,
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let frame = std::task::ready!(this.body.poll_frame(cx));
        if let Some(Err(_)) = &frame {
            this.failed.store(true, Ordering::Release);
        }
        Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The response body on its way to the client: counts what is sent for the access log,
/// and keeps the connection's request open until it ends.
struct ResponseBody {
    body: ProxyBody,
    entry: Option<Entry>,
    busy: Option<Busy>,
}

impl ResponseBody {
    fn end(&mut self, complete: bool) {
        if let Some(entry) = self.entry.take() {
            entry.finish(complete);
        }
        self.busy.take();
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = std::task::ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(entry), Some(data)) = (&mut this.entry, frame.data_ref()) {
                    entry.sent(data.len());
                }
            }
            Some(Err(_)) => this.end(false),
            None => this.end(true),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // hyper drops a body it knows has ended (`is_end_stream`) without polling its end.
        let complete = self.body.is_end_stream();
        self.end(complete);
    }
}
