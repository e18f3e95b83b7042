use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Response;
use hyper::body::Incoming;
use hyper_util::client::legacy;

use super::error::UpstreamError;

/// Response future of [`HttpUpstream`](super::HttpUpstream).
///
/// Wraps `hyper_util`'s own response future (which already boxes the connection work once
/// per request) without a second allocation; errors found before sending resolve at once.
pub struct ResponseFuture {
    state: State,
}

enum State {
    Sending {
        fut: legacy::ResponseFuture,
        base: Arc<str>,
    },
    Failed {
        err: Option<UpstreamError>,
    },
}

impl ResponseFuture {
    pub(super) fn sending(fut: legacy::ResponseFuture, base: Arc<str>) -> Self {
        Self {
            state: State::Sending { fut, base },
        }
    }

    pub(super) fn failed(err: UpstreamError) -> Self {
        Self {
            state: State::Failed { err: Some(err) },
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Incoming>, UpstreamError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is `Unpin` (hyper_util's future is a pinned box), so no projection.
        match &mut self.get_mut().state {
            State::Sending { fut, base } => Pin::new(fut)
                .poll(cx)
                .map_err(|e| UpstreamError::from_client(e, base.clone())),
            State::Failed { err } => Poll::Ready(Err(err
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Sending { base, .. } => f
                .debug_struct("ResponseFuture")
                .field("base", base)
                .finish_non_exhaustive(),
            State::Failed { err } => f.debug_struct("ResponseFuture").field("err", err).finish(),
        }
    }
}
