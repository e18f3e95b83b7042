//! One copy's life, stage by stage: [`PlannedCopy`] at `call` (its head cloned and
//! counted in the budget, nothing of the body yet), [`CopyBuffer`] while the primary reads
//! the body, [`BufferedCopy`] once the body is whole (or, streamed, as soon as its stream
//! starts), [`SentCopy`] while its shadow call runs, and finished when its outcome is
//! recorded. From plan to finish the copy is an
//! [`UnfinishedCopy`], which `wait_idle` waits for, and holds its bytes in the budget
//! ([`HeldBytes`]) until its shadow call ends.
//!
//! The stages talk to the layer through [`Copier`], which holds the rules and the shadow.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http::request::Parts;

use super::admission::{Admission, HeldBytes};
use super::counters::{Counters, Recorder};
use super::event::{DropReason, EventSink, MirrorEvent, SkipReason};
use super::head::head_bytes;
use super::observe::CopyObserver;
use super::policy::{Oversize, Policy, mark_truncated};
use super::stream::{self, CopyBody, StreamTee, StreamWatch};
use crate::frames::{BodyJoiner, GatheredBody};

/// The layer as its copies see it: its rules, and a way to send to its shadow, whose type
/// it hides so that a request body need not name it.
pub(crate) trait Copier: Send + Sync + 'static {
    fn policy(&self) -> &Policy;
    fn admission(&self) -> &Admission;
    fn recorder(&self) -> &Recorder;
    /// Admits a copy and sends it on its own task, or records why not.
    fn send(self: Arc<Self>, copy: BufferedCopy);
}

/// Counts a copy as unfinished from its plan until it is dropped, which also happens by
/// unwinding or a runtime dropping the copy's task, so the count cannot leak.
#[derive(Debug)]
pub(crate) struct UnfinishedCopy {
    counters: Arc<Counters>,
}

impl UnfinishedCopy {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.copy_started();
        Self {
            counters: Arc::clone(counters),
        }
    }
}

impl Drop for UnfinishedCopy {
    fn drop(&mut self) {
        self.counters.copy_finished();
    }
}

/// A copy decided at `call`: its head, who watches its answers, and the bytes it holds.
pub(crate) struct PlannedCopy {
    head: Parts,
    observer: Option<Box<dyn CopyObserver>>,
    /// The head's bytes in the budget, then the body's as it is buffered.
    held: HeldBytes,
    /// Last, so it is dropped after the rest.
    unfinished: UnfinishedCopy,
}

impl fmt::Debug for PlannedCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlannedCopy")
            .field("head", &self.head)
            .field("observed", &self.observer.is_some())
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl PlannedCopy {
    /// A copy with this head, counted exactly in the budget (where `held` holds the bytes
    /// estimated before the head was cloned); refused when it does not fit.
    pub(crate) fn new(
        head: Parts,
        mut held: HeldBytes,
        counters: &Arc<Counters>,
    ) -> Result<Self, DropReason> {
        held.resize(head_bytes(&head.uri, &head.headers))?;
        Ok(Self {
            head,
            observer: None,
            held,
            unfinished: UnfinishedCopy::new(counters),
        })
    }

    pub(crate) fn observed_by(self, observer: Option<Box<dyn CopyObserver>>) -> Self {
        Self { observer, ..self }
    }

    /// The body is known to be empty: sends the copy now.
    pub(crate) fn send_empty(self, copier: Arc<dyn Copier>) {
        copier.send(self.buffered(GatheredBody::One(Bytes::new()), false));
    }

    /// The body is over `max_body_bytes` with [`Oversize::HeadersOnly`]: sends the copy
    /// now, without its body, marked as truncated; it holds its (marked) head only.
    pub(crate) fn send_headers_only(mut self, copier: Arc<dyn Copier>) {
        mark_truncated(&mut self.head);
        // Nothing to compare for a copy without its body.
        self.observer = None;
        if let Err(reason) = self
            .held
            .resize(head_bytes(&self.head.uri, &self.head.headers))
        {
            // Recorded before the copy stops being unfinished, so `wait_idle` sees it.
            copier.recorder().dropped(reason);
            return;
        }
        copier.send(self.buffered(GatheredBody::One(Bytes::new()), true));
    }

    /// The copy turns into a stream (`Oversize::Stream`, or `stream_bodies`): it holds its
    /// window in the budget and is sent now, `prefix` (what was buffered so far) first;
    /// the rest follows through the returned tee. `None` when it was not sent (the budget
    /// refused its window, or the copier refused it: recorded either way).
    pub(crate) fn stream(
        mut self,
        copier: Arc<dyn Copier>,
        length: Option<u64>,
        prefix: Bytes,
    ) -> Option<StreamTee> {
        if let Err(reason) = self.held.grow(copier.policy().stream_window) {
            // Recorded before the copy stops being unfinished, so `wait_idle` sees it.
            copier.recorder().dropped(reason);
            return None;
        }
        let (tee, body, watch) = stream::open(copier.policy().stream_window, length, prefix);
        copier.send(BufferedCopy {
            content: Content::Streamed(body, watch),
            truncated: false,
            planned: self,
        });
        Some(tee)
    }

    fn buffered(self, body: GatheredBody, truncated: bool) -> BufferedCopy {
        BufferedCopy {
            content: Content::Whole(body),
            truncated,
            planned: self,
        }
    }
}

