//! Counters, gauges and events shared by every clone of one mirror layer.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;
use tokio::sync::Notify;

use super::breaker::Breaker;

/// Why a request was not mirrored. Each request that is not mirrored gets exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// Not picked by `sample_percent` / `sample_by_header`.
    Sampling,
    /// The `filter` predicate returned `false`.
    Filter,
    /// The body was over `max_body_bytes` (with [`Oversize::Skip`](crate::Oversize::Skip)).
    BodyTooLarge,
    /// The primary never read the body to its end, or the body errored, or its length did
    /// not match its `Content-Length`: a copy would carry a body the primary never saw.
    BodyIncomplete,
    /// An upgrade (`Upgrade` header, e.g. WebSocket) or a `CONNECT`: a tunnel cannot be replayed.
    Upgrade,
    /// No Tokio runtime was current when the copy was ready to be sent.
    NoRuntime,
    /// The request arrived after [`MirrorHandle::shutdown`] began.
    Shutdown,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sampling => "sampling",
            Self::Filter => "filter",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyIncomplete => "body_incomplete",
            Self::Upgrade => "upgrade",
            Self::NoRuntime => "no_runtime",
            Self::Shutdown => "shutdown",
        })
    }
}

/// What happened to a request or to its copy, passed to the `on_event` callback.
///
/// Each request gets exactly one decision event ([`Skipped`](Self::Skipped),
/// [`Dropped`](Self::Dropped) or [`Dispatched`](Self::Dispatched)); each dispatched copy
/// then gets exactly one outcome event ([`Completed`](Self::Completed),
/// [`Failed`](Self::Failed) or [`TimedOut`](Self::TimedOut)).
///
/// ```
/// use tower_mirror::{MirrorEvent, MirrorLayer};
/// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// let layer = MirrorLayer::new(shadow).on_event(|event: &MirrorEvent| match event {
///     MirrorEvent::Completed { status, latency } => {
///         tracing::info!(%status, ?latency, "shadow answered");
///     }
///     MirrorEvent::Dropped => tracing::warn!("shadow overloaded: copy dropped"),
///     _ => {}
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MirrorEvent {
    /// The request was not mirrored, by policy.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
    /// The copy was dropped to protect the process: `max_in_flight`, `max_buffered_bytes`
    /// or an open circuit breaker.
    Dropped,
    /// The copy was handed to the shadow.
    Dispatched,
    /// The shadow answered (any status, 5xx included) and its body was drained.
    Completed {
        /// The shadow's status.
        status: StatusCode,
        /// From dispatch to the end of the shadow's body.
        latency: Duration,
    },
    /// The shadow errored, refused the connection or panicked.
    Failed {
        /// From dispatch to the failure.
        latency: Duration,
        /// The error, as text.
        error: String,
    },
    /// The shadow was not ready, or did not answer or finish its body, within `timeout`; or
    /// the copy was cut by [`MirrorHandle::shutdown`].
    TimedOut,
    /// Compare mode (feature `compare`): the shadow's answer was compared with the
    /// primary's. Comes after the copy's outcome event.
    #[cfg(feature = "compare")]
    Compared {
        /// Method and path template, e.g. `GET /users/{n}`.
        route: String,
        /// What differs, noise removed; empty when the answers match.
        differences: Vec<crate::compare::Difference>,
    },
}

