//! Bounded waits: a test that would hang fails instead.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tower_mirror::MirrorHandle;

/// `wait_idle`, bounded so a copy that never finishes fails the test instead of hanging it
/// (with paused time the bound passes instantly). `wait_idle` also waits for request bodies
/// still being copied, so call it only once the primary is done with the body.
pub async fn idle(handle: &MirrorHandle) {
    tokio::time::timeout(Duration::from_secs(120), handle.wait_idle())
        .await
        .expect("wait_idle did not return: a copy never finished");
}

/// Fails the test instead of hanging it.
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("test step took over 10 s")
}

/// Waits for `cond` (checked every millisecond), failing after `limit`: for conditions set
/// by background tasks that have no notification of their own.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Lets spawned copy tasks run on a current-thread runtime.
pub async fn let_tasks_run() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Polls a future once with a no-op waker.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(fut).poll(&mut cx)
}
