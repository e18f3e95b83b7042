//! Which mirror is which: a mirror of a [`Router`](super::Router) is known by its rule, its
//! destination and its labels, the name it reports under; [`MirrorInfo`] is what a router
//! tells of each.

use std::fmt;

use super::rule::MirrorTarget;
use crate::mirror::{MirrorHandle, MirrorLayer};
use crate::route::Labels;

/// The identity of one mirror of a [`Router`](super::Router): the rule it belongs to, the
/// destination it copies to and the labels that select the shadow backends.
///
/// Its `Display` is the mirror's name, `<rule>-><destination>{<labels>}`, as the metrics
/// label it (`RouterBuilder::metrics`, feature `metrics`); a reload keeps a mirror's
/// handle and counters when its identity stays the same.
///
/// ```
/// use tower_mirror::istio::{Config, MirrorId, Router};
/// use tower_mirror::route::{Backends, Labels};
/// # use bytes::Bytes;
/// # #[derive(Clone)]
/// # struct Mock;
/// # impl<B: Send + 'static> tower::Service<http::Request<B>> for Mock {
/// #     type Response = http::Response<http_body_util::Full<Bytes>>;
/// #     type Error = std::convert::Infallible;
/// #     type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
/// #         std::task::Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, _: http::Request<B>) -> Self::Future {
/// #         std::future::ready(Ok(http::Response::new(http_body_util::Full::default())))
/// #     }
/// # }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::from_yaml(include_str!("../../examples/config/mirror-httpbin-v2.yaml"))?;
/// let httpbin = Backends::new("httpbin")
///     .with(Labels::from([("version", "v1")]), Mock)
///     .with(Labels::from([("version", "v2")]), Mock);
/// let router = Router::builder(&config)
///     .backends(httpbin)
///     .configure_each_mirror(|id: &MirrorId, layer| {
///         let name = id.to_string();
///         layer.on_event(move |event| tracing::debug!(mirror = %name, ?event))
///     })
///     .build()?;
/// assert_eq!(
///     router.mirrors()[0].name,
///     "mirror-traffic-to-httbin-v2->httpbin{version=v2}"
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MirrorId {
    /// The rule's name.
    pub rule: String,
    /// The destination the copies go to, as written in the rule.
    pub destination: String,
    /// The labels that select the shadow backends.
    pub labels: Labels,
}

impl MirrorId {
    pub(crate) fn new(rule: &str, target: &MirrorTarget) -> Self {
        Self {
            rule: rule.to_owned(),
            destination: target.destination.clone(),
            labels: target.labels.clone(),
        }
    }
}

/// One mirror of one rule, with the handle on its counters and controls.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MirrorInfo {
    /// The rule's name.
    pub rule: String,
    /// The mirror's destination.
    pub destination: String,
    /// The mirror's selector, as `key=value,...`.
    pub labels: String,
    /// The mirror's name, `<rule>-><destination>{<labels>}` (see [`MirrorId`]): its
    /// `mirror` label in metrics.
    pub name: String,
    /// Share of the rule's requests copied, as configured (the handle's
    /// [`sample_percent`](MirrorHandle::sample_percent) is the share in force).
    pub percent: f64,
    /// Counters, `wait_idle`, `shutdown`, the share and the pause switch of this mirror.
    pub handle: MirrorHandle,
    /// What a reload recognises it by.
    id: MirrorId,
}

impl MirrorInfo {
    pub(crate) fn new(id: MirrorId, percent: f64, handle: MirrorHandle) -> Self {
        Self {
            rule: id.rule.clone(),
            destination: id.destination.clone(),
            labels: id.labels.to_string(),
            name: id.to_string(),
            percent,
            handle,
            id,
        }
    }

    pub(crate) fn id(&self) -> &MirrorId {
        &self.id
    }
}

impl fmt::Display for MirrorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}{{{}}}", self.rule, self.destination, self.labels)
    }
}

/// The layer, recording its metrics under the mirror's name (feature `metrics`).
#[cfg(feature = "metrics")]
pub(crate) fn named<M>(layer: MirrorLayer<M>, id: &MirrorId) -> MirrorLayer<M> {
    layer.metrics(id.to_string())
}

/// Without the `metrics` feature there is nothing to record.
#[cfg(not(feature = "metrics"))]
pub(crate) fn named<M>(layer: MirrorLayer<M>, _: &MirrorId) -> MirrorLayer<M> {
    layer
}