/// A snapshot of a mirror layer's counters, from [`MirrorHandle::stats`].
///
/// Once [`MirrorHandle::wait_idle`] has returned:
/// `seen == mirrored + skipped_* (all) + dropped_overload` and
/// `mirrored == completed + failed + timed_out`.
///
/// ```
/// # async fn run(handle: tower_mirror::MirrorHandle) {
/// handle.wait_idle().await;
/// let stats = handle.stats();
/// let delivered = stats.completed as f64 / stats.mirrored.max(1) as f64;
/// println!("{} of {} requests mirrored, {:.1}% answered", stats.mirrored, stats.seen, delivered * 100.0);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MirrorStats {
    /// Requests that went through the layer.
    pub seen: u64,
    /// Copies handed to the shadow (headers-only copies included).
    pub mirrored: u64,
    /// Not picked by sampling.
    pub skipped_sampling: u64,
    /// Rejected by the filter.
    pub skipped_filter: u64,
    /// Body over `max_body_bytes` (with `Oversize::Skip`).
    pub skipped_body_too_large: u64,
    /// Body not read to its end by the primary, errored, or not matching its length.
    pub skipped_body_incomplete: u64,
    /// Upgrades and `CONNECT`.
    pub skipped_upgrade: u64,
    /// No Tokio runtime at dispatch.
    pub skipped_no_runtime: u64,
    /// Arrived after shutdown began.
    pub skipped_shutdown: u64,
    /// Over `max_in_flight` or `max_buffered_bytes`, or the circuit breaker was open.
    pub dropped_overload: u64,
    /// The shadow answered (any status).
    pub completed: u64,
    /// The shadow errored, refused the connection or panicked.
    pub failed: u64,
    /// Over `timeout`, or cut by shutdown.
    pub timed_out: u64,
    /// Copies sent headers-only (also counted in `mirrored`).
    pub truncated: u64,
    /// Compare mode: answers compared (`matched + differed`).
    pub compared: u64,
    /// Compare mode: the shadow answered as the primary did (noise aside).
    pub matched: u64,
    /// Compare mode: the shadow's answer differed.
    pub differed: u64,
    /// Compare mode: not compared: a body over the compare cap, the primary's response
    /// not read to its end, or the shadow not answering.
    pub compare_skipped: u64,
}

/// A handle on a mirror layer's counters and in-flight copies; every clone sees the same.
///
/// Get one from [`MirrorLayer::handle`](crate::MirrorLayer::handle) before the layer is
/// moved into a stack.
///
/// ```
/// use tower_mirror::MirrorLayer;
/// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// let layer = MirrorLayer::new(shadow);
/// let handle = layer.handle();
/// assert_eq!(handle.stats().seen, 0);
/// assert_eq!(handle.in_flight(), 0);
/// ```
#[derive(Clone)]
pub struct MirrorHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for MirrorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirrorHandle")
            .field("stats", &self.stats())
            .field("in_flight", &self.in_flight())
            .field("buffered_bytes", &self.buffered_bytes())
            .finish()
    }
}

