//! `MirrorEvent`s reduced to what the tests compare, and a log filled by
//! `MirrorLayer::on_event`.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use http::StatusCode;
use tower_mirror::{MirrorEvent, SkipReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Sampling,
    Filter,
    BodyTooLarge,
    BodyIncomplete,
    Upgrade,
    NoRuntime,
    Shutdown,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Skipped(Skip),
    Dropped,
    Dispatched,
    Completed(StatusCode, Duration),
    Failed(Duration, String),
    TimedOut,
    Unknown,
}

impl Ev {
    pub fn is_decision(&self) -> bool {
        matches!(self, Ev::Skipped(_) | Ev::Dropped | Ev::Dispatched)
    }
    pub fn is_outcome(&self) -> bool {
        matches!(self, Ev::Completed(..) | Ev::Failed(..) | Ev::TimedOut)
    }
}

fn classify(e: &MirrorEvent) -> Ev {
    match e {
        MirrorEvent::Skipped { reason, .. } => Ev::Skipped(match reason {
            SkipReason::Sampling => Skip::Sampling,
            SkipReason::Filter => Skip::Filter,
            SkipReason::BodyTooLarge => Skip::BodyTooLarge,
            SkipReason::BodyIncomplete => Skip::BodyIncomplete,
            SkipReason::Upgrade => Skip::Upgrade,
            SkipReason::NoRuntime => Skip::NoRuntime,
            SkipReason::Shutdown => Skip::Shutdown,
            _ => Skip::Unknown,
        }),
        MirrorEvent::Dropped { .. } => Ev::Dropped,
        MirrorEvent::Dispatched => Ev::Dispatched,
        MirrorEvent::Completed {
            status, latency, ..
        } => Ev::Completed(*status, *latency),
        MirrorEvent::Failed { latency, error, .. } => Ev::Failed(*latency, error.clone()),
        MirrorEvent::TimedOut => Ev::TimedOut,
        _ => Ev::Unknown,
    }
}

/// Events collected through `MirrorLayer::on_event`.
#[derive(Debug, Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Ev>>>);

impl Events {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn hook(&self) -> impl Fn(&MirrorEvent) + Clone + Send + Sync + 'static {
        let log = self.0.clone();
        move |e: &MirrorEvent| log.lock().unwrap().push(classify(e))
    }
    pub fn all(&self) -> Vec<Ev> {
        self.0.lock().unwrap().clone()
    }
    pub fn decisions(&self) -> Vec<Ev> {
        self.all().into_iter().filter(Ev::is_decision).collect()
    }
    pub fn outcomes(&self) -> Vec<Ev> {
        self.all().into_iter().filter(Ev::is_outcome).collect()
    }
    pub fn count(&self, pred: impl Fn(&Ev) -> bool) -> usize {
        self.all().iter().filter(|e| pred(e)).count()
    }
}
