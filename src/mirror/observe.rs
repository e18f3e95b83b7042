//! The hook through which another part of the crate watches a copy's answers without the
//! mirror knowing what it does with them. Compare mode is its user: it holds the
//! primary's answer itself, and through this hook sees the copy as it is sent and the
//! shadow's answer once the call has ended, and adds its counts to [`MirrorStats`].
//!
//! A [`CopyObserver`] rides with one copy from `call` (see `Mirror::call_observed`) and is
//! dropped unasked when the copy is skipped, dropped or sent headers-only; being dropped
//! is how it learns there is nothing to watch. A streamed copy, sent with no body kept,
//! tells it so ([`CopyObserver::not_compared`]).
//!
//! [`MirrorStats`]: crate::MirrorStats

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;

// The built layer a `Mirror` holds: `Mirror::call_observed` takes any whose `Copier`
// reaches a shadow, whole or streaming.
#[cfg(feature = "compare")]
pub(crate) use super::copy::Copier;
pub(crate) use super::event::EventSink;
#[cfg(feature = "compare")]
pub(crate) use super::send::ShadowCopier;

/// The shadow's answer: its head, and its body when the observer asked to keep it and it
/// fit (`None` when over [`CopyObserver::keep_body`]).
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "head and body are read by observers: compare mode, an optional feature"
)]
pub(crate) struct ShadowAnswer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
}

/// Watches one copy's answers.
pub(crate) trait CopyObserver: Send + Sync + 'static {
    /// Bytes of the shadow's response body to keep for [`shadow_answered`]
    /// (past them the body is dropped rather than drained).
    ///
    /// [`shadow_answered`]: Self::shadow_answered
    fn keep_body(&self) -> usize;

    /// The copy, as it is about to be sent. The work it returns runs beside the shadow
    /// call, on the copy's task and under the same timeout.
    fn sending(&mut self, copy: &Request<Full<Bytes>>) -> Option<BoxFuture<'static, ()>>;

    /// The copy was sent without a body to compare (it is streamed): counted as not
    /// compared, for `reason`. Nothing else is asked of the observer.
    fn not_compared(self: Box<Self>, reason: &'static str);

    /// The shadow call has ended and given back its budget: its answer if it answered
    /// whole in time, else `None`. The copy counts as unfinished (`wait_idle` waits) until
    /// the returned future ends; `events` is the layer's `on_event`.
    fn shadow_answered(
        self: Box<Self>,
        answer: Option<ShadowAnswer>,
        events: EventSink,
        timeout: Duration,
    ) -> BoxFuture<'static, ()>;
}

/// What an observer counted over all copies of a layer: the answers it compared and how
/// they came out. They fill the matching [`MirrorStats`](crate::MirrorStats) fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ObservedCounts {
    pub(crate) compared: u64,
    pub(crate) matched: u64,
    pub(crate) differed: u64,
    pub(crate) skipped: u64,
}

/// The state an observer keeps for a whole layer, reachable from every handle.
pub(crate) trait ObserverState: Any + Send + Sync + fmt::Debug {
    fn counts(&self) -> ObservedCounts;
    /// Itself, as `Any`, so its owner can find its own type again.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}
