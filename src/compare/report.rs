//! Per-route results and learned noise; `CompareReport`, the summary users read.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::config::CompareConfig;
use crate::mirror::observe::{EventSink, ObservedCounts, ObserverState};
use crate::mirror::{Difference, MirrorEvent, MirrorHandle};

/// How many most frequent differing fields a route's report lists.
const TOP_FIELDS: usize = 5;
/// Noise fields remembered per route: enough for real APIs, bounded against abuse.
const MAX_NOISE_FIELDS: usize = 256;
/// Distinct differing fields counted per route.
const MAX_FIELDS: usize = 256;
const OTHER_ROUTE: &str = "(other)";

/// The comparison results of one layer: totals, and per route.
///
/// ```
/// # #[cfg(feature = "compare")]
/// # fn show(handle: &tower_mirror::MirrorHandle) {
/// let report = handle.compare_report();
/// for route in &report.routes {
///     println!("{}: {} matched, {} differed", route.route, route.matched, route.differed);
///     for (field, count) in &route.top_fields {
///         println!("    {field}: {count}");
///     }
/// }
/// println!("{}", report.to_json());
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompareReport {
    /// Answers compared, all routes together (`matched + differed`).
    pub compared: u64,
    /// Answers that matched (noise aside).
    pub matched: u64,
    /// Answers that differed.
    pub differed: u64,
    /// Copies not compared: a body over the compare cap, the primary's response not read
    /// to its end, or the shadow not answering.
    pub skipped: u64,
    /// One entry per route, sorted by route.
    pub routes: Vec<RouteReport>,
}

/// Comparison results for one route (method and path template).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteReport {
    /// Method and path template, e.g. `GET /users/{n}`.
    pub route: String,
    /// Answers compared.
    pub compared: u64,
    /// Answers that matched (noise aside).
    pub matched: u64,
    /// Answers that differed.
    pub differed: u64,
    /// The most frequently differing fields, most frequent first, with their counts.
    pub top_fields: Vec<(String, u64)>,
    /// Fields learned as noise (they differ between two primary-version answers).
    pub noise_fields: Vec<String>,
}

impl CompareReport {
    /// The report as JSON: `{"compared":..,"matched":..,"differed":..,"skipped":..,
    /// "routes":[{"route":..,"compared":..,"matched":..,"differed":..,
    /// "top_fields":[{"field":..,"count":..}],"noise_fields":[..]}]}`.
    pub fn to_json(&self) -> String {
        let routes: Vec<serde_json::Value> = self
            .routes
            .iter()
            .map(|r| {
                serde_json::json!({
                    "route": r.route,
                    "compared": r.compared,
                    "matched": r.matched,
                    "differed": r.differed,
                    "top_fields": r.top_fields.iter()
                        .map(|(field, count)| serde_json::json!({"field": field, "count": count}))
                        .collect::<Vec<_>>(),
                    "noise_fields": r.noise_fields,
                })
            })
            .collect();
        serde_json::json!({
            "compared": self.compared,
            "matched": self.matched,
            "differed": self.differed,
            "skipped": self.skipped,
            "routes": routes,
        })
        .to_string()
    }
}