impl MirrorHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> MirrorStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        MirrorStats {
            seen: get(&c.seen),
            mirrored: get(&c.mirrored),
            skipped_sampling: get(&c.skipped_sampling),
            skipped_filter: get(&c.skipped_filter),
            skipped_body_too_large: get(&c.skipped_body_too_large),
            skipped_body_incomplete: get(&c.skipped_body_incomplete),
            skipped_upgrade: get(&c.skipped_upgrade),
            skipped_no_runtime: get(&c.skipped_no_runtime),
            skipped_shutdown: get(&c.skipped_shutdown),
            dropped_overload: get(&c.dropped_overload),
            completed: get(&c.completed),
            failed: get(&c.failed),
            timed_out: get(&c.timed_out),
            truncated: get(&c.truncated),
            compared: get(&c.compared),
            matched: get(&c.matched),
            differed: get(&c.differed),
            compare_skipped: get(&c.compare_skipped),
        }
    }

    /// Shadow calls running now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Bytes of request bodies held for copies now, all requests together: from the moment
    /// a frame is buffered until its shadow call ends.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.buffered.load(Ordering::Acquire)
    }

    /// Waits until every copy has finished: every body being copied has ended (or was
    /// dropped) and every dispatched shadow call has ended. Then `in_flight()` and
    /// `buffered_bytes()` are 0 and the stats invariants hold.
    ///
    /// A request whose body the primary holds without reading or dropping it keeps this
    /// waiting; in shutdown paths prefer [`shutdown`](Self::shutdown), which has a deadline.
    pub async fn wait_idle(&self) {
        self.wait_for_zero(&self.shared.pending).await;
    }

    /// Starts a graceful shutdown: stops sending new copies (later requests are counted as
    /// `skipped_shutdown`), waits up to `deadline` for copies in flight, then cuts the rest
    /// (counted as `timed_out`) and returns how many were cut.
    ///
    /// Needs the Tokio timer (as `#[tokio::main]` gives).
    ///
    /// ```
    /// # async fn run(handle: tower_mirror::MirrorHandle) {
    /// use std::time::Duration;
    /// let abandoned = handle.shutdown(Duration::from_secs(5)).await;
    /// if abandoned > 0 {
    ///     eprintln!("{abandoned} shadow copies were still running and were cut");
    /// }
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> usize {
        let shared = &self.shared;
        shared.shutting_down.store(true, Ordering::Release);
        if tokio::time::timeout(deadline, self.wait_in_flight())
            .await
            .is_ok()
        {
            return 0;
        }
        let before = shared.cut_copies.load(Ordering::Acquire);
        shared.cut.store(true, Ordering::Release);
        shared.cut_notify.notify_waiters();
        // Cut tasks end at their next poll; this wait is short and bounded by them.
        self.wait_in_flight().await;
        // Counted by the copies themselves: one that finished just before the cut is not.
        shared.cut_copies.load(Ordering::Acquire) - before
    }

    /// Compare mode (feature `compare`): per route, how many answers matched and differed,
    /// and the fields that differ most often. Empty when compare mode is off.
    #[cfg(feature = "compare")]
    pub fn compare_report(&self) -> crate::compare::CompareReport {
        self.shared.report.snapshot()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::Acquire)
    }

    async fn wait_in_flight(&self) {
        self.wait_for_zero(&self.shared.in_flight).await;
    }

    /// Waits until `count` (one of the shared gauges, which notify `idle` when they reach
    /// zero) is zero.
    async fn wait_for_zero(&self, count: &AtomicUsize) {
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            // Register before checking, so a wake-up between the check and the await is kept.
            idle.as_mut().enable();
            if count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) seen: AtomicU64,
    pub(crate) mirrored: AtomicU64,
    pub(crate) skipped_sampling: AtomicU64,
    pub(crate) skipped_filter: AtomicU64,
    pub(crate) skipped_body_too_large: AtomicU64,
    pub(crate) skipped_body_incomplete: AtomicU64,
    pub(crate) skipped_upgrade: AtomicU64,
    pub(crate) skipped_no_runtime: AtomicU64,
    pub(crate) skipped_shutdown: AtomicU64,
    pub(crate) dropped_overload: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) compared: AtomicU64,
    pub(crate) matched: AtomicU64,
    pub(crate) differed: AtomicU64,
    pub(crate) compare_skipped: AtomicU64,
}

pub(crate) type EventCallback = Arc<dyn Fn(&MirrorEvent) + Send + Sync>;

/// Counters and gauges shared by a layer, its services, their bodies, the copy tasks and
/// the handles. Settings live elsewhere so that builder calls after `handle()` still apply.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    /// Copies decided but not finished: bodies being copied plus shadow calls running.
    pending: AtomicUsize,
    in_flight: AtomicUsize,
    buffered: AtomicUsize,
    idle: Notify,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) cut: AtomicBool,
    pub(crate) cut_notify: Notify,
    /// Copies ended by `shutdown`'s deadline.
    pub(crate) cut_copies: AtomicUsize,
    #[cfg(feature = "compare")]
    pub(crate) report: crate::compare::ReportState,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            counters: Counters::default(),
            pending: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            buffered: AtomicUsize::new(0),
            idle: Notify::new(),
            shutting_down: AtomicBool::new(false),
            cut: AtomicBool::new(false),
            cut_notify: Notify::new(),
            cut_copies: AtomicUsize::new(0),
            #[cfg(feature = "compare")]
            report: crate::compare::ReportState::default(),
        }
    }
}

