//! Backends that record every request they receive, and a client that reads answers whole.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

use super::server::{Proto, Server};
use crate::wait::within;

/// How a [`Backend`] answers, once it has read the whole request.
#[derive(Clone, Debug)]
pub enum Reply {
    Now,
    After(Duration),
    /// When the test adds a permit (one per request).
    When(Arc<Semaphore>),
    Never,
}

/// A request as a backend recorded it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn host(&self) -> &str {
        self.headers
            .get(http::header::HOST)
            .expect("a Host header")
            .to_str()
            .unwrap()
    }
}

/// A backend that records every request (after reading its body) and answers
/// `200`, `x-served-by: NAME`, body `NAME: N bytes`.
#[derive(Clone, Debug)]
pub struct Backend {
    name: &'static str,
    reply: Reply,
    received: Arc<Mutex<Vec<Recorded>>>,
}

impl Backend {
    pub fn new(name: &'static str, reply: Reply) -> Self {
        Self {
            name,
            reply,
            received: Arc::default(),
        }
    }

    /// Serves this backend on loopback.
    pub async fn start(&self) -> Server {
        self.start_with(Proto::Auto).await
    }

    /// Serves this backend on loopback, accepting `proto`.
    pub async fn start_with(&self, proto: Proto) -> Server {
        let backend = self.clone();
        Server::serve_with(
            proto,
            tower::service_fn(move |req| backend.clone().answer(req)),
        )
        .await
    }

    /// What the backend received so far, in arrival order.
    pub fn received(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }

    /// The body this backend answers for a request body of `len` bytes.
    pub fn body_for(&self, len: usize) -> String {
        format!("{}: {len} bytes", self.name)
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let len = body.len();
        self.received.lock().unwrap().push(Recorded {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        });
        match &self.reply {
            Reply::Now => {}
            Reply::After(delay) => tokio::time::sleep(*delay).await,
            Reply::When(gate) => gate.acquire().await.unwrap().forget(),
            Reply::Never => std::future::pending().await,
        }
        Ok(Response::builder()
            .header("x-served-by", self.name)
            .body(Full::from(self.body_for(len)))
            .unwrap())
    }
}

/// A plain HTTP/1.1 client with its own pool.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub async fn read(res: Response<Incoming>) -> Self {
        let (parts, body) = res.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// The `x-served-by` header.
    pub fn served_by(&self) -> &str {
        self.headers
            .get("x-served-by")
            .map_or("", |v| v.to_str().unwrap())
    }
}

/// Sends `req` with `client` and reads the whole answer.
pub async fn fetch(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Answer {
    Answer::read(within(client.request(req)).await.unwrap()).await
}
