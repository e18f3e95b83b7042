//! `MirrorHandle`: a layer's numbers, read from outside, the waits on its copies
//! (`wait_idle`, `shutdown`), and its controls (sampling share, pause).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::admission::Budget;
use super::control::{InvalidPercent, SampleControl, percent_of, ppm_of};
use super::counters::{Counters, MirrorStats};
use super::observe::ObserverState;

/// A handle on a mirror layer's counters, in-flight copies and controls; every clone sees
/// the same.
///
/// Get one from [`MirrorLayer::handle`](crate::MirrorLayer::handle) before the layer is
/// moved into a stack (or from [`Mirror::handle`](crate::Mirror::handle)). Through it a
/// running mirror is turned up, down, paused and resumed: every clone of the layer and of
/// its services sees the change on its next request.
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
    sampling: Arc<SampleControl>,
}

impl fmt::Debug for MirrorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirrorHandle")
            .field("stats", &self.stats())
            .field("in_flight", &self.in_flight())
            .field("buffered_bytes", &self.buffered_bytes())
            .field("sample_percent", &self.sample_percent())
            .field("paused", &self.is_paused())
            .finish()
    }
}

impl MirrorHandle {
    pub(crate) fn new(
        counters: Arc<Counters>,
        budget: Arc<Budget>,
        sampling: Arc<SampleControl>,
    ) -> Self {
        Self {
            counters,
            budget,
            sampling,
        }
    }

    /// Changes the share of requests mirrored, `0.0..=100.0`, from the next request on, in
    /// every clone of the layer and its services. The rule is the one
    /// [`sample_percent`](crate::MirrorLayer::sample_percent) sets at build time (with
    /// [`sample_by_header`](crate::MirrorLayer::sample_by_header), the same header values
    /// keep being chosen, more of them as the share grows). A paused mirror stays paused.
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let layer = tower_mirror::MirrorLayer::new(shadow).sample_percent(1.0);
    /// let handle = layer.handle();
    /// // ... the shadow holds up: turn it up.
    /// handle.set_sample_percent(10.0);
    /// assert_eq!(handle.sample_percent(), 10.0);
    /// ```
    ///
    /// # Panics
    ///
    /// As `sample_percent` does, if `percent` is NaN or outside `0.0..=100.0`; the share
    /// is then left as it was. [`try_set_sample_percent`](Self::try_set_sample_percent)
    /// returns an error instead, for values that come from outside (an admin endpoint).
    pub fn set_sample_percent(&self, percent: f64) {
        if let Err(error) = self.try_set_sample_percent(percent) {
            panic!("MirrorHandle::set_sample_percent: {error}");
        }
    }

    /// [`set_sample_percent`](Self::set_sample_percent), returning an error instead of
    /// panicking when `percent` is NaN or outside `0.0..=100.0` (the share is then left as
    /// it was).
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let handle = tower_mirror::MirrorLayer::new(shadow).handle();
    /// let asked = "12.5"; // e.g. from `POST /mirrors/percent?value=12.5`
    /// match asked.parse::<f64>().map(|p| handle.try_set_sample_percent(p)) {
    ///     Ok(Ok(())) => assert_eq!(handle.sample_percent(), 12.5),
    ///     Ok(Err(error)) => eprintln!("refused: {error}"),
    ///     Err(error) => eprintln!("not a number: {error}"),
    /// }
    /// ```
    pub fn try_set_sample_percent(&self, percent: f64) -> Result<(), InvalidPercent> {
        self.sampling.set_ppm(ppm_of(percent)?);
        Ok(())
    }

    /// The share of requests mirrored now, in percent (as set, rounded to 0.0001 %). A
    /// paused mirror keeps its share, to go back to on [`resume`](Self::resume).
    pub fn sample_percent(&self) -> f64 {
        percent_of(self.sampling.load().ppm())
    }

    /// Stops mirroring from the next request on, in every clone of the layer and its
    /// services: requests are counted `skipped_paused` and nothing is sent. Copies
    /// already under way (their body being read, or their call running) still go.
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let handle = tower_mirror::MirrorLayer::new(shadow).sample_percent(25.0).handle();
    /// handle.pause(); // the shadow misbehaves
    /// assert!(handle.is_paused());
    /// handle.resume(); // fixed: back to 25 %
    /// assert!(!handle.is_paused());
    /// assert_eq!(handle.sample_percent(), 25.0);
    /// ```
    pub fn pause(&self) {
        self.sampling.pause();
    }

    /// Mirrors again, at the share set before (or since) the pause.
    pub fn resume(&self) {
        self.sampling.resume();
    }

    /// Whether the mirror is paused.
    pub fn is_paused(&self) -> bool {
        self.sampling.load().is_paused()
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

    /// What the layer family shares, for a layer rebuilt to keep this one's numbers.
    #[allow(
        dead_code,
        reason = "used by istio::Router's reload, an optional feature"
    )]
    pub(crate) fn shared(&self) -> (&Arc<Counters>, &Arc<Budget>, &Arc<SampleControl>) {
        (&self.counters, &self.budget, &self.sampling)
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
