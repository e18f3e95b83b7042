//! The opt-in circuit breaker: a shadow that keeps failing stops costing a connect attempt
//! (or a timeout slot) per request.
//!
//! Closed: copies flow; `threshold` failures in a row open it. Open: copies are dropped
//! until the back-off ends, then exactly one copy goes as a probe (half-open). The probe's
//! success closes the breaker; its failure reopens it with the back-off doubled, up to the
//! maximum.
//!
//! Its turns are logged once each, not per request: opening at `warn`, closing at `info`
//! (a failed probe, which keeps it open, at `debug`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::counters::Counters;

/// The first back-off; it doubles on every failed probe up to the configured maximum.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    max_backoff: Duration,
    /// Lets the closed state, the common one, skip the lock.
    closed: AtomicBool,
    state: Mutex<State>,
    /// Told of each turn (for the `breaker_open` gauge).
    counters: Option<Arc<Counters>>,
}

#[derive(Debug)]
struct State {
    failures: u32,
    backoff: Duration,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { until: Instant },
    Probing,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, max_backoff: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            max_backoff,
            closed: AtomicBool::new(true),
            state: Mutex::new(State {
                failures: 0,
                backoff: INITIAL_BACKOFF.min(max_backoff),
                phase: Phase::Closed,
            }),
            counters: None,
        }
    }

    /// Reports each turn (open, closed) to the layer's counters.
    pub(crate) fn reporting_to(self, counters: Arc<Counters>) -> Self {
        Self {
            counters: Some(counters),
            ..self
        }
    }

    /// Told while the state is locked, so turns are reported in the order they happen.
    fn turned(&self, open: bool) {
        if let Some(counters) = &self.counters {
            counters.breaker_turned(open);
        }
    }

    /// Whether a copy may be sent now. When the back-off has ended this lets exactly one
    /// copy through as the probe; the caller must then dispatch it (its outcome is what
    /// closes or reopens the breaker).
    pub(crate) fn allow(&self) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return true;
        }
        let mut state = self.lock();
        match state.phase {
            Phase::Closed => true,
            Phase::Open { until } if Instant::now() >= until => {
                state.phase = Phase::Probing;
                true
            }
            Phase::Open { .. } | Phase::Probing => false,
        }
    }

    /// Whether copies are being refused now; unlike [`allow`](Self::allow) it never takes
    /// the probe, so it can be asked early and often.
    pub(crate) fn is_open(&self) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        match self.lock().phase {
            Phase::Closed => false,
            Phase::Open { until } => Instant::now() < until,
            Phase::Probing => true,
        }
    }

    pub(crate) fn record(&self, success: bool) {
        if success && self.closed.load(Ordering::Acquire) {
            // Skip the lock unless there are failures to forget.
            let state = self.lock();
            if state.failures == 0 {
                return;
            }
            drop(state);
        }
        let mut state = self.lock();
        if success {
            state.failures = 0;
            state.backoff = INITIAL_BACKOFF.min(self.max_backoff);
            if state.phase != Phase::Closed {
                tracing::info!(
                    target: "tower_mirror",
                    "circuit breaker closed: the shadow answers again, copies flow"
                );
                self.turned(false);
            }
            state.phase = Phase::Closed;
            self.closed.store(true, Ordering::Release);
            return;
        }
        state.failures = state.failures.saturating_add(1);
        let open = match state.phase {
            Phase::Probing => {
                state.backoff = (state.backoff * 2).min(self.max_backoff);
                true
            }
            Phase::Closed => state.failures >= self.threshold,
            // A copy sent before the breaker opened: it is already open.
            Phase::Open { .. } => false,
        };
        if open {
            let was_closed = state.phase == Phase::Closed;
            state.phase = Phase::Open {
                until: Instant::now() + state.backoff,
            };
            self.closed.store(false, Ordering::Release);
            let backoff_ms = state.backoff.as_millis() as u64;
            if was_closed {
                tracing::warn!(
                    target: "tower_mirror",
                    failures = state.failures,
                    backoff_ms,
                    "circuit breaker open: the shadow keeps failing, copies are dropped \
                     (dropped_breaker) until a probe succeeds"
                );
                self.turned(true);
            } else {
                tracing::debug!(
                    target: "tower_mirror",
                    failures = state.failures,
                    backoff_ms,
                    "circuit breaker probe failed: open again"
                );
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data and every update leaves it consistent, so a panic
        // elsewhere while holding the lock cannot leave it broken: ignore poisoning.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_and_probes_after_backoff() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            breaker.record(false);
            assert!(breaker.allow());
        }
        breaker.record(false);
        assert!(!breaker.allow(), "open after 3 failures in a row");

        tokio::time::advance(INITIAL_BACKOFF).await;
        assert!(breaker.allow(), "one probe after the back-off");
        assert!(!breaker.allow(), "only one probe at a time");

        breaker.record(false);
        tokio::time::advance(INITIAL_BACKOFF).await;
        assert!(!breaker.allow(), "back-off doubled after a failed probe");
        tokio::time::advance(INITIAL_BACKOFF).await;
        assert!(breaker.allow());

        breaker.record(true);
        assert!(
            breaker.allow() && breaker.allow(),
            "closed again after a good probe"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped() {
        let breaker = Breaker::new(1, Duration::from_secs(3));
        breaker.record(false);
        for _ in 0..5 {
            tokio::time::advance(Duration::from_secs(3)).await;
            assert!(breaker.allow());
            breaker.record(false);
        }
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(breaker.allow(), "back-off never above the maximum");
    }

    #[test]
    fn success_resets_the_failure_run() {
        let breaker = Breaker::new(2, Duration::from_secs(1));
        breaker.record(false);
        breaker.record(true);
        breaker.record(false);
        assert!(breaker.allow(), "failures must be in a row");
    }
}
