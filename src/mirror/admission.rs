//! The budget every copy is admitted against, decided in one place: shadow calls in
//! flight, body bytes held, the circuit breaker, and shutdown.
//!
//! Each copy asks three times, each time as cheaply as the moment allows:
//!
//! 1. at `call`, before anything is copied: is the layer shutting down, and would the copy
//!    be refused anyway (calls in flight at the limit, breaker open)? Nothing is taken;
//! 2. before the copy's head is cloned, then as the primary reads the body: may these bytes
//!    be held? What is held is a [`HeldBytes`], given back when it is dropped;
//! 3. when the copy is ready: shutdown again, a runtime to run on, an in-flight slot, and
//!    the breaker's leave (which may be its one probe). What is taken here is given back
//!    when the shadow call ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::breaker::Breaker;
use super::event::{DropReason, SkipReason};
use super::pacing::Pacer;
use crate::frames::DRAIN_LIMIT;

/// The limits of a layer's budget.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_in_flight: usize,
    pub(crate) max_buffered_bytes: usize,
    /// Bytes of each shadow answer's body read; past them the copy fails.
    pub(crate) max_shadow_body_bytes: usize,
    /// Share of the timeout a copy's own timeout may be shorter by, `0.0..=1.0`.
    pub(crate) timeout_spread: f64,
    /// Whether copies are admitted at most `max_in_flight` per smoothed call duration.
    pub(crate) paced: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            max_buffered_bytes: 64 << 20,
            max_shadow_body_bytes: DRAIN_LIMIT,
            timeout_spread: DEFAULT_TIMEOUT_SPREAD,
            paced: true,
        }
    }
}

/// Copies admitted together time out over the last half of the timeout, not at one instant.
pub(crate) const DEFAULT_TIMEOUT_SPREAD: f64 = 0.5;

/// Why a copy was not admitted: a policy reason (shutdown, no runtime) or a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Skip(SkipReason),
    Drop(DropReason),
}

/// What the copies of a layer hold now, and whether it is shutting down; shared by every
/// clone of the layer and its handles (settings live in [`Admission`], so builder calls
/// after `handle()` still apply).
#[derive(Debug, Default)]
pub(crate) struct Budget {
    in_flight: AtomicUsize,
    /// Notified when `in_flight` reaches zero.
    calls_ended: Notify,
    /// Bytes held by copies (heads and bodies), from cloning or buffering until their
    /// shadow call ends.
    buffered: AtomicUsize,
    shutting_down: AtomicBool,
    /// Set when `shutdown`'s deadline passes: copies still running are cut.
    cut: AtomicBool,
    cut_notify: Notify,
    /// Copies ended by `shutdown`'s deadline.
    cut_copies: AtomicUsize,
}

impl Budget {
    pub(crate) fn in_flight(&self) -> &AtomicUsize {
        &self.in_flight
    }

    pub(crate) fn calls_ended(&self) -> &Notify {
        &self.calls_ended
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// From now on every copy is refused (`skipped_shutdown`).
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Cuts every copy still running; returns the count of cut copies before this cut.
    pub(crate) fn cut_running(&self) -> usize {
        let before = self.cut_copies.load(Ordering::Acquire);
        self.cut.store(true, Ordering::Release);
        self.cut_notify.notify_waiters();
        before
    }

    pub(crate) fn cut_copies(&self) -> usize {
        self.cut_copies.load(Ordering::Acquire)
    }

    /// Resolves once `shutdown` has cut the copies still running (and counts this one).
    pub(crate) async fn cut(&self) {
        let cut = self.cut_notify.notified();
        tokio::pin!(cut);
        cut.as_mut().enable();
        if !self.cut.load(Ordering::Acquire) {
            cut.await;
        }
        self.cut_copies.fetch_add(1, Ordering::AcqRel);
    }

    /// A compare-and-swap, so the gauge never reads above `max`, even for a moment.
    fn reserve_bytes(&self, n: usize, max: usize) -> bool {
        self.buffered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok()
    }

    fn release_bytes(&self, n: usize) {
        if n > 0 {
            self.buffered.fetch_sub(n, Ordering::AcqRel);
        }
    }

    fn reserve_call(&self, max: usize) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release_call(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.calls_ended.notify_waiters();
        }
    }
}

/// A layer's limits and breaker over the shared [`Budget`]: every admission question is
/// asked here.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: Limits,
    breaker: Option<Breaker>,
    budget: Arc<Budget>,
    pacer: Option<Arc<Pacer>>,
}

impl Admission {
    pub(crate) fn new(limits: Limits, breaker: Option<Breaker>, budget: Arc<Budget>) -> Self {
        let pacer = limits
            .paced
            .then(|| Arc::new(Pacer::new(limits.max_in_flight)));
        Self {
            limits,
            breaker,
            budget,
            pacer,
        }
    }