/// A copy whose body is being read by the primary: its data so far, gathered as it comes
/// (see [`BodyJoiner`]) and held against `max_body_bytes` and the
/// budget.
pub(crate) struct CopyBuffer {
    copier: Arc<dyn Copier>,
    /// `None` once the copy was sent or given up; `Drop` gives up what is still open.
    open: Option<PlannedCopy>,
    body: BodyJoiner,
    /// The request's `Content-Length`, if any: a body of another length is not sent.
    expected: Option<u64>,
    /// Set once the copy streams: its frames go on to the shadow as they come.
    stream: Option<StreamTee>,
}

impl fmt::Debug for CopyBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyBuffer")
            .field("open", &self.open.is_some())
            .field("len", &self.body.len())
            .field("expected", &self.expected)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl CopyBuffer {
    /// `expected` is at most `max_body_bytes` (the policy skipped larger declared bodies),
    /// so the buffer made for it is bounded by the cap.
    pub(crate) fn new(copier: Arc<dyn Copier>, copy: PlannedCopy, expected: Option<u64>) -> Self {
        let size = expected.and_then(|n| usize::try_from(n).ok());
        Self {
            copier,
            open: Some(copy),
            body: BodyJoiner::new(size),
            expected,
            stream: None,
        }
    }

    /// A copy streamed from its first frame: it is sent now.
    pub(crate) fn streaming(
        copier: Arc<dyn Copier>,
        copy: PlannedCopy,
        expected: Option<u64>,
    ) -> Self {
        let mut buffer = Self::new(copier, copy, None);
        buffer.expected = expected;
        buffer.start_stream();
        buffer
    }

    /// Sends the copy as a stream, what was buffered first; `false` if it was not sent.
    fn start_stream(&mut self) -> bool {
        let Some(open) = self.open.take() else {
            return false;
        };
        let prefix = std::mem::take(&mut self.body).finish().join();
        self.stream = open.stream(Arc::clone(&self.copier), self.expected, prefix);
        self.stream.is_some()
    }

    /// Keeps a copy of one data frame; `false` when the copy was given up (or, headers-only,
    /// already sent) and the rest of the body need not be copied.
    pub(crate) fn push(&mut self, data: &Bytes) -> bool {
        if data.is_empty() {
            return true;
        }
        if let Some(stream) = self.stream.as_mut() {
            if stream.push(data) {
                return true;
            }
            self.stream = None;
            return false;
        }
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        let policy = self.copier.policy();
        if self.body.len() + data.len() > policy.max_body_bytes {
            match policy.oversize {
                // Only a body without a `Content-Length` gets here: a larger declared one
                // streams from `call`, and one longer than declared is not the request.
                Oversize::Stream if policy.streams && self.expected.is_none() => {
                    return self.start_stream() && self.push(data);
                }
                Oversize::Stream if policy.streams => self.give_up(SkipReason::BodyIncomplete),
                Oversize::HeadersOnly => {
                    self.body = BodyJoiner::default();
                    if let Some(open) = self.open.take() {
                        open.send_headers_only(Arc::clone(&self.copier));
                    }
                }
                Oversize::Skip | Oversize::Stream => self.give_up(SkipReason::BodyTooLarge),
            }
            return false;
        }
        if let Err(reason) = open.held.grow(self.body.more_held_by(data.len())) {
            self.body = BodyJoiner::default();
            if let Some(open) = self.open.take() {
                // Recorded before the copy stops being unfinished, so `wait_idle` sees it.
                self.copier.recorder().dropped(reason);
                drop(open);
            }
            return false;
        }
        self.body.push(data);
        true
    }

    /// The body ended: sends the copy, or ends its stream.
    pub(crate) fn finish(mut self) {
        if let Some(stream) = self.stream.take() {
            stream.finish();
            return;
        }
        let Some(open) = self.open.take() else {
            return;
        };
        let body = std::mem::take(&mut self.body);
        if self
            .expected
            .is_some_and(|expected| expected != body.len() as u64)
        {
            drop(body);
            self.copier.recorder().skipped(SkipReason::BodyIncomplete);
            drop(open);
            return;
        }
        Arc::clone(&self.copier).send(open.buffered(body.finish(), false));
    }

    /// The body failed: the copy is given up for `reason`, or its stream ends with an
    /// error.
    pub(crate) fn abort(mut self, reason: SkipReason) {
        if let Some(stream) = self.stream.take() {
            stream.fail();
            return;
        }
        self.give_up(reason);
    }

    fn give_up(&mut self, reason: SkipReason) {
        self.body = BodyJoiner::default();
        if let Some(open) = self.open.take() {
            // Recorded before the copy stops being unfinished, so `wait_idle` sees it.
            self.copier.recorder().skipped(reason);
            drop(open);
        }
    }
}

