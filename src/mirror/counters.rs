//! A layer's numbers: the counters every clone of it adds to, the snapshot users read
//! ([`MirrorStats`]), and the recorder that turns each decision and outcome into a count,
//! an event, and a call to the layer's watcher, if any.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::event::{DropReason, EventSink, MirrorEvent, SkipReason};
use super::observe::{ObservedCounts, ObserverState};
use super::watch::{CallEnd, Decision, Watcher};

/// A snapshot of a mirror layer's counters, from
/// [`MirrorHandle::stats`](crate::MirrorHandle::stats).
///
/// Once [`MirrorHandle::wait_idle`](crate::MirrorHandle::wait_idle) has returned:
/// `seen == mirrored + skipped_* (all) + dropped_overload`,
/// `dropped_overload == dropped_in_flight + dropped_bytes + dropped_breaker` and
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
    /// Body over `max_body_bytes` (with `Oversize::Skip`, or `Oversize::Stream` on a layer
    /// built with `MirrorLayer::new`).
    pub skipped_body_too_large: u64,
    /// Body not read to its end by the primary, errored, or not matching its length.
    pub skipped_body_incomplete: u64,
    /// Upgrades and `CONNECT`.
    pub skipped_upgrade: u64,
    /// No Tokio runtime at dispatch.
    pub skipped_no_runtime: u64,
    /// Arrived after shutdown began.
    pub skipped_shutdown: u64,
    /// Arrived while the mirror was paused
    /// ([`MirrorHandle::pause`](crate::MirrorHandle::pause)).
    pub skipped_paused: u64,
    /// Dropped to protect the process, for any [`DropReason`]: the sum of
    /// `dropped_in_flight`, `dropped_bytes` and `dropped_breaker`.
    pub dropped_overload: u64,
    /// Dropped because `max_in_flight` shadow calls were running ([`DropReason::InFlight`]).
    pub dropped_in_flight: u64,
    /// Dropped because the copy's head or body would have gone over `max_buffered_bytes`
    /// ([`DropReason::Bytes`]).
    pub dropped_bytes: u64,
    /// Dropped because the circuit breaker was open ([`DropReason::CircuitOpen`]).
    pub dropped_breaker: u64,
    /// The shadow answered (any status).
    pub completed: u64,
    /// The shadow errored, refused the connection or panicked, or its answer's body went on
    /// past `max_shadow_body_bytes`.
    pub failed: u64,
    /// Over `timeout`, or cut by shutdown.
    pub timed_out: u64,
    /// Copies sent headers-only (also counted in `mirrored`).
    pub truncated: u64,
    /// Bytes of the shadow's response bodies read by copies: drained so that connections
    /// can be reused (at most `max_shadow_body_bytes` per copy, plus the frame that went
    /// past it, which makes the copy `failed`), or kept for compare mode.
    pub shadow_body_bytes_drained: u64,
    /// Compare mode (feature `compare`): answers compared (`matched + differed`). The
    /// compare report holds the same count.
    pub compared: u64,
    /// Compare mode: the shadow answered as the primary did (noise aside).
    pub matched: u64,
    /// Compare mode: the shadow's answer differed.
    pub differed: u64,
    /// Compare mode: not compared: a body over the compare cap, the primary's response
    /// not read to its end, or the shadow not answering.
    pub compare_skipped: u64,
}

