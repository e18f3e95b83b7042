//! Metrics (feature `metrics`): a layer's numbers through the [`metrics`] crate facade,
//! labelled with the mirror's name, for whatever exporter the application installs.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, SharedString, Unit};

use super::admission::Budget;
use super::event::{DropReason, SkipReason};
use super::layer::MirrorLayer;
use super::observe::ObservedCounts;
use super::watch::{CallEnd, Decision, Watcher};

const REQUESTS: &str = "tower_mirror_requests_total";
const COPIES: &str = "tower_mirror_copies_total";
const RESPONSES: &str = "tower_mirror_shadow_responses_total";
const DURATION: &str = "tower_mirror_shadow_duration_seconds";
const IN_FLIGHT: &str = "tower_mirror_in_flight";
const BUFFERED: &str = "tower_mirror_buffered_bytes";
const BREAKER_OPEN: &str = "tower_mirror_breaker_open";
const COMPARED: &str = "tower_mirror_compared_total";

/// Every skip reason, in the order of [`skip_index`].
const SKIPS: [SkipReason; 8] = [
    SkipReason::Sampling,
    SkipReason::Filter,
    SkipReason::BodyTooLarge,
    SkipReason::BodyIncomplete,
    SkipReason::Upgrade,
    SkipReason::NoRuntime,
    SkipReason::Shutdown,
    SkipReason::Paused,
];

/// Every drop reason, in the order of [`drop_index`].
const DROPS: [DropReason; 3] = [
    DropReason::InFlight,
    DropReason::Bytes,
    DropReason::CircuitOpen,
];

// Exhaustive matches: a new reason does not compile until it has its series.
fn skip_index(reason: SkipReason) -> usize {
    match reason {
        SkipReason::Sampling => 0,
        SkipReason::Filter => 1,
        SkipReason::BodyTooLarge => 2,
        SkipReason::BodyIncomplete => 3,
        SkipReason::Upgrade => 4,
        SkipReason::NoRuntime => 5,
        SkipReason::Shutdown => 6,
        SkipReason::Paused => 7,
    }
}

fn drop_index(reason: DropReason) -> usize {
    match reason {
        DropReason::InFlight => 0,
        DropReason::Bytes => 1,
        DropReason::CircuitOpen => 2,
    }
}

impl<M> MirrorLayer<M> {
    /// Records this mirror's numbers through the [`metrics`] facade (feature `metrics`),
    /// labelled `mirror="<name>"`; install an exporter (for example
    /// `metrics-exporter-prometheus`) in the application. The series:
    ///
    /// | series | kind | labels | what |
    /// |---|---|---|---|
    /// | `tower_mirror_requests_total` | counter | `decision` | one per request: `mirrored`, `skipped_<reason>`, `dropped_<reason>` (the [`MirrorStats`](crate::MirrorStats) field names) |
    /// | `tower_mirror_copies_total` | counter | `outcome` | one per copy sent: `completed`, `failed`, `timed_out` |
    /// | `tower_mirror_shadow_responses_total` | counter | `status_class` | completed copies by the shadow's status: `1xx` .. `5xx` |
    /// | `tower_mirror_shadow_duration_seconds` | histogram | | one per copy sent, from dispatch to the end of its call (the timeout, for a copy that timed out or was cut) |
    /// | `tower_mirror_in_flight` | gauge | | shadow calls running |
    /// | `tower_mirror_buffered_bytes` | gauge | | body bytes held for copies |
    /// | `tower_mirror_breaker_open` | gauge | | 1 while the circuit breaker is open |
    /// | `tower_mirror_compared_total` | counter | `result` | compare mode: `matched`, `differed`, `skipped` |
    ///
    /// Every `decision` and `outcome` series is registered at once with 0, so a rate
    /// over it exists before the first event. The gauges are brought up to date as each
    /// copy is sent and as each ends (they read 0 once
    /// [`MirrorHandle::wait_idle`](crate::MirrorHandle::wait_idle) returns).
    ///
    /// The series belong to the layer, its clones, their services and handles, as the
    /// counters do, so there is one name for them: a second call with another name keeps
    /// the first (and logs a warning). Handles are registered with the recorder installed
    /// when this is called: install it first. Without a recorder the calls cost a few
    /// nanoseconds and go nowhere.
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// // metrics_exporter_prometheus::PrometheusBuilder::new().install()?; // first
    /// let layer = tower_mirror::MirrorLayer::new(shadow).metrics("checkout-v2");
    /// // tower_mirror_copies_total{mirror="checkout-v2",outcome="failed"} ...
    /// ```
    #[must_use]
    pub fn metrics(self, name: impl Into<String>) -> Self {
        let name = name.into();
        let make = || -> Arc<dyn Watcher> {
            Arc::new(MirrorMetrics::new(name.clone(), Arc::clone(self.budget())))
        };
        if let Err(kept) = self.counters().watch(&name, make) {
            tracing::warn!(
                target: "tower_mirror",
                kept = %kept,
                ignored = %name,
                "MirrorLayer::metrics: this layer already records under another name"
            );
        }
        self
    }
}

