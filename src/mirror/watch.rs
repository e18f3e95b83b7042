//! The hook through which a watcher (the `metrics` feature's recorder) follows a layer's
//! numbers as they change: each request's decision, each call's end, each copy's end and
//! the breaker's turns. The layer calls it beside its own counters; a layer nobody
//! watches pays one load per call for asking.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use super::event::{DropReason, SkipReason};
use super::observe::ObservedCounts;

/// What was decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Mirrored,
    Skipped(SkipReason),
    Dropped(DropReason),
}

/// How one shadow call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallEnd {
    Completed(StatusCode),
    Failed,
    TimedOut,
}

/// Follows one layer family (a layer, its clones and their services).
pub(crate) trait Watcher: Send + Sync + fmt::Debug + 'static {
    /// The name it watches under; a second watcher is refused unless it has the same.
    fn name(&self) -> &str;

    /// One request's decision (exactly one per request).
    fn decided(&self, decision: Decision);

    /// One shadow call's end, and how long it took (the timeout, for one that timed out
    /// or was cut).
    fn call_ended(&self, end: CallEnd, took: Duration);

    /// A planned copy is over and has given back all it held; `observed` is what the
    /// layer's observer has counted so far, if it has one.
    fn copy_finished(&self, observed: Option<ObservedCounts>);

    /// The circuit breaker opened (`true`) or closed.
    fn breaker_turned(&self, open: bool);
}
