//! Turning a mirror up, down, off and on while it runs: the sampling share and the pause
//! switch, shared by a layer, its clones, its services and its handles.

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

/// One million: the sampling scale (parts per million).
pub(crate) const PPM: u32 = 1_000_000;

/// Set while the mirror is paused; the low bits keep the share, so `resume` restores it.
const PAUSED: u32 = 1 << 31;

/// The live sampling share and pause switch, in one atomic so that a request reads both
/// with one relaxed load. Relaxed is enough: the value publishes nothing else, and a
/// request that reads the old value a moment after a change is as good as one that
/// arrived a moment earlier.
#[derive(Debug)]
pub(crate) struct SampleControl {
    state: AtomicU32,
}

impl Default for SampleControl {
    fn default() -> Self {
        Self {
            state: AtomicU32::new(PPM),
        }
    }
}

/// What one request reads: the share in parts per million, or that the mirror is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sampling(u32);

impl Sampling {
    #[inline]
    pub(crate) fn is_paused(self) -> bool {
        self.0 & PAUSED != 0
    }

    #[inline]
    pub(crate) fn ppm(self) -> u32 {
        self.0 & !PAUSED
    }
}

impl SampleControl {
    /// The request path's read: one relaxed load.
    #[inline]
    pub(crate) fn load(&self) -> Sampling {
        Sampling(self.state.load(Ordering::Relaxed))
    }

    /// Sets the share, keeping the pause switch as it is.
    pub(crate) fn set_ppm(&self, ppm: u32) {
        let ppm = ppm.min(PPM);
        // `fetch_update` with a closure that always returns `Some` cannot fail.
        let _ = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
                Some(state & PAUSED | ppm)
            });
    }

    pub(crate) fn pause(&self) {
        self.state.fetch_or(PAUSED, Ordering::Relaxed);
    }

    pub(crate) fn resume(&self) {
        self.state.fetch_and(!PAUSED, Ordering::Relaxed);
    }
}

/// `round(percent × 10_000)`: the share as the integer sampling compares against, or an
/// error for NaN and values outside `0.0..=100.0`.
pub(crate) fn ppm_of(percent: f64) -> Result<u32, InvalidPercent> {
    if !(0.0..=100.0).contains(&percent) {
        return Err(InvalidPercent { percent });
    }
    // In range, so the product is in 0.0..=1e6 and the cast is exact after rounding.
    Ok(((percent * 10_000.0).round() as u32).min(PPM))
}

/// The share as a percentage, for reading back.
pub(crate) fn percent_of(ppm: u32) -> f64 {
    f64::from(ppm) / 10_000.0
}

/// A sampling percentage that is NaN or outside `0.0..=100.0`, refused by
/// [`MirrorHandle::try_set_sample_percent`](crate::MirrorHandle::try_set_sample_percent).
///
/// ```
/// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// let handle = tower_mirror::MirrorLayer::new(shadow).handle();
/// let error = handle.try_set_sample_percent(250.0).unwrap_err();
/// assert_eq!(error.percent(), 250.0);
/// assert_eq!(handle.sample_percent(), 100.0, "unchanged");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvalidPercent {
    percent: f64,
}

impl InvalidPercent {
    /// The value that was refused.
    pub fn percent(&self) -> f64 {
        self.percent
    }
}

impl fmt::Display for InvalidPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not a sampling percentage: use a number in 0.0..=100.0",
            self.percent
        )
    }
}

impl Error for InvalidPercent {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_keeps_the_share_and_resume_restores_it() {
        let control = SampleControl::default();
        control.set_ppm(250_000);
        control.pause();
        assert!(control.load().is_paused());
        assert_eq!(control.load().ppm(), 250_000);
        control.set_ppm(10_000);
        assert!(control.load().is_paused(), "a new share keeps the pause");
        control.resume();
        assert_eq!(control.load(), Sampling(10_000));
    }

    #[test]
    fn percent_to_ppm_rounds_and_refuses_bad_values() {
        assert_eq!(ppm_of(25.0), Ok(250_000));
        assert_eq!(ppm_of(0.0001), Ok(1));
        assert_eq!(ppm_of(100.0), Ok(PPM));
        for bad in [f64::NAN, -0.1, 100.01, f64::INFINITY] {
            assert!(ppm_of(bad).is_err(), "{bad}");
        }
        assert_eq!(percent_of(250_000), 25.0);
    }
}