/// One layer family's series.
#[derive(Debug)]
struct MirrorMetrics {
    name: String,
    budget: Arc<Budget>,
    mirrored: Counter,
    skipped: [Counter; SKIPS.len()],
    dropped: [Counter; DROPS.len()],
    completed: Counter,
    failed: Counter,
    timed_out: Counter,
    /// `1xx` to `5xx`, by the status's first digit; others are registered when seen.
    status_classes: [Counter; 5],
    duration: Histogram,
    in_flight: Gauge,
    buffered: Gauge,
    breaker_open: Gauge,
    /// Gauges are set from the budget's current values; the lock keeps a stale reading
    /// from landing after a fresher one.
    gauges: Mutex<()>,
    /// Registered once the layer is seen comparing: `matched`, `differed`, `skipped`.
    compared: OnceLock<[Counter; 3]>,
}

impl MirrorMetrics {
    fn new(name: String, budget: Arc<Budget>) -> Self {
        describe();
        let label = |key: &'static str, value: SharedString| {
            [("mirror", name.clone().into()), (key, value)]
        };
        let request =
            |decision: String| metrics::counter!(REQUESTS, &label("decision", decision.into()));
        let copies =
            |outcome: &'static str| metrics::counter!(COPIES, &label("outcome", outcome.into()));
        let class = |digit: u16| {
            metrics::counter!(
                RESPONSES,
                &label("status_class", format!("{digit}xx").into())
            )
        };
        let only_name = [("mirror", name.clone())];
        Self {
            mirrored: request("mirrored".to_owned()),
            skipped: SKIPS.map(|reason| request(format!("skipped_{reason}"))),
            dropped: DROPS.map(|reason| request(format!("dropped_{reason}"))),
            completed: copies("completed"),
            failed: copies("failed"),
            timed_out: copies("timed_out"),
            status_classes: [1, 2, 3, 4, 5].map(class),
            duration: metrics::histogram!(DURATION, &only_name),
            in_flight: metrics::gauge!(IN_FLIGHT, &only_name),
            buffered: metrics::gauge!(BUFFERED, &only_name),
            breaker_open: metrics::gauge!(BREAKER_OPEN, &only_name),
            gauges: Mutex::new(()),
            compared: OnceLock::new(),
            name,
            budget,
        }
    }

    fn update_gauges(&self) {
        // A poisoned lock guards nothing but the order of two stores: carry on.
        let _order = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        self.in_flight.set(
            self.budget
                .in_flight()
                .load(std::sync::atomic::Ordering::Acquire) as f64,
        );
        self.buffered.set(self.budget.buffered() as f64);
    }

    fn status_class(&self, status: http::StatusCode) -> Option<&Counter> {
        let digit = status.as_u16() / 100;
        self.status_classes.get(usize::from(digit).checked_sub(1)?)
    }
}

impl Watcher for MirrorMetrics {
    fn name(&self) -> &str {
        &self.name
    }

    fn decided(&self, decision: Decision) {
        match decision {
            Decision::Mirrored => {
                self.mirrored.increment(1);
                // The call now holds its slot.
                self.update_gauges();
            }
            Decision::Skipped(reason) => self.skipped[skip_index(reason)].increment(1),
            Decision::Dropped(reason) => self.dropped[drop_index(reason)].increment(1),
        }
    }

    fn call_ended(&self, end: CallEnd, took: Duration) {
        match end {
            CallEnd::Completed(status) => {
                self.completed.increment(1);
                match self.status_class(status) {
                    Some(class) => class.increment(1),
                    // 600-999: not HTTP classes, but `StatusCode` allows them.
                    None => metrics::counter!(
                        RESPONSES,
                        "mirror" => self.name.clone(),
                        "status_class" => format!("{}xx", status.as_u16() / 100)
                    )
                    .increment(1),
                }
            }
            CallEnd::Failed => self.failed.increment(1),
            CallEnd::TimedOut => self.timed_out.increment(1),
        }
        self.duration.record(took.as_secs_f64());
    }

    fn copy_finished(&self, observed: Option<ObservedCounts>) {
        self.update_gauges();
        if let Some(counts) = observed {
            let [matched, differed, skipped] = self.compared.get_or_init(|| {
                ["matched", "differed", "skipped"].map(|result| {
                    metrics::counter!(COMPARED, "mirror" => self.name.clone(), "result" => result)
                })
            });
            // Synced from the observer's own totals (it counts after the call ends):
            // `absolute` never moves a counter back, whatever order copies finish in.
            matched.absolute(counts.matched);
            differed.absolute(counts.differed);
            skipped.absolute(counts.skipped);
        }
    }

    fn breaker_turned(&self, open: bool) {
        self.breaker_open.set(if open { 1.0 } else { 0.0 });
    }
}

/// Help text and units, for exporters that show them (Prometheus `# HELP`).
fn describe() {
    metrics::describe_counter!(REQUESTS, "Requests seen by the mirror, by decision");
    metrics::describe_counter!(COPIES, "Copies sent to the shadow, by outcome");
    metrics::describe_counter!(RESPONSES, "Shadow answers, by status class");
    metrics::describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Shadow call duration, from dispatch to the end of its body"
    );
    metrics::describe_gauge!(IN_FLIGHT, "Shadow calls running");
    metrics::describe_gauge!(BUFFERED, Unit::Bytes, "Request body bytes held for copies");
    metrics::describe_gauge!(BREAKER_OPEN, "1 while the circuit breaker is open");
    metrics::describe_counter!(COMPARED, "Shadow answers compared with the primary's");
}
