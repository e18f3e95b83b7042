//! When a client connection is idle: no request in flight on it and no bytes moving for a
//! while. hyper closes an HTTP/1.1 connection that sends no request head in time (the
//! header timeout), but has no such limit for HTTP/2; this one applies to both. And
//! whether a connection has started at all: hyper's header timeout only runs once the
//! protocol is known, which takes the first bytes (up to the 24 of the HTTP/2 preface).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// One connection's activity: when bytes last moved, and how many requests are open.
#[derive(Debug)]
pub(crate) struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` when bytes last moved or a request ended.
    last: AtomicU64,
    in_flight: AtomicUsize,
    /// Bytes read, counted up to [`STARTED`].
    read: AtomicUsize,
    /// Whether a request has begun.
    began: AtomicBool,
}

/// How many bytes tell HTTP/1.1 from HTTP/2: the length of the HTTP/2 preface.
const STARTED: usize = 24;

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            read: AtomicUsize::new(0),
            began: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        // Relaxed: a watchdog that reads a slightly old time only waits a little longer.
        self.last.store(now, Ordering::Relaxed);
    }

    /// A request begins; it is open until the returned guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.began.store(true, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Whether the client has begun a request, or sent enough for hyper to know its
    /// protocol (and so to time its request heads).
    fn started(&self) -> bool {
        self.began.load(Ordering::Relaxed) || self.read.load(Ordering::Relaxed) >= STARTED
    }

    /// Returns when `limit` has passed since the connection opened and it has not started;
    /// never, once it has.
    pub(crate) async fn not_started_within(&self, limit: Duration) {
        tokio::time::sleep_until(self.opened + limit).await;
        if self.started() {
            std::future::pending().await
        }
    }

    /// Returns once the connection has been idle for `limit`.
    pub(crate) async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            tokio::time::sleep_until(self.opened + last + limit).await;
            let since = self
                .opened
                .elapsed()
                .saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)));
            if self.in_flight.load(Ordering::Relaxed) == 0 && since >= limit {
                return;
            }
            if self.in_flight.load(Ordering::Relaxed) > 0 {
                // A request still open (a slow upstream, a long download) is not idleness.
                self.touch();
            }
        }
    }
}

/// An open request on a connection.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A client connection's socket, noting when bytes move.
    #[derive(Debug)]
    pub(crate) struct Watched<T> {
        #[pin]
        io: T,
        activity: Arc<Activity>,
    }
}

impl<T> Watched<T> {
    pub(crate) fn new(io: T, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<T: AsyncRead> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let read = this.io.poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            this.activity.touch();
            if this.activity.read.load(Ordering::Relaxed) < STARTED {
                this.activity.read.fetch_add(n, Ordering::Relaxed);
            }
        }
        read
    }
}

impl<T: AsyncWrite> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.io.poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.io.poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_when_nothing_is_open_for_the_whole_limit() {
        let activity = Activity::new();
        let limit = Duration::from_secs(10);
        let busy = activity.begin();
        let start = Instant::now();
        let idle = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle_for(limit).await }
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(!idle.is_finished(), "a request is open");
        drop(busy); // idle from now on
        idle.await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_secs(35),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_has_not_started() {
        let limit = Duration::from_secs(10);
        let silent = Activity::new();
        let start = Instant::now();
        silent.not_started_within(limit).await;
        assert_eq!(start.elapsed(), limit);

        let served = Activity::new();
        drop(served.begin());
        let waited = tokio::time::timeout(limit * 2, served.not_started_within(limit)).await;
        assert!(
            waited.is_err(),
            "a connection that began a request has started"
        );
    }
}