/// The counters and gauges of one layer, shared by its services, their bodies, the copy
/// tasks and the handles. Settings live elsewhere so that builder calls after `handle()`
/// still apply.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Requests not skipped for sampling or the pause: those are counted once, in their
    /// own counters, so that an unsampled request costs one atomic add, not two.
    seen_past_sampling: AtomicU64,
    mirrored: AtomicU64,
    skipped_sampling: AtomicU64,
    skipped_filter: AtomicU64,
    skipped_body_too_large: AtomicU64,
    skipped_body_incomplete: AtomicU64,
    skipped_upgrade: AtomicU64,
    skipped_no_runtime: AtomicU64,
    skipped_shutdown: AtomicU64,
    skipped_paused: AtomicU64,
    dropped_in_flight: AtomicU64,
    dropped_bytes: AtomicU64,
    dropped_breaker: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    truncated: AtomicU64,
    shadow_body_bytes_drained: AtomicU64,
    /// Copies planned and not finished: bodies being copied plus shadow calls running.
    unfinished: AtomicUsize,
    /// Notified when `unfinished` reaches zero.
    all_finished: Notify,
    /// What an observer of this layer's copies keeps (compare mode's report).
    observer: OnceLock<Arc<dyn ObserverState>>,
    /// Who follows the numbers as they change (the `metrics` feature).
    watcher: OnceLock<Arc<dyn Watcher>>,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> MirrorStats {
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        let (in_flight, bytes, breaker) = (
            get(&self.dropped_in_flight),
            get(&self.dropped_bytes),
            get(&self.dropped_breaker),
        );
        let (sampled_out, paused) = (get(&self.skipped_sampling), get(&self.skipped_paused));
        let mut stats = MirrorStats {
            seen: get(&self.seen_past_sampling) + sampled_out + paused,
            mirrored: get(&self.mirrored),
            skipped_sampling: sampled_out,
            skipped_filter: get(&self.skipped_filter),
            skipped_body_too_large: get(&self.skipped_body_too_large),
            skipped_body_incomplete: get(&self.skipped_body_incomplete),
            skipped_upgrade: get(&self.skipped_upgrade),
            skipped_no_runtime: get(&self.skipped_no_runtime),
            skipped_shutdown: get(&self.skipped_shutdown),
            skipped_paused: paused,
            // Summed from the same reads, so every snapshot keeps the equality.
            dropped_overload: in_flight + bytes + breaker,
            dropped_in_flight: in_flight,
            dropped_bytes: bytes,
            dropped_breaker: breaker,
            completed: get(&self.completed),
            failed: get(&self.failed),
            timed_out: get(&self.timed_out),
            truncated: get(&self.truncated),
            shadow_body_bytes_drained: get(&self.shadow_body_bytes_drained),
            ..MirrorStats::default()
        };
        if let Some(counts) = self.observed_counts() {
            stats.compared = counts.compared;
            stats.matched = counts.matched;
            stats.differed = counts.differed;
            stats.compare_skipped = counts.skipped;
        }
        stats
    }

    /// The observer's state of type `T`, made by `make` if there is none yet. `None` when
    /// an observer of another type holds the place.
    #[allow(
        dead_code,
        reason = "the observer's way in: used by compare mode, an optional feature"
    )]
    pub(crate) fn observer_or_insert<T: ObserverState>(
        &self,
        make: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        let state = self.observer.get_or_init(|| Arc::new(make()));
        Arc::clone(state).into_any().downcast().ok()
    }

    /// What the observer counted, if there is one.
    pub(crate) fn observed_counts(&self) -> Option<ObservedCounts> {
        self.observer.get().map(|observer| observer.counts())
    }

    /// Sets the watcher of this layer family (made by `make`, unless one is there).
    /// Refused (with the name already watching)
    /// when another watcher of another name holds the place: the family shares one set of
    /// counters, so it has one name.
    #[allow(
        dead_code,
        reason = "the watcher's way in: used by the metrics feature, an optional one"
    )]
    pub(crate) fn watch(
        &self,
        name: &str,
        make: impl FnOnce() -> Arc<dyn Watcher>,
    ) -> Result<(), String> {
        let current = self.watcher.get_or_init(make);
        if current.name() == name {
            Ok(())
        } else {
            Err(current.name().to_owned())
        }
    }

    #[inline]
    fn watcher(&self) -> Option<&Arc<dyn Watcher>> {
        self.watcher.get()
    }

    /// The circuit breaker opened (`true`) or closed.
    pub(crate) fn breaker_turned(&self, open: bool) {
        if let Some(watcher) = self.watcher() {
            watcher.breaker_turned(open);
        }
    }

    pub(crate) fn unfinished(&self) -> &AtomicUsize {
        &self.unfinished
    }

    pub(crate) fn all_finished(&self) -> &Notify {
        &self.all_finished
    }

    pub(crate) fn copy_started(&self) {
        self.unfinished.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn copy_finished(&self) {
        // Before the count drops, so that whoever `wait_idle` wakes sees the watcher's
        // numbers settled too.
        if let Some(watcher) = self.watcher() {
            watcher.copy_finished(self.observed_counts());
        }
        if self.unfinished.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_finished.notify_waiters();
        }
    }
}

