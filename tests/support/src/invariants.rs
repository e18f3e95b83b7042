//! The stats invariants documented on `MirrorStats`, checked once the handle is idle.

use tower_mirror::{MirrorHandle, MirrorStats};

fn skipped_total(s: &MirrorStats) -> u64 {
    s.skipped_sampling
        + s.skipped_filter
        + s.skipped_body_too_large
        + s.skipped_body_incomplete
        + s.skipped_upgrade
        + s.skipped_no_runtime
        + s.skipped_shutdown
        + s.skipped_paused
}

/// The two invariants that hold once idle.
pub fn assert_invariants(s: &MirrorStats) {
    assert_eq!(
        s.seen,
        s.mirrored + skipped_total(s) + s.dropped_overload,
        "seen == mirrored + skipped_* + dropped_overload: {s:?}"
    );
    assert_eq!(
        s.mirrored,
        s.completed + s.failed + s.timed_out,
        "mirrored == completed + failed + timed_out: {s:?}"
    );
}

/// Idle handle: no copy running, nothing buffered, invariants hold.
pub fn assert_idle(handle: &MirrorHandle) {
    assert_eq!(handle.in_flight(), 0, "in_flight after wait_idle");
    assert_eq!(handle.buffered_bytes(), 0, "buffered_bytes after wait_idle");
    assert_invariants(&handle.stats());
}
