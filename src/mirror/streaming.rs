//! [`StreamingShadow`]: the shadow of a layer built with
//! [`MirrorLayer::streaming`](crate::MirrorLayer::streaming), which takes its copies as
//! [`CopyBody`], streamed or whole.

use std::fmt;
use std::sync::Arc;

use http::{Request, Response};
use http_body::Body;
use tower::{BoxError, Service};

use super::admission::Admission;
use super::copy::{BufferedCopy, Copier};
use super::counters::Recorder;
use super::policy::Policy;
use super::send::ShadowCopier;
use super::stream::CopyBody;

/// A shadow that takes its copies' bodies as [`CopyBody`], so that they can be streamed:
/// the shadow type of a layer built with
/// [`MirrorLayer::streaming`](crate::MirrorLayer::streaming), and of the [`Mirror`]s it
/// builds (`Mirror<S, StreamingShadow<M>>`).
///
/// ```
/// use tower_mirror::{CopyBody, Mirror, MirrorLayer, StreamingShadow};
/// use tower::Layer;
/// # type Primary = tower::util::BoxCloneSyncService<http::Request<tower_mirror::MirrorBody<CopyBody>>, http::Response<CopyBody>, std::convert::Infallible>;
/// # fn build(primary: Primary) {
/// let shadow: tower_mirror::upstream::HttpUpstream = "http://127.0.0.1:9001".parse().unwrap();
/// let layer = MirrorLayer::streaming(shadow);
/// let svc: Mirror<Primary, StreamingShadow<_>> = layer.layer(primary);
/// assert_eq!(svc.shadow().get_ref().base().to_string(), "http://127.0.0.1:9001/");
/// # }
/// ```
///
/// [`Mirror`]: crate::Mirror
#[derive(Clone)]
pub struct StreamingShadow<M> {
    inner: M,
}

impl<M: fmt::Debug> fmt::Debug for StreamingShadow<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StreamingShadow").field(&self.inner).finish()
    }
}

impl<M> StreamingShadow<M> {
    pub(crate) fn new(inner: M) -> Self {
        Self { inner }
    }

    /// The shadow service.
    pub fn get_ref(&self) -> &M {
        &self.inner
    }

    /// The shadow service, mutably.
    pub fn get_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    /// The shadow service.
    pub fn into_inner(self) -> M {
        self.inner
    }
}

impl<M, RB> Copier for ShadowCopier<StreamingShadow<M>>
where
    M: Service<Request<CopyBody>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    M::Future: Send,
    M::Error: Into<BoxError>,
    RB: Body + Send + 'static,
{
    fn policy(&self) -> &Policy {
        ShadowCopier::policy(self)
    }

    fn admission(&self) -> &Admission {
        ShadowCopier::admission(self)
    }

    fn recorder(&self) -> &Recorder {
        ShadowCopier::recorder(self)
    }

    fn send(self: Arc<Self>, copy: BufferedCopy) {
        let shadow = self.shadow().inner.clone();
        self.dispatch::<_, CopyBody, RB>(shadow, copy);
    }
}