impl Shared {
    /// Reserves `n` bytes of the global copy budget; `false` when that would pass `max`.
    /// A compare-and-swap, so the gauge never reads above `max`, even for a moment.
    pub(crate) fn reserve_bytes(&self, n: usize, max: usize) -> bool {
        self.buffered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok()
    }

    pub(crate) fn release_bytes(&self, n: usize) {
        if n > 0 {
            self.buffered.fetch_sub(n, Ordering::AcqRel);
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub(crate) fn reserve_call(&self, max: usize) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn release_call(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Resolves once `shutdown` has cut the copies still running.
    pub(crate) async fn cut(&self) {
        let cut = self.cut_notify.notified();
        tokio::pin!(cut);
        cut.as_mut().enable();
        if !self.cut.load(Ordering::Acquire) {
            cut.await;
        }
        self.cut_copies.fetch_add(1, Ordering::AcqRel);
    }
}

/// One copy, from the moment it is planned until its outcome is recorded; `wait_idle`
/// waits for all of them. Dropping it (also by unwinding or a runtime dropping the task)
/// ends it, so the count cannot leak.
#[derive(Debug)]
pub(crate) struct PendingCopy {
    shared: Arc<Shared>,
}

impl PendingCopy {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.pending.fetch_add(1, Ordering::AcqRel);
        Self {
            shared: Arc::clone(shared),
        }
    }
}

impl Drop for PendingCopy {
    fn drop(&mut self) {
        if self.shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.idle.notify_waiters();
        }
    }
}

/// Records decisions and outcomes: counters, the `on_event` callback, the breaker.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(crate) shared: Arc<Shared>,
    pub(crate) on_event: Option<EventCallback>,
    pub(crate) breaker: Option<Arc<Breaker>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("shared", &self.shared)
            .field("on_event", &self.on_event.is_some())
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl Recorder {
    pub(crate) fn emit(&self, event: MirrorEvent) {
        if let Some(on_event) = &self.on_event {
            on_event(&event);
        }
    }

    pub(crate) fn seen(&self) {
        self.shared.counters.seen.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn skipped(&self, reason: SkipReason) {
        let c = &self.shared.counters;
        let counter = match reason {
            SkipReason::Sampling => &c.skipped_sampling,
            SkipReason::Filter => &c.skipped_filter,
            SkipReason::BodyTooLarge => &c.skipped_body_too_large,
            SkipReason::BodyIncomplete => &c.skipped_body_incomplete,
            SkipReason::Upgrade => &c.skipped_upgrade,
            SkipReason::NoRuntime => &c.skipped_no_runtime,
            SkipReason::Shutdown => &c.skipped_shutdown,
        };
        counter.fetch_add(1, Ordering::AcqRel);
        tracing::trace!(target: "tower_mirror", %reason, "copy skipped");
        self.emit(MirrorEvent::Skipped { reason });
    }

    pub(crate) fn dropped(&self, why: &'static str) {
        self.shared
            .counters
            .dropped_overload
            .fetch_add(1, Ordering::AcqRel);
        tracing::debug!(target: "tower_mirror", why, "copy dropped");
        self.emit(MirrorEvent::Dropped);
    }

    pub(crate) fn dispatched(&self, truncated: bool) {
        let c = &self.shared.counters;
        c.mirrored.fetch_add(1, Ordering::AcqRel);
        if truncated {
            c.truncated.fetch_add(1, Ordering::AcqRel);
        }
        self.emit(MirrorEvent::Dispatched);
    }

    pub(crate) fn outcome(&self, event: MirrorEvent) {
        let c = &self.shared.counters;
        let counter = match &event {
            MirrorEvent::Completed { .. } => &c.completed,
            MirrorEvent::Failed { .. } => &c.failed,
            _ => &c.timed_out,
        };
        counter.fetch_add(1, Ordering::AcqRel);
        if let Some(breaker) = &self.breaker {
            breaker.record(matches!(event, MirrorEvent::Completed { .. }));
        }
        self.emit(event);
    }
}
