//! What every clone of an [`HttpUpstream`](super::HttpUpstream) shares: the pooled client,
//! whatever its connector, bound to one base URL.

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::{self, Client, connect::Connect};

use super::base::Base;
use super::error::{Kind, UpstreamError};
use super::future::ResponseFuture;
use crate::BoxError;

/// The request body type of the pooled client: every request body is boxed into it.
///
/// A client handed to [`HttpUpstream::from_client`](super::HttpUpstream::from_client) is
/// typed over it: `Client<C, ClientBody>`.
pub type ClientBody = UnsyncBoxBody<Bytes, BoxError>;

/// A pooled client with its connector type erased, so one [`HttpUpstream`](super::HttpUpstream)
/// type serves plain TCP, TLS and connectors callers bring.
///
/// `hyper_util`'s response future is the same type for every connector, so erasing costs
/// one indirect call per request and no allocation.
pub(super) trait SendRequest: Send + Sync + 'static {
    fn send_request(&self, req: Request<ClientBody>) -> legacy::ResponseFuture;
}

impl<C> SendRequest for Client<C, ClientBody>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    fn send_request(&self, req: Request<ClientBody>) -> legacy::ResponseFuture {
        self.request(req)
    }
}

/// The pooled client and how requests are pointed at its base URL.
pub(super) struct BoundClient {
    client: Box<dyn SendRequest>,
    base: Base,
    /// Requests go out as HTTP/2 (prior knowledge); otherwise as HTTP/1.1.
    http2: bool,
    preserve_host: bool,
}

impl BoundClient {
    pub(super) fn new(
        client: impl SendRequest,
        base: Base,
        http2: bool,
        preserve_host: bool,
    ) -> Self {
        Self {
            client: Box::new(client),
            base,
            http2,
            preserve_host,
        }
    }

    pub(super) fn base(&self) -> &Base {
        &self.base
    }

    pub(super) fn http2(&self) -> bool {
        self.http2
    }

    pub(super) fn send<B>(&self, req: Request<B>) -> ResponseFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let base = &self.base;
        // hyper_util spawns connection tasks on the current runtime and would panic.
        if tokio::runtime::Handle::try_current().is_err() {
            return ResponseFuture::failed(UpstreamError::new(
                Kind::NoRuntime,
                base.display().clone(),
            ));
        }
        let mut req = req.map(|body| body.map_err(Into::into).boxed_unsync());
        if let Err(err) = base.rewrite(&mut req, self.http2, self.preserve_host) {
            return ResponseFuture::failed(err);
        }
        ResponseFuture::sending(self.client.send_request(req), base.display().clone())
    }
}
