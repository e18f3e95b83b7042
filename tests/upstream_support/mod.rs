//! Loopback HTTP servers for the `HttpUpstream` tests: 127.0.0.1 port 0, stopped on drop.

#![allow(dead_code)] // each test file uses a different part

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub type ServerBody = BoxBody<Bytes, Infallible>;

/// Which protocols the server accepts.
#[derive(Clone, Copy, Debug)]
pub enum Proto {
    /// HTTP/1.1, or HTTP/2 when the client starts with its preface.
    Auto,
    /// HTTP/2 only (prior knowledge).
    Http2Only,
}

/// A running server; dropping it aborts the accept loop and every connection.
pub struct TestServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server answering every request with `handler`.
    pub async fn start<F, Fut>(proto: Proto, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<ServerBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            // Owned by the accept task, so aborting it drops (aborts) every connection.
            let mut connections = JoinSet::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                connections.spawn(async move {
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    if let Proto::Http2Only = proto {
                        builder = builder.http2_only();
                    }
                    let service = service_fn(move |req| {
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    /// Starts an echo server (see [`echo`]).
    pub async fn echo(proto: Proto) -> Self {
        Self::start(proto, echo).await
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

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers with what the server saw: a text head (`method`, `uri`, `version`, one
/// `header name: value` line per header), a blank line, then the request body.
pub async fn echo(req: Request<Incoming>) -> Response<ServerBody> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let mut out = format!(
        "method {}\nuri {}\nversion {:?}\n",
        parts.method, parts.uri, parts.version
    );
    for (name, value) in &parts.headers {
        out.push_str(&format!("header {}: {}\n", name, value.to_str().unwrap()));
    }
    out.push('\n');
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Response::new(Full::new(Bytes::from(bytes)).boxed())
}

/// What [`echo`] reported.
#[derive(Debug)]
pub struct Echoed {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Echoed {
    pub async fn read(res: Response<Incoming>) -> Self {
        assert_eq!(res.status(), 200);
        let all = res.into_body().collect().await.unwrap().to_bytes();
        let split = all
            .windows(2)
            .position(|w| w == b"\n\n")
            .expect("echo head ends with a blank line");
        let head = std::str::from_utf8(&all[..split]).unwrap();
        let mut echoed = Echoed {
            method: String::new(),
            uri: String::new(),
            version: String::new(),
            headers: Vec::new(),
            body: all.slice(split + 2..),
        };
        for line in head.lines() {
            let (key, rest) = line.split_once(' ').unwrap();
            match key {
                "method" => echoed.method = rest.to_owned(),
                "uri" => echoed.uri = rest.to_owned(),
                "version" => echoed.version = rest.to_owned(),
                "header" => {
                    let (name, value) = rest.split_once(": ").unwrap();
                    echoed.headers.push((name.to_owned(), value.to_owned()));
                }
                other => panic!("unexpected echo line {other}"),
            }
        }
        echoed
    }

    /// All values of header `name`.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Fails the test instead of hanging it.
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("test step took over 10 s")
}
