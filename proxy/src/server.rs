//! The client side: accepting connections under a cap, serving each with hyper (HTTP/1.1
//! and HTTP/2, with a timer so header and idle limits apply), and draining them on
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use crate::forwarding::Client;
use crate::gateway::{ConnectionService, Gateway};
use crate::idle::{Activity, Watched};
use crate::stop::stopped;
use crate::tls::Acceptor;

/// How a failing `accept` is retried: from this pause, doubling...
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// ...up to this one.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The limits on client connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientLimits {
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_h2_streams: usize,
    pub(crate) max_header_bytes: usize,
}

/// Serves clients on `listener` until `stop` turns true; then stops accepting, asks every
/// connection to finish (HTTP/1.1: after its current request; HTTP/2: GOAWAY), and waits
/// for them until `deadline`. Returns how many connections were still open then.
pub(crate) async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    tls: Option<Acceptor>,
    limits: ClientLimits,
    mut stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> usize {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, close) = watch::channel(false);
    let http = builder(limits);
    let mut failures = AcceptFailures::default();
    let mut at_cap = false;
    loop {
        let place = match connections.clone().try_acquire_owned() {
            Ok(place) => {
                at_cap = false;
                place
            }
            Err(_) => {
                if !at_cap {
                    tracing::warn!(
                        max = limits.max_connections,
                        "--max-connections reached: new connections wait in the listen \
                         backlog until one closes"
                    );
                    at_cap = true;
                }
                tokio::select! {
                    place = connections.clone().acquire_owned() => match place {
                        Ok(place) => place,
                        Err(_) => break, // never closed
                    },
                    () = stopped(&mut stop) => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                failures.recovered();
                accepted
            }
            Err(error) => {
                let pause = failures.failed(&error);
                drop(place);
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = stopped(&mut stop) => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let client = Client {
            ip: peer.ip(),
            tls: tls.is_some(),
        };
        let connection = Connection {
            gateway: gateway.clone(),
            client,
            http: http.clone(),
            limits,
            closing: close.clone(),
            _place: place,
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            connection.serve(stream, tls).await;
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let open = || limits.max_connections - connections.available_permits();
    tracing::info!(open = open(), "stopped accepting; finishing open requests");
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain_timeout, connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(open = open(), timeout = ?drain_timeout,
            "connections still open after --drain-timeout; closing them");
        return open();
    }
    0
}

/// The hyper server settings for every connection.
fn builder(limits: ClientLimits) -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // The request head must fit in the read buffer: past it hyper answers 431.
        .max_buf_size(limits.max_header_bytes);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(u32::try_from(limits.max_h2_streams).unwrap_or(u32::MAX))
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    http
}

/// One accepted client connection, holding its place under --max-connections.
struct Connection {
    gateway: Arc<Gateway>,
    client: Client,
    http: auto::Builder<TokioExecutor>,
    limits: ClientLimits,
    closing: watch::Receiver<bool>,
    _place: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(self, stream: TcpStream, tls: Option<Acceptor>) {
        let activity = Activity::new();
        let stream = Watched::new(stream, activity.clone());
        match tls {
            None => self.serve_io(stream, activity).await,
            Some(tls) => self.serve_tls(stream, activity, tls).await,
        }
    }

    #[cfg(feature = "rustls")]
    async fn serve_tls(self, stream: Watched<TcpStream>, activity: Arc<Activity>, tls: Acceptor) {
        // A slow handshake holds a connection as a slow request head does.
        let handshake = tokio::time::timeout(self.limits.header_timeout, tls.accept(stream));
        match handshake.await {
            Ok(Ok(stream)) => self.serve_io(stream, activity).await,
            Ok(Err(error)) => {
                tracing::debug!(client = %self.client.ip, %error, "TLS handshake failed")
            }
            Err(_) => tracing::debug!(client = %self.client.ip, "TLS handshake timed out"),
        }
    }

    #[cfg(not(feature = "rustls"))]
    async fn serve_tls(self, _: Watched<TcpStream>, _: Arc<Activity>, tls: Acceptor) {
        match tls {}
    }

    async fn serve_io<I>(mut self, io: I, activity: Arc<Activity>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = ConnectionService::new(self.gateway.clone(), self.client, activity.clone());
        let connection = self.http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let silent = activity.not_started_within(self.limits.header_timeout);
        let idle = activity.idle_for(self.limits.idle_timeout);
        tokio::pin!(silent, idle);
        // Once asked to close for idleness, a connection has the header timeout to do so:
        // HTTP/2 waits for the client to answer a ping, which an attacker never does. (On
        // shutdown, --drain-timeout bounds the whole.)
        let mut asked = false;
        let mut close_by: Option<Instant> = None;
        loop {
            let deadline = async {
                match close_by {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(client = %self.client.ip, %error, "connection ended with an error");
                    }
                    return;
                }
                () = &mut silent => {
                    tracing::debug!(client = %self.client.ip, "closing a connection that sent no request in time");
                    return;
                }
                () = &mut idle, if !asked => {
                    tracing::debug!(client = %self.client.ip, "closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    asked = true;
                    close_by = Some(Instant::now() + self.limits.header_timeout);
                }
                () = stopped(&mut self.closing), if !asked => {
                    connection.as_mut().graceful_shutdown();
                    asked = true;
                }
                () = deadline => {
                    tracing::debug!(client = %self.client.ip, "closing a connection that did not close in time");
                    return;
                }
            }
        }
    }
}

/// Failing accepts (out of file descriptors, mostly): logged once per burst, retried
/// after a pause that doubles while they last.
#[derive(Debug, Default)]
struct AcceptFailures {
    count: u64,
    since: Option<Instant>,
}

impl AcceptFailures {
    /// Counts a failure; returns how long to wait before the next try.
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.count += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::warn!(%error, "accept failed; retrying with back-off (further failures are \
                counted until an accept succeeds)");
        }
        let doublings = (self.count - 1).min(16) as u32;
        (ACCEPT_BACKOFF_MIN * 2u32.pow(doublings)).min(ACCEPT_BACKOFF_MAX)
    }

    fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::warn!(
                failures = self.count,
                over = ?since.elapsed(),
                "accepting again"
            );
            self.count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_up_to_a_second_and_reset() {
        let mut failures = AcceptFailures::default();
        let error = std::io::Error::other("too many open files");
        let pauses: Vec<_> = (0..10).map(|_| failures.failed(&error)).collect();
        assert_eq!(pauses[0], Duration::from_millis(5));
        assert_eq!(pauses[1], Duration::from_millis(10));
        assert_eq!(pauses[9], Duration::from_secs(1));
        failures.recovered();
        assert_eq!(failures.failed(&error), Duration::from_millis(5));
    }
}
