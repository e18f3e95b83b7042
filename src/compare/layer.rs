//! `CompareLayer`: a mirror layer in compare mode.

use std::sync::Arc;

use tower_layer::Layer;

use super::comparison::Comparator;
use super::config::CompareConfig;
use super::service::Compare;
use super::state::ReportState;
use crate::mirror::{MirrorHandle, MirrorLayer};

impl<M> MirrorLayer<M> {
    /// Compare mode (feature `compare`): also compares each shadow answer with the
    /// primary's, off the critical path; see [`crate::compare`]. The layer it returns
    /// wraps the primary's response body in a [`CompareBody`](crate::compare::CompareBody).
    #[must_use]
    pub fn compare(self, config: CompareConfig) -> CompareLayer<M> {
        // One report per layer and its clones, whichever of them turned compare mode on.
        let report = self
            .handle()
            .observer_or_insert(ReportState::default)
            .unwrap_or_default();
        CompareLayer {
            mirror: self,
            comparator: Arc::new(Comparator::new(config, report)),
        }
    }
}

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
    comparator: Arc<Comparator>,
}

impl<M> CompareLayer<M> {
    /// A handle on the counters and the compare report.
    pub fn handle(&self) -> MirrorHandle {
        self.mirror.handle()
    }
}

impl<S, M: Clone> Layer<S> for CompareLayer<M> {
    type Service = Compare<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Compare::new(self.mirror.layer(inner), Arc::clone(&self.comparator))
    }
}
