//! Loopback HTTP for the end-to-end tests: a server for any Tower service (127.0.0.1, port
//! 0, stopped on drop), backends that record what they receive, and a client.

#![allow(dead_code)] // each test file uses a different part

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tower::{BoxError, Service};

/// A running server; dropping it aborts the accept loop and every connection.
pub struct Server {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `svc` over HTTP/1.1 and HTTP/2 (detected per connection), as
    /// `shadow_proxy` does.
    pub async fn serve<S, B>(svc: S) -> Self
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            let server = auto::Builder::new(TokioExecutor::new());
            // Owned by the accept task, so aborting it drops (aborts) every connection.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let service = TowerToHyperService::new(svc.clone());
                let connection = server
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                connections.spawn(connection);
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a [`Backend`] answers, once it has read the whole request.
#[derive(Clone, Debug)]
pub enum Reply {
    Now,
    After(Duration),
    /// When the test adds a permit (one per request).
    When(Arc<Semaphore>),
    Never,
}

/// A request as a backend received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
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
    received: Arc<Mutex<Vec<Received>>>,
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
        let backend = self.clone();
        Server::serve(tower::service_fn(move |req| backend.clone().answer(req))).await
    }

    /// What the backend received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
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
        self.received.lock().unwrap().push(Received {
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
pub async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Answer {
    Answer::read(within(client.request(req)).await.unwrap()).await
}

/// Fails the test instead of hanging it.
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("test step took over 10 s")
}
