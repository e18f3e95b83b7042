//! The report's mutable side: per-route counts, per-field counts and examples, learned
//! noise and skip reasons, all bounded, updated by each comparison and read as a
//! [`CompareReport`] snapshot.

use std::any::Any;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::config::CompareConfig;
use super::example::{RequestSample, StoredExample};
use super::report::{CompareReport, FieldReport, RouteReport};
use crate::mirror::observe::{EventSink, ObservedCounts, ObserverState};
use crate::mirror::{Difference, MirrorEvent, MirrorHandle};

/// How many most frequent differing fields a route's `top_fields` lists.
const TOP_FIELDS: usize = 5;
/// Noise fields remembered per route: enough for real APIs, bounded against abuse.
const MAX_NOISE_FIELDS: usize = 256;
/// Distinct fields (differing against the shadow or as noise) counted per route.
const MAX_FIELDS: usize = 256;
/// Examples kept in one report, all routes and fields together.
pub(crate) const MAX_EXAMPLES: usize = 1024;
/// Distinct skip reasons counted; the rest are counted under `(other)`.
const MAX_SKIP_REASONS: usize = 32;
const OTHER: &str = "(other)";

#[derive(Debug, Default)]
struct FieldState {
    /// Comparisons with the shadow where this field differed (noise or not).
    differed: u64,
    /// Comparisons of two primary-version answers where it differed.
    noise_differed: u64,
    examples: Vec<StoredExample>,
}

#[derive(Debug, Default)]
struct RouteState {
    compared: u64,
    matched: u64,
    differed: u64,
    noise_compared: u64,
    fields: HashMap<String, FieldState>,
    noise: HashSet<String>,
}

impl RouteState {
    /// The field's counts, unless the route already counts as many fields as it may.
    fn field(&mut self, field: String) -> Option<&mut FieldState> {
        if self.fields.len() >= MAX_FIELDS && !self.fields.contains_key(&field) {
            return None;
        }
        Some(self.fields.entry(field).or_default())
    }
}

#[derive(Debug, Default)]
struct Tables {
    routes: HashMap<String, RouteState>,
    skip_reasons: HashMap<Cow<'static, str>, u64>,
    /// Examples kept, all routes together.
    examples: usize,
}

impl Tables {
    fn route(&mut self, route: &str, config: &CompareConfig) -> &mut RouteState {
        let key = if self.routes.contains_key(route) || self.routes.len() < config.max_routes {
            route
        } else {
            OTHER
        };
        self.routes.entry(key.to_owned()).or_default()
    }
}

/// The mutable side of the report: one per layer, kept where every handle finds it.
#[derive(Debug, Default)]
pub(crate) struct ReportState {
    compared: AtomicU64,
    matched: AtomicU64,
    differed: AtomicU64,
    skipped: AtomicU64,
    /// No room for another example: copies need not be kept for one.
    examples_full: AtomicBool,
    tables: Mutex<Tables>,
}