/// Records decisions and outcomes: a count in [`Counters`], an event for `on_event`, and
/// a call to the watcher.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    counters: Arc<Counters>,
    events: EventSink,
    /// The layer's per-call timeout: how long a timed-out call took, for the watcher.
    timeout: Duration,
}

impl Recorder {
    pub(crate) fn new(counters: Arc<Counters>, events: EventSink, timeout: Duration) -> Self {
        Self {
            counters,
            events,
            timeout,
        }
    }

    #[inline]
    fn decided(&self, decision: Decision) {
        if let Some(watcher) = self.counters.watcher() {
            watcher.decided(decision);
        }
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub(crate) fn events(&self) -> &EventSink {
        &self.events
    }

    /// A request got past sampling and the pause (or came during shutdown): whatever is
    /// decided for it next is counted on top. Requests skipped for sampling or the pause
    /// are seen through their skip counters.
    #[inline]
    pub(crate) fn seen_past_sampling(&self) {
        self.counters
            .seen_past_sampling
            .fetch_add(1, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn skipped(&self, reason: SkipReason) {
        let c = &self.counters;
        let counter = match reason {
            SkipReason::Sampling => &c.skipped_sampling,
            SkipReason::Filter => &c.skipped_filter,
            SkipReason::BodyTooLarge => &c.skipped_body_too_large,
            SkipReason::BodyIncomplete => &c.skipped_body_incomplete,
            SkipReason::Upgrade => &c.skipped_upgrade,
            SkipReason::NoRuntime => &c.skipped_no_runtime,
            SkipReason::Shutdown => &c.skipped_shutdown,
            SkipReason::Paused => &c.skipped_paused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // Most requests are skipped for sampling: the count is all they cost unless
        // someone listens.
        if c.watcher().is_some()
            || self.events.is_listening()
            || tracing::level_enabled!(tracing::Level::TRACE)
        {
            self.skip_told(reason);
        }
    }

    #[cold]
    fn skip_told(&self, reason: SkipReason) {
        self.decided(Decision::Skipped(reason));
        tracing::trace!(target: "tower_mirror", %reason, "copy skipped");
        self.events.emit(MirrorEvent::Skipped { reason });
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        let c = &self.counters;
        let counter = match reason {
            DropReason::InFlight => &c.dropped_in_flight,
            DropReason::Bytes => &c.dropped_bytes,
            DropReason::CircuitOpen => &c.dropped_breaker,
        };
        counter.fetch_add(1, Ordering::AcqRel);
        self.decided(Decision::Dropped(reason));
        tracing::debug!(target: "tower_mirror", %reason, "copy dropped");
        self.events.emit(MirrorEvent::Dropped { reason });
    }

    pub(crate) fn dispatched(&self, truncated: bool) {
        let c = &self.counters;
        c.mirrored.fetch_add(1, Ordering::AcqRel);
        if truncated {
            c.truncated.fetch_add(1, Ordering::AcqRel);
        }
        self.decided(Decision::Mirrored);
        self.events.emit(MirrorEvent::Dispatched);
    }

    pub(crate) fn shadow_body_drained(&self, bytes: u64) {
        if bytes > 0 {
            let c = &self.counters.shadow_body_bytes_drained;
            c.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Counts a copy's outcome: `Completed`, `Failed`, or anything else as `timed_out`.
    pub(crate) fn outcome(&self, event: MirrorEvent) {
        let c = &self.counters;
        let (counter, end, took) = match &event {
            MirrorEvent::Completed { status, latency } => {
                (&c.completed, CallEnd::Completed(*status), *latency)
            }
            MirrorEvent::Failed { latency, .. } => (&c.failed, CallEnd::Failed, *latency),
            _ => (&c.timed_out, CallEnd::TimedOut, self.timeout),
        };
        counter.fetch_add(1, Ordering::AcqRel);
        if let Some(watcher) = c.watcher() {
            watcher.call_ended(end, took);
        }
        self.events.emit(event);
    }
}
