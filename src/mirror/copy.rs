//! One copy's life, stage by stage: [`PlannedCopy`] at `call` (its head cloned, nothing
//! of the body yet), [`CopyBuffer`] while the primary reads the body, [`BufferedCopy`]
//! once the body is whole, [`SentCopy`] while its shadow call runs, and finished when its
//! outcome is recorded. From plan to finish the copy is an [`UnfinishedCopy`], which
//! `wait_idle` waits for.
//!
//! The stages talk to the layer through [`Copier`], which holds the rules and the shadow.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http::request::Parts;

use super::admission::Admission;
use super::counters::{Counters, Recorder};
use super::event::{EventSink, MirrorEvent, SkipReason};
use super::observe::CopyObserver;
use super::policy::{Oversize, Policy, mark_truncated};

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

/// A copy decided at `call`: its head, and who watches its answers.
pub(crate) struct PlannedCopy {
    head: Parts,
    observer: Option<Box<dyn CopyObserver>>,
    /// Last, so it is dropped after the rest.
    unfinished: UnfinishedCopy,
}

impl fmt::Debug for PlannedCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlannedCopy")
            .field("head", &self.head)
            .field("observed", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl PlannedCopy {
    pub(crate) fn new(head: Parts, counters: &Arc<Counters>) -> Self {
        Self {
            head,
            observer: None,
            unfinished: UnfinishedCopy::new(counters),
        }
    }

    pub(crate) fn observed_by(self, observer: Option<Box<dyn CopyObserver>>) -> Self {
        Self { observer, ..self }
    }

    /// The body is known to be empty: sends the copy now.
    pub(crate) fn send_empty(self, copier: Arc<dyn Copier>) {
        copier.send(self.buffered(Vec::new(), 0, false));
    }

    /// The body is over `max_body_bytes` with [`Oversize::HeadersOnly`]: sends the copy
    /// now, without its body, marked as truncated.
    pub(crate) fn send_headers_only(mut self, copier: Arc<dyn Copier>) {
        mark_truncated(&mut self.head);
        // Nothing to compare for a copy without its body.
        self.observer = None;
        copier.send(self.buffered(Vec::new(), 0, true));
    }

    fn buffered(self, body: Vec<Bytes>, held: usize, truncated: bool) -> BufferedCopy {
        BufferedCopy {
            held,
            body,
            truncated,
            planned: self,
        }
    }
}

/// A copy whose body is being read by the primary: its data frames so far, held against
/// `max_body_bytes` and the budget.
pub(crate) struct CopyBuffer {
    copier: Arc<dyn Copier>,
    /// `None` once the copy was sent or given up; `Drop` gives up what is still open.
    open: Option<PlannedCopy>,
    chunks: Vec<Bytes>,
    /// Bytes held, all reserved in the budget.
    len: usize,
    /// The request's `Content-Length`, if any: a body of another length is not sent.
    expected: Option<u64>,
}

impl fmt::Debug for CopyBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyBuffer")
            .field("open", &self.open.is_some())
            .field("len", &self.len)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl CopyBuffer {
    pub(crate) fn new(copier: Arc<dyn Copier>, copy: PlannedCopy, expected: Option<u64>) -> Self {
        Self {
            copier,
            open: Some(copy),
            chunks: Vec::new(),
            len: 0,
            expected,
        }
    }

    /// Keeps a copy of one data frame; `false` when the copy was given up (or, headers-only,
    /// already sent) and the rest of the body need not be copied.
    pub(crate) fn push(&mut self, data: &Bytes) -> bool {
        if data.is_empty() {
            return true;
        }
        let policy = self.copier.policy();
        if self.len + data.len() > policy.max_body_bytes {
            let oversize = policy.oversize;
            self.release();
            match oversize {
                Oversize::HeadersOnly => {
                    if let Some(open) = self.open.take() {
                        open.send_headers_only(Arc::clone(&self.copier));
                    }
                }
                Oversize::Skip => self.give_up(SkipReason::BodyTooLarge),
            }
            return false;
        }
        if let Err(reason) = self.copier.admission().reserve_bytes(data.len()) {
            self.release();
            if let Some(open) = self.open.take() {
                // Recorded before the copy stops being unfinished, so `wait_idle` sees it.
                self.copier.recorder().dropped(reason);
                drop(open);
            }
            return false;
        }
        self.len += data.len();
        self.chunks.push(data.clone());
        true
    }

    /// The body ended: sends the copy.
    pub(crate) fn finish(mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if self
            .expected
            .is_some_and(|expected| expected != self.len as u64)
        {
            self.release();
            self.copier.recorder().skipped(SkipReason::BodyIncomplete);
            drop(open);
            return;
        }
        let body = std::mem::take(&mut self.chunks);
        let held = std::mem::take(&mut self.len);
        Arc::clone(&self.copier).send(open.buffered(body, held, false));
    }

    /// The body failed: the copy is given up for `reason`.
    pub(crate) fn abort(mut self, reason: SkipReason) {
        self.give_up(reason);
    }

    fn give_up(&mut self, reason: SkipReason) {
        self.release();
        if let Some(open) = self.open.take() {
            self.copier.recorder().skipped(reason);
            drop(open);
        }
    }

    /// Frees the buffered frames and their share of the budget.
    fn release(&mut self) {
        self.chunks = Vec::new();
        let held = std::mem::take(&mut self.len);
        self.copier.admission().release_bytes(held);
    }
}

impl Drop for CopyBuffer {
    fn drop(&mut self) {
        // Dropped before its end (the primary stopped reading, or the client went away).
        self.give_up(SkipReason::BodyIncomplete);
    }
}

/// A copy ready to go: its head, its whole body, and the bytes it holds in the budget.
#[derive(Debug)]
pub(crate) struct BufferedCopy {
    /// Bytes reserved in the budget, given back when the shadow call ends.
    held: usize,
    /// The body's frames, joined on the copy's task: off the primary's path.
    body: Vec<Bytes>,
    truncated: bool,
    planned: PlannedCopy,
}

impl BufferedCopy {
    /// Whether the copy goes without its body (`Oversize::HeadersOnly`).
    pub(crate) fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Not admitted: gives back its bytes, then ends (the refusal is recorded already).
    pub(crate) fn refused(self, admission: &Admission) {
        admission.release_bytes(self.held);
    }

    /// Admitted: the request for the shadow, the copy's observer, and the copy as sent,
    /// which holds its budget until the call ends.
    pub(crate) fn sent(
        self,
        copier: Arc<dyn Copier>,
    ) -> (Request<Vec<Bytes>>, Option<Box<dyn CopyObserver>>, SentCopy) {
        let PlannedCopy {
            head,
            observer,
            unfinished,
        } = self.planned;
        let sent = SentCopy {
            copier,
            held: self.held,
            outcome: None,
            unfinished: Some(unfinished),
        };
        (Request::from_parts(head, self.body), observer, sent)
    }
}

/// A copy whose shadow call is running: holds its in-flight slot and buffered bytes, and
/// gives both back and records the outcome when the call ends, whether it ran to its end
/// or its task was dropped (a runtime shutting down), which counts as cut (`timed_out`).
pub(crate) struct SentCopy {
    copier: Arc<dyn Copier>,
    held: usize,
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
        // Outcome first, so a `shutdown` that sees no copy in flight also sees its count.
        self.copier.recorder().outcome(outcome);
        admission.call_ended(self.held);
    }
}
