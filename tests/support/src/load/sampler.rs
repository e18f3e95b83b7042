//! A thread that samples the handle's gauges and keeps their peaks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tower_mirror::MirrorHandle;

/// Peaks of the handle's gauges while the sampler ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    pub in_flight: usize,
    pub buffered_bytes: usize,
    pub samples: u64,
}

/// Polls `in_flight()` and `buffered_bytes()` about every millisecond on its own thread
/// (not a runtime task, so a busy runtime cannot starve it).
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl Sampler {
    pub fn start(handle: MirrorHandle) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            loop {
                peaks.in_flight = peaks.in_flight.max(handle.in_flight());
                peaks.buffered_bytes = peaks.buffered_bytes.max(handle.buffered_bytes());
                peaks.samples += 1;
                if flag.load(Ordering::Acquire) {
                    return peaks;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> Peaks {
        self.stop.store(true, Ordering::Release);
        self.thread.join().expect("the sampler thread panicked")
    }
}
