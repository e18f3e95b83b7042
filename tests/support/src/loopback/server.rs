//! The loopback HTTP server every test serves through.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::{BoxError, Service};

use super::echo::echo_request;

/// Which protocols a [`Server`] accepts.
#[derive(Clone, Copy, Debug)]
pub enum Proto {
    /// HTTP/1.1, or HTTP/2 when the client starts with its preface (as `tower-mirror-proxy` does).
    Auto,
    /// HTTP/2 only (prior knowledge).
    Http2Only,
}

/// A running server; dropping it aborts the accept loop and every connection.
pub struct Server {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `svc` over HTTP/1.1 and HTTP/2 (detected per connection), as
    /// `tower-mirror-proxy` does.
    pub async fn serve<S, B>(svc: S) -> Self
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        Self::serve_with(Proto::Auto, svc).await
    }

    /// Serves `echo_request`.
    pub async fn echo(proto: Proto) -> Self {
        let echo = tower::service_fn(|req| async { Ok::<_, Infallible>(echo_request(req).await) });
        Self::serve_with(proto, echo).await
    }

    /// Serves `svc`, accepting `proto`.
    pub async fn serve_with<S, B>(proto: Proto, svc: S) -> Self
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
            let mut server = auto::Builder::new(TokioExecutor::new());
            if let Proto::Http2Only = proto {
                server = server.http2_only();
            }
            // Owned by the accept task, so aborting it drops (aborts) every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Small answers go out at once: latency under load compares with and
                // without the layer, not with Nagle's delay.
                let _ = stream.set_nodelay(true);
                counter.fetch_add(1, Ordering::SeqCst);
                let service = TowerToHyperService::new(svc.clone());
                let connection = server
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                connections.spawn(connection);
                // Keep finished connections from piling up in the set.
                while connections.try_join_next().is_some() {}
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
