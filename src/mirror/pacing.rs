//! Pacing: copies are admitted no faster, on average, than `max_in_flight` per smoothed
//! call duration (Little's law: the rate at which calls in flight stay at the limit). A
//! shadow with a steady latency answers the copies sent in one burst in one burst; without
//! pacing, the slots freed together are taken again together and the waves never end.
//! Paced, a wave frees its slots at once but they are taken again spread over the next
//! call's duration, so the waves flatten out within a few rounds, at the same number of
//! copies per second.
//!
//! Until the first call is answered the duration is unknown and nothing is paced: a
//! healthy shadow is never held back on start, and a burst of up to an eighth of the limit
//! always passes. Timed-out calls do not count: a hung shadow is the timeouts' spread's
//! and the circuit breaker's to handle, and pacing by the timeout would throttle a
//! shadow that has recovered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A generic cell rate algorithm over atomics: `due` is when the next copy is due; a copy
/// may come up to `burst` intervals early.
#[derive(Debug)]
pub(crate) struct Pacer {
    epoch: Instant,
    /// Nanoseconds after `epoch`.
    due: AtomicU64,
    /// Smoothed call duration in nanoseconds; 0 until a call ends.
    duration: AtomicU64,
    max_in_flight: u64,
    burst: u64,
}

impl Pacer {
    pub(crate) fn new(max_in_flight: usize) -> Self {
        let max_in_flight = (max_in_flight as u64).max(1);
        Self {
            epoch: Instant::now(),
            due: AtomicU64::new(0),
            duration: AtomicU64::new(0),
            max_in_flight,
            burst: (max_in_flight / 8).max(1),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn interval(&self) -> u64 {
        self.duration.load(Ordering::Relaxed) / self.max_in_flight
    }

    /// Would a copy be admitted now? Takes nothing.
    pub(crate) fn would_admit(&self) -> bool {
        let interval = self.interval();
        interval == 0
            || self.due.load(Ordering::Relaxed) <= self.now().saturating_add(interval * self.burst)
    }

    /// Admits a copy now, or refuses it.
    pub(crate) fn admit(&self) -> bool {
        self.admit_at(self.now())
    }

    fn admit_at(&self, now: u64) -> bool {
        let interval = self.interval();
        if interval == 0 {
            return true;
        }
        let tolerance = interval.saturating_mul(self.burst);
        self.due
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |due| {
                (due <= now.saturating_add(tolerance))
                    .then(|| due.max(now).saturating_add(interval))
            })
            .is_ok()
    }

    /// An answered call took `took`: smoothed over about 8 calls.
    pub(crate) fn call_took(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // The update cannot fail: the closure always returns Some.
        let _ = self
            .duration
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |smoothed| {
                Some(if smoothed == 0 {
                    sample
                } else {
                    // Rounded so that a run of zero samples comes down to 0.
                    smoothed - smoothed.div_ceil(8) + sample / 8
                })
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn nothing_is_paced_until_a_call_ends() {
        let pacer = Pacer::new(16);
        assert!((0..1000).all(|_| pacer.admit_at(0)));
        assert!(pacer.would_admit());
    }

    #[test]
    fn after_a_call_copies_come_at_the_limit_per_duration_with_small_bursts() {
        // 16 in flight, calls of 160 ms: one copy per 10 ms, bursts of 2.
        let pacer = Pacer::new(16);
        pacer.call_took(Duration::from_millis(160));
        let now = 1000 * MS;
        let burst: usize = (0..10).filter(|_| pacer.admit_at(now)).count();
        assert_eq!(burst, 3, "the due one and two early");
        assert!(!pacer.admit_at(now + 5 * MS));
        assert!(pacer.admit_at(now + 10 * MS));
        // Over a second, at one attempt per millisecond: 100 admitted, evenly.
        let admitted: Vec<u64> = (11..1011)
            .map(|t| now + t * MS)
            .filter(|t| pacer.admit_at(*t))
            .collect();
        assert!((99..=101).contains(&admitted.len()), "{}", admitted.len());
        assert!(admitted.windows(2).all(|w| w[1] - w[0] == 10 * MS));
    }

    #[test]
    fn the_duration_is_smoothed() {
        let pacer = Pacer::new(1);
        pacer.call_took(Duration::from_millis(800));
        pacer.call_took(Duration::from_millis(0));
        assert_eq!(pacer.interval(), 700 * MS);
        for _ in 0..300 {
            pacer.call_took(Duration::from_millis(0));
        }
        assert_eq!(pacer.interval(), 0);
        assert!(pacer.admit_at(0));
    }
}