    /// Told how long each call took, to pace the copies after it.
    pub(crate) fn pacer(&self) -> Option<&Arc<Pacer>> {
        self.pacer.as_ref()
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// At `call`, first of all: a layer shutting down plans no copies.
    #[inline]
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.budget.is_shutting_down()
    }

    /// At `call`, once the policy wants a copy: would it be refused anyway? An overloaded
    /// or failing shadow then costs no copying at all. Takes nothing, and never the
    /// breaker's probe; [`admit`](Self::admit) decides for good.
    pub(crate) fn screen(&self) -> Result<(), DropReason> {
        if self.budget.in_flight.load(Ordering::Acquire) >= self.limits.max_in_flight
            || self
                .pacer
                .as_ref()
                .is_some_and(|pacer| !pacer.would_admit())
        {
            return Err(DropReason::InFlight);
        }
        if self.breaker.as_ref().is_some_and(Breaker::is_open) {
            return Err(DropReason::CircuitOpen);
        }
        Ok(())
    }

    /// Before the copy's head is cloned: holds `n` bytes for it, or refuses the copy, which
    /// then costs nothing.
    pub(crate) fn hold(&self, n: usize) -> Result<HeldBytes, DropReason> {
        let mut held = HeldBytes {
            budget: Arc::clone(&self.budget),
            max: self.limits.max_buffered_bytes,
            bytes: 0,
        };
        held.grow(n)?;
        Ok(held)
    }

    /// When the copy is ready: not shutting down, a runtime to spawn on, an in-flight
    /// slot, and the breaker's leave, in that order. On success the slot is the copy's
    /// until [`call_ended`](Self::call_ended).
    pub(crate) fn admit(&self) -> Result<Handle, Refusal> {
        if self.budget.is_shutting_down() {
            return Err(Refusal::Skip(SkipReason::Shutdown));
        }
        let Ok(runtime) = Handle::try_current() else {
            return Err(Refusal::Skip(SkipReason::NoRuntime));
        };
        if !self.budget.reserve_call(self.limits.max_in_flight) {
            return Err(Refusal::Drop(DropReason::InFlight));
        }
        // Paced after the slot: a copy refused here takes no place in the rate.
        if let Some(pacer) = &self.pacer
            && !pacer.admit()
        {
            self.budget.release_call();
            return Err(Refusal::Drop(DropReason::InFlight));
        }
        // Asked with the slot held: a probe the breaker lets through is always sent.
        if let Some(breaker) = &self.breaker
            && !breaker.allow()
        {
            self.budget.release_call();
            return Err(Refusal::Drop(DropReason::CircuitOpen));
        }
        Ok(runtime)
    }

    /// A shadow call's outcome, for the breaker: a success closes it, failures open it.
    pub(crate) fn call_outcome(&self, success: bool) {
        if let Some(breaker) = &self.breaker {
            breaker.record(success);
        }
    }

    /// An admitted call has ended: its in-flight slot is given back (its bytes are given
    /// back first, by their [`HeldBytes`]).
    pub(crate) fn call_ended(&self) {
        self.budget.release_call();
    }
}

/// Bytes one copy holds in the budget: its head from the moment it is cloned, then its
/// body as it is buffered. Given back when dropped, so no path can keep them.
pub(crate) struct HeldBytes {
    budget: Arc<Budget>,
    max: usize,
    bytes: usize,
}

impl std::fmt::Debug for HeldBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HeldBytes").field(&self.bytes).finish()
    }
}

impl HeldBytes {
    /// Holds `n` more bytes, or refuses the copy (what is held stays held).
    pub(crate) fn grow(&mut self, n: usize) -> Result<(), DropReason> {
        if n == 0 {
            return Ok(());
        }
        if self.budget.reserve_bytes(n, self.max) {
            self.bytes += n;
            Ok(())
        } else {
            Err(DropReason::Bytes)
        }
    }

    /// Holds exactly `n` bytes: gives back the difference, or holds more if it fits.
    pub(crate) fn resize(&mut self, n: usize) -> Result<(), DropReason> {
        match n.checked_sub(self.bytes) {
            Some(more) => self.grow(more),
            None => {
                self.shrink(self.bytes - n);
                Ok(())
            }
        }
    }

    /// Gives back `n` of the bytes held.
    pub(crate) fn shrink(&mut self, n: usize) {
        let n = n.min(self.bytes);
        self.bytes -= n;
        self.budget.release_bytes(n);
    }

    /// Gives back every byte held.
    pub(crate) fn release(&mut self) {
        self.shrink(self.bytes);
    }
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        self.release();
    }
}
