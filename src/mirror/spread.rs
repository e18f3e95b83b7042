//! Each copy's own timeout, spread below the layer's: copies admitted in the same burst then
//! time out over a stretch of time, not all in one timer tick, and the slots they free are
//! taken again gradually, so a hung shadow does not turn the load into waves.
//!
//! The shares follow the golden-ratio (Weyl) sequence, `k × 0.618… mod 1` for the k-th copy:
//! the step SplitMix64 advances by. Any run of consecutive copies covers the range evenly,
//! more evenly than random draws would, and with no seed the sequence is still the same in
//! every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// 2⁶⁴ / φ, odd: every 2⁶⁴ steps visit each value once.
const GOLDEN_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hands out copies' timeouts in `[timeout × (1 − spread), timeout]`.
#[derive(Debug)]
pub(crate) struct TimeoutSpread {
    timeout: Duration,
    spread: f64,
    position: AtomicU64,
}

impl TimeoutSpread {
    /// `spread` is clamped to `0.0..=1.0` (NaN counts as 0: no spread).
    pub(crate) fn new(timeout: Duration, spread: f64) -> Self {
        let spread = if spread.is_nan() {
            0.0
        } else {
            spread.clamp(0.0, 1.0)
        };
        Self {
            timeout,
            spread,
            position: AtomicU64::new(0),
        }
    }

    /// The next copy's timeout; never longer than the layer's. The first copy gets the
    /// whole timeout.
    pub(crate) fn next(&self) -> Duration {
        if self.spread == 0.0 {
            return self.timeout;
        }
        let position = self.position.fetch_add(GOLDEN_STEP, Ordering::Relaxed);
        // The top 53 bits as a share in 0.0..1.0, exactly representable in an f64.
        let share = (position >> 11) as f64 / (1u64 << 53) as f64;
        // In (0, 1]: `spread` ≤ 1 and `share` < 1.
        self.timeout.mul_f64(1.0 - self.spread * share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    #[test]
    fn timeouts_stay_within_the_layers_and_cover_the_spread_evenly() {
        let spread = TimeoutSpread::new(TIMEOUT, 0.5);
        let timeouts: Vec<Duration> = (0..1024).map(|_| spread.next()).collect();
        assert_eq!(timeouts[0], TIMEOUT);
        assert!(timeouts.iter().all(|t| *t <= TIMEOUT && *t >= TIMEOUT / 2));
        // Ten equal bins between 2.5 s and 5 s, each within 10 % of its even share.
        let mut bins = [0usize; 10];
        for t in &timeouts {
            let bin = ((TIMEOUT - *t).as_secs_f64() / 0.25) as usize;
            bins[bin.min(9)] += 1;
        }
        for (i, n) in bins.iter().enumerate() {
            assert!((92..=113).contains(n), "bin {i} holds {n}: {bins:?}");
        }
    }

    #[test]
    fn the_sequence_is_the_same_every_time() {
        let (a, b) = (
            TimeoutSpread::new(TIMEOUT, 0.5),
            TimeoutSpread::new(TIMEOUT, 0.5),
        );
        let xs: Vec<Duration> = (0..16).map(|_| a.next()).collect();
        let ys: Vec<Duration> = (0..16).map(|_| b.next()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[1], xs[2]);
    }

    #[test]
    fn no_spread_and_bad_spreads() {
        let none = TimeoutSpread::new(TIMEOUT, 0.0);
        assert!((0..8).all(|_| none.next() == TIMEOUT));
        let nan = TimeoutSpread::new(TIMEOUT, f64::NAN);
        assert!((0..8).all(|_| nan.next() == TIMEOUT));
        let whole = TimeoutSpread::new(TIMEOUT, 7.0);
        assert!((0..64).all(|_| whole.next() <= TIMEOUT));
        let negative = TimeoutSpread::new(TIMEOUT, -1.0);
        assert!((0..8).all(|_| negative.next() == TIMEOUT));
    }
}
