//! A loopback TLS server (tokio-rustls + hyper) on 127.0.0.1:0 that echoes request bodies,
//! records what it saw and counts TLS handshakes. Stopped when dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};

use super::pki::{Ca, Identity};

/// ALPN offers: HTTP/2 preferred, or HTTP/1.1 only.
pub const H2_AND_HTTP1: &[&[u8]] = &[b"h2", b"http/1.1"];
pub const HTTP1_ONLY: &[&[u8]] = &[b"http/1.1"];

/// A server's TLS settings: its identity, its ALPN protocols, and the CA whose client
/// certificates it requires (mutual TLS), if any.
pub fn server_config(identity: &Identity, alpn: &[&[u8]], client_ca: Option<&Ca>) -> ServerConfig {
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert.clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(vec![identity.cert.clone()], identity.key())
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub version: Version,
    pub host: Option<String>,
    pub body: Bytes,
    /// The client's certificate, when it presented one (mutual TLS).
    pub client_cert: Option<CertificateDer<'static>>,
}

#[derive(Default)]
struct State {
    handshakes: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

pub struct TlsServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl TlsServer {
    /// Serves HTTP/1.1 and HTTP/2 (whichever ALPN picked) over TLS; every answer is
    /// `200`, header `x-served-by: name`, the request body echoed.
    pub async fn start(name: &'static str, config: ServerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let state = Arc::new(State::default());
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            // Owned by the accept task, so aborting it drops every connection.
            let mut connections = JoinSet::new();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, state) = (acceptor.clone(), accept_state.clone());
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    state.handshakes.fetch_add(1, Ordering::SeqCst);
                    let client_cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first().cloned());
                    let service = service_fn(move |req| {
                        let (state, client_cert) = (state.clone(), client_cert.clone());
                        async move { Ok::<_, Infallible>(echo(name, req, client_cert, &state).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    /// `https://host:port`.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.addr.port())
    }

    /// TLS handshakes completed: one per connection a client kept.
    pub fn handshakes(&self) -> usize {
        self.state.handshakes.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(
    name: &str,
    req: Request<Incoming>,
    client_cert: Option<CertificateDer<'static>>,
    state: &State,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    state.seen.lock().unwrap().push(Seen {
        version: parts.version,
        host: parts
            .headers
            .get(http::header::HOST)
            .map(|h| h.to_str().unwrap().to_owned()),
        body: body.clone(),
        client_cert,
    });
    Response::builder()
        .header("x-served-by", name)
        .body(Full::new(body))
        .unwrap()
}