impl Drop for CopyBuffer {
    fn drop(&mut self) {
        // Dropped before its end (the primary stopped reading, or the client went away);
        // a stream still open is aborted by its tee, dropped with it.
        self.give_up(SkipReason::BodyIncomplete);
    }
}

/// A copy's body as it goes to the shadow.
#[derive(Debug)]
pub(crate) enum Content {
    /// The whole body, buffered.
    Whole(GatheredBody),
    /// The body as the primary reads it, and the copy task's watch on its stream.
    Streamed(CopyBody, StreamWatch),
}

/// A copy ready to go: its head, its body (whole, or its stream), and the bytes it holds
/// in the budget.
#[derive(Debug)]
pub(crate) struct BufferedCopy {
    content: Content,
    truncated: bool,
    planned: PlannedCopy,
}

impl BufferedCopy {
    /// Whether the copy goes without its body (`Oversize::HeadersOnly`).
    pub(crate) fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Whether the copy's body is streamed.
    pub(crate) fn is_streamed(&self) -> bool {
        matches!(self.content, Content::Streamed(..))
    }

    /// Admitted: the head and body for the shadow, the copy's observer, and the copy as
    /// sent, which holds its budget until the call ends.
    pub(crate) fn sent(
        self,
        copier: Arc<dyn Copier>,
    ) -> (Request<Content>, Option<Box<dyn CopyObserver>>, SentCopy) {
        let PlannedCopy {
            head,
            mut observer,
            held,
            unfinished,
        } = self.planned;
        if matches!(self.content, Content::Streamed(..))
            && let Some(watching) = observer.take()
        {
            // Nothing keeps a streamed copy's body to compare.
            watching.not_compared("the copy was streamed: no body kept to compare");
        }
        let sent = SentCopy {
            copier,
            held,
            outcome: None,
            unfinished: Some(unfinished),
        };
        (Request::from_parts(head, self.content), observer, sent)
    }
}

/// A copy whose shadow call is running: holds its in-flight slot and buffered bytes, and
/// gives both back and records the outcome when the call ends, whether it ran to its end
/// or its task was dropped (a runtime shutting down), which counts as cut (`timed_out`).
pub(crate) struct SentCopy {
    copier: Arc<dyn Copier>,
    held: HeldBytes,
    outcome: Option<MirrorEvent>,
    /// Dropped last (fields drop after `drop`): `wait_idle` wakes once all else is
    /// recorded. Taken out by an observer that outlives the call.
    unfinished: Option<UnfinishedCopy>,
}

impl fmt::Debug for SentCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentCopy")
            .field("held", &self.held)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl SentCopy {
    /// Resolves once `shutdown` cuts the copies still running.
    pub(crate) fn cut(&self) -> impl Future<Output = ()> + '_ {
        self.copier.admission().budget().cut()
    }

    /// Counts the bytes of the shadow's response body read by this copy's call.
    pub(crate) fn drained(&self, bytes: u64) {
        self.copier.recorder().shadow_body_drained(bytes);
    }

    /// Where the layer's events go, for an observer that outlives the call.
    pub(crate) fn events(&self) -> EventSink {
        self.copier.recorder().events().clone()
    }

    /// The call ended with `outcome`: records it and gives back the budget. The copy stays
    /// unfinished until the returned value is dropped.
    pub(crate) fn finish(mut self, outcome: MirrorEvent) -> Option<UnfinishedCopy> {
        self.outcome = Some(outcome);
        self.unfinished.take()
    }
}

impl Drop for SentCopy {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or(MirrorEvent::TimedOut);
        let admission = self.copier.admission();
        admission.call_outcome(matches!(outcome, MirrorEvent::Completed { .. }));
        // Outcome first, so a `shutdown` that sees no copy in flight also sees its count;
        // bytes before the slot, so it also sees them given back.
        self.copier.recorder().outcome(outcome);
        self.held.release();
        admission.call_ended();
    }
}
