//! `CompareLayer`: a mirror layer in compare mode.

use tower_layer::Layer;

use super::service::Compare;
use crate::mirror::{MirrorHandle, MirrorLayer};

/// Layer that mirrors and compares; made by
/// [`MirrorLayer::compare`](crate::MirrorLayer::compare), builds [`Compare`].
///
/// ```
/// use tower_mirror::MirrorLayer;
/// use tower_mirror::compare::CompareConfig;
/// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// let layer = MirrorLayer::new(shadow)
///     .sample_percent(10.0)
///     .compare(CompareConfig::new().ignore_json_path("$.generated_at"));
/// let handle = layer.handle(); // stats() and compare_report()
/// ```
#[derive(Debug, Clone)]
pub struct CompareLayer<M> {
    mirror: MirrorLayer<M>,
    max_body_bytes: usize,
}

impl<M> CompareLayer<M> {
    pub(crate) fn new(mirror: MirrorLayer<M>, max_body_bytes: usize) -> Self {
        Self {
            mirror,
            max_body_bytes,
        }
    }

    /// A handle on the counters and the compare report.
    pub fn handle(&self) -> MirrorHandle {
        self.mirror.handle()
    }
}

impl<S, M: Clone> Layer<S> for CompareLayer<M> {
    type Service = Compare<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Compare::new(self.mirror.layer(inner), self.max_body_bytes)
    }
}
