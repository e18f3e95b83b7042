//! The stop flag every long-running task watches: it turns true once, on shutdown.

use tokio::sync::watch;

/// Returns once `stop` is true (or its sender is gone: nothing can stop it any more, so
/// stopping now is as good).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not across an await.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}