impl ObserverState for ReportState {
    fn counts(&self) -> ObservedCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        ObservedCounts {
            compared: get(&self.compared),
            matched: get(&self.matched),
            differed: get(&self.differed),
            skipped: get(&self.skipped),
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl MirrorHandle {
    /// Compare mode (feature `compare`): how many answers matched and differed, in all and
    /// per route, which fields differ and how often (with examples), learned noise and why
    /// copies were skipped. Empty when compare mode is off.
    pub fn compare_report(&self) -> CompareReport {
        self.observer_or_insert(ReportState::default)
            .map(|report| report.snapshot())
            .unwrap_or_default()
    }
}

impl ReportState {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // Plain data, consistent after every update: a poisoned lock is still usable.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the report has no room left for examples.
    pub(crate) fn examples_full(&self) -> bool {
        self.examples_full.load(Ordering::Relaxed)
    }

    /// The fields where two answers of the primary's version differed: noise from now on,
    /// and counted for the route's noise rates.
    pub(crate) fn learn_noise(&self, route: &str, config: &CompareConfig, noise: &[Difference]) {
        let mut tables = self.tables();
        let state = tables.route(route, config);
        state.noise_compared += 1;
        for d in noise {
            let field = d.field();
            if state.noise.len() < MAX_NOISE_FIELDS {
                state.noise.insert(field.clone());
            }
            if let Some(counts) = state.field(field) {
                counts.noise_differed += 1;
            }
        }
    }

    /// A copy that could not be compared, and why.
    pub(crate) fn skipped(&self, reason: Cow<'static, str>) {
        {
            let mut tables = self.tables();
            let reasons = &mut tables.skip_reasons;
            let key = if reasons.contains_key(&reason) || reasons.len() < MAX_SKIP_REASONS {
                reason
            } else {
                Cow::Borrowed(OTHER)
            };
            *reasons.entry(key).or_default() += 1;
        }
        self.skipped.fetch_add(1, Ordering::AcqRel);
    }

    /// Records one comparison in the report, the counters and an event: every difference
    /// counts for its field (examples kept while there is room), and the answers differ
    /// when one is not noise. `sample` describes the request, asked at most once.
    pub(crate) fn record(
        &self,
        events: &EventSink,
        config: &CompareConfig,
        route: String,
        mut differences: Vec<Difference>,
        sample: impl FnOnce() -> Option<Arc<RequestSample>>,
    ) {
        {
            let mut tables = self.tables();
            let mut examples = tables.examples;
            let state = tables.route(&route, config);
            let mut sample = Some(sample);
            let mut request: Option<Arc<RequestSample>> = None;
            for d in &differences {
                let Some(counts) = state.field(d.field()) else {
                    continue;
                };
                counts.differed += 1;
                if counts.examples.len() >= config.max_examples || examples >= MAX_EXAMPLES {
                    continue;
                }
                if let Some(make) = sample.take() {
                    request = make();
                }
                if let Some(request) = &request {
                    counts
                        .examples
                        .push(StoredExample::new(Arc::clone(request), d));
                    examples += 1;
                }
            }
            differences.retain(|d| !state.noise.contains(&d.field()));
            state.compared += 1;
            if differences.is_empty() {
                state.matched += 1;
            } else {
                state.differed += 1;
            }
            tables.examples = examples;
            if examples >= MAX_EXAMPLES {
                self.examples_full.store(true, Ordering::Relaxed);
            }
        }
        self.compared.fetch_add(1, Ordering::AcqRel);
        let outcome = if differences.is_empty() {
            &self.matched
        } else {
            &self.differed
        };
        outcome.fetch_add(1, Ordering::AcqRel);
        tracing::debug!(target: "tower_mirror", %route, differences = differences.len(), "compared");
        events.emit(MirrorEvent::Compared { route, differences });
    }

    pub(crate) fn snapshot(&self) -> CompareReport {
        let tables = self.tables();
        let mut routes: Vec<RouteReport> = tables
            .routes
            .iter()
            .map(|(route, state)| route_report(route, state))
            .collect();
        // Highest differing rate first (compared without floats), then most differences.
        routes.sort_by(|a, b| {
            let rate_a = u128::from(a.differed) * u128::from(b.compared.max(1));
            let rate_b = u128::from(b.differed) * u128::from(a.compared.max(1));
            rate_b
                .cmp(&rate_a)
                .then_with(|| b.differed.cmp(&a.differed))
                .then_with(|| a.route.cmp(&b.route))
        });
        let mut skip_reasons: Vec<(String, u64)> = tables
            .skip_reasons
            .iter()
            .map(|(reason, count)| (reason.to_string(), *count))
            .collect();
        skip_reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        drop(tables);
        let counts = self.counts();
        CompareReport {
            compared: counts.compared,
            matched: counts.matched,
            differed: counts.differed,
            skipped: counts.skipped,
            skip_reasons,
            routes,
        }
    }
}

fn route_report(route: &str, state: &RouteState) -> RouteReport {
    let mut fields: Vec<FieldReport> = state
        .fields
        .iter()
        .map(|(field, counts)| FieldReport {
            field: field.clone(),
            compared: state.compared,
            differed: counts.differed,
            noise: state.noise.contains(field),
            noise_compared: state.noise_compared,
            noise_differed: counts.noise_differed,
            examples: counts
                .examples
                .iter()
                .map(StoredExample::to_example)
                .collect(),
        })
        .collect();
    // Real differences first, most frequent first (one denominator per route: the rate).
    fields.sort_by(|a, b| {
        a.noise
            .cmp(&b.noise)
            .then_with(|| b.differed.cmp(&a.differed))
            .then_with(|| b.noise_differed.cmp(&a.noise_differed))
            .then_with(|| a.field.cmp(&b.field))
    });
    let top_fields = fields
        .iter()
        .filter(|f| !f.noise && f.differed > 0)
        .take(TOP_FIELDS)
        .map(|f| (f.field.clone(), f.differed))
        .collect();
    let mut noise_fields: Vec<String> = state.noise.iter().cloned().collect();
    noise_fields.sort();
    RouteReport {
        route: route.to_owned(),
        compared: state.compared,
        matched: state.matched,
        differed: state.differed,
        noise_compared: state.noise_compared,
        top_fields,
        noise_fields,
        fields,
    }
}
