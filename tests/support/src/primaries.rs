//! Mock primaries: [`Echo`] reads the whole body and records what it saw; [`Capture`]
//! answers at once and hands the request, body unread, to the test.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, Response, StatusCode, request::Parts};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{BoxError, Service};

/// A request extension the copy must never carry and the primary must always see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker(pub u32);

/// What the primary saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub parts: Parts,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

/// Primary that reads the whole body (data + trailers), records what it saw, optionally sleeps,
/// and answers 201 with the body echoed, a header and a response extension.
#[derive(Clone, Default)]
pub struct Echo {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub delay: Option<Duration>,
}

impl Echo {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_delay(d: Duration) -> Self {
        Self {
            delay: Some(d),
            ..Self::default()
        }
    }
    pub fn only(&self) -> Seen {
        let all = self.seen.lock().unwrap().clone();
        assert_eq!(all.len(), 1, "primary saw {} requests", all.len());
        all.into_iter().next().unwrap()
    }
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl<B> Service<Request<B>> for Echo
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let seen = self.seen.clone();
        let delay = self.delay;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let collected = body.collect().await.map_err(Into::into)?;
            let trailers = collected.trailers().cloned();
            let body = collected.to_bytes();
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            seen.lock().unwrap().push(Seen {
                parts,
                body: body.clone(),
                trailers,
            });
            let mut res = Response::builder()
                .status(StatusCode::CREATED)
                .header("x-primary", "echo")
                .body(Full::new(body))
                .unwrap();
            res.extensions_mut().insert(Marker(7));
            Ok(res)
        })
    }
}

/// Primary that answers 200 at once and hands the request (with its unread body) to the test.
pub struct Capture<B> {
    slot: Arc<Mutex<VecDeque<Request<B>>>>,
}

impl<B> Clone for Capture<B> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
        }
    }
}

impl<B> Default for Capture<B> {
    fn default() -> Self {
        Self {
            slot: Arc::default(),
        }
    }
}

impl<B> Capture<B> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn take(&self) -> Request<B> {
        self.slot
            .lock()
            .unwrap()
            .pop_front()
            .expect("the primary received no request")
    }
}

impl<B: Send + 'static> Service<Request<B>> for Capture<B> {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.slot.lock().unwrap().push_back(req);
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}