impl fmt::Display for CompareReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.routes.is_empty() {
            return writeln!(f, "no comparisons yet");
        }
        for r in &self.routes {
            writeln!(
                f,
                "{}: {} compared, {} matched, {} differed",
                r.route, r.compared, r.matched, r.differed
            )?;
            for (field, count) in &r.top_fields {
                writeln!(f, "    {field}: {count}")?;
            }
            if !r.noise_fields.is_empty() {
                writeln!(f, "    noise: {}", r.noise_fields.join(", "))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct RouteState {
    compared: u64,
    matched: u64,
    differed: u64,
    fields: HashMap<String, u64>,
    noise: HashSet<String>,
}

/// The mutable side of the report: one per layer, kept where every handle finds it.
#[derive(Debug, Default)]
pub(crate) struct ReportState {
    compared: AtomicU64,
    matched: AtomicU64,
    differed: AtomicU64,
    skipped: AtomicU64,
    routes: Mutex<HashMap<String, RouteState>>,
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
    /// per route, and the fields that differ most often. Empty when compare mode is off.
    pub fn compare_report(&self) -> CompareReport {
        self.observer_or_insert(ReportState::default)
            .map(|report| report.snapshot())
            .unwrap_or_default()
    }
}

impl ReportState {
    fn with_route<T>(
        &self,
        route: &str,
        config: &CompareConfig,
        f: impl FnOnce(&mut RouteState) -> T,
    ) -> T {
        // Plain data, consistent after every update: a poisoned lock is still usable.
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let key = if routes.contains_key(route) || routes.len() < config.max_routes {
            route
        } else {
            OTHER_ROUTE
        };
        f(routes.entry(key.to_owned()).or_default())
    }

    /// Fields where two answers of the primary's version differed: noise from now on.
    pub(crate) fn learn_noise(&self, route: &str, config: &CompareConfig, noise: &[Difference]) {
        if noise.is_empty() {
            return;
        }
        self.with_route(route, config, |state| {
            for d in noise {
                if state.noise.len() < MAX_NOISE_FIELDS {
                    state.noise.insert(d.field());
                }
            }
        });
    }

    /// A copy that could not be compared.
    pub(crate) fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::AcqRel);
    }

    /// Records one comparison (noise removed) in the report, the counters and an event.
    pub(crate) fn record(
        &self,
        events: &EventSink,
        config: &CompareConfig,
        route: String,
        mut differences: Vec<Difference>,
    ) {
        self.with_route(&route, config, |state| {
            differences.retain(|d| !state.noise.contains(&d.field()));
            state.compared += 1;
            if differences.is_empty() {
                state.matched += 1;
            } else {
                state.differed += 1;
                for d in &differences {
                    let field = d.field();
                    if state.fields.contains_key(&field) || state.fields.len() < MAX_FIELDS {
                        *state.fields.entry(field).or_default() += 1;
                    }
                }
            }
        });
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
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<RouteReport> = routes
            .iter()
            .map(|(route, state)| {
                let mut top_fields: Vec<(String, u64)> =
                    state.fields.iter().map(|(f, n)| (f.clone(), *n)).collect();
                top_fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                top_fields.truncate(TOP_FIELDS);
                let mut noise_fields: Vec<String> = state.noise.iter().cloned().collect();
                noise_fields.sort();
                RouteReport {
                    route: route.clone(),
                    compared: state.compared,
                    matched: state.matched,
                    differed: state.differed,
                    top_fields,
                    noise_fields,
                }
            })
            .collect();
        out.sort_by(|a, b| a.route.cmp(&b.route));
        let counts = self.counts();
        CompareReport {
            compared: counts.compared,
            matched: counts.matched,
            differed: counts.differed,
            skipped: counts.skipped,
            routes: out,
        }
    }
}

/// `GET /users/42/orders/9f8e…` → `GET /users/{n}/orders/{id}`: ids vary per request,
/// routes do not, and the report is per route.
pub(crate) fn route_key(method: &http::Method, path: &str) -> String {
    let mut key = String::with_capacity(method.as_str().len() + 1 + path.len());
    key.push_str(method.as_str());
    key.push(' ');
    if path.is_empty() {
        key.push('/');
    }
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            key.push('/');
        }
        let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
        let hex_id = segment.len() >= 16
            && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            && segment.bytes().any(|b| b.is_ascii_digit());
        key.push_str(if digits {
            "{n}"
        } else if hex_id {
            "{id}"
        } else {
            segment
        });
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates() {
        let get = http::Method::GET;
        assert_eq!(route_key(&get, "/users/42"), "GET /users/{n}");
        assert_eq!(
            route_key(&get, "/o/123e4567-e89b-12d3-a456-426614174000/x"),
            "GET /o/{id}/x"
        );
        assert_eq!(route_key(&get, "/health"), "GET /health");
        assert_eq!(route_key(&get, "/"), "GET /");
    }
}
