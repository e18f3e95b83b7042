//! `MirrorHandle`: a layer's numbers, read from outside, and the waits on its copies
//! (`wait_idle`, `shutdown`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::admission::Budget;
use super::counters::{Counters, MirrorStats};
use super::observe::ObserverState;

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
    counters: Arc<Counters>,
    budget: Arc<Budget>,
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
    pub(crate) fn new(counters: Arc<Counters>, budget: Arc<Budget>) -> Self {
        Self { counters, budget }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MirrorStats {
        self.counters.snapshot()
    }

    /// Shadow calls running now.
    pub fn in_flight(&self) -> usize {
        self.budget.in_flight().load(Ordering::Acquire)
    }

    /// Bytes held for copies now, all requests together, as `max_buffered_bytes` counts
    /// them: each copy's head from `call`, and its body as it is buffered, until its
    /// shadow call ends.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.buffered()
    }

    /// Waits until every copy has finished: every body being copied has ended (or was
    /// dropped) and every dispatched shadow call has ended. Then `in_flight()` and
    /// `buffered_bytes()` are 0 and the stats invariants hold.
    ///
    /// A request whose body the primary holds without reading or dropping it keeps this
    /// waiting; in shutdown paths prefer [`shutdown`](Self::shutdown), which has a deadline.
    pub async fn wait_idle(&self) {
        wait_for_zero(self.counters.unfinished(), self.counters.all_finished()).await;
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
        let budget = &self.budget;
        budget.begin_shutdown();
        if tokio::time::timeout(deadline, self.wait_in_flight())
            .await
            .is_ok()
        {
            return 0;
        }
        let before = budget.cut_running();
        // Cut tasks end at their next poll; this wait is short and bounded by them.
        self.wait_in_flight().await;
        // Counted by the copies themselves: one that finished just before the cut is not.
        budget.cut_copies() - before
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.budget.is_shutting_down()
    }

    /// The state of type `T` that an observer keeps for this layer, made by `make` if
    /// there is none yet; `None` when an observer of another type holds the place.
    #[allow(
        dead_code,
        reason = "the observer's way in: used by compare mode, an optional feature"
    )]
    pub(crate) fn observer_or_insert<T: ObserverState>(
        &self,
        make: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        self.counters.observer_or_insert(make)
    }

    async fn wait_in_flight(&self) {
        wait_for_zero(self.budget.in_flight(), self.budget.calls_ended()).await;
    }
}

/// Waits until `count` is zero; `zero` is notified whenever it gets there.
async fn wait_for_zero(count: &AtomicUsize, zero: &Notify) {
    loop {
        let notified = zero.notified();
        tokio::pin!(notified);
        // Register before checking, so a wake-up between the check and the await is kept.
        notified.as_mut().enable();
        if count.load(Ordering::Acquire) == 0 {
            return;
        }
        notified.await;
    }
}
