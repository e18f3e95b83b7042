//! `CompareReport`, the summary users read: per route and field, how often the shadow
//! differs, how often two primaries do (noise), and examples; as text, JSON or HTML.

use std::fmt;

use serde_json::{Value, json};

use super::example::Example;

/// The comparison results of one layer: totals, why copies were skipped, and per route,
/// ranked by how often the shadow differs.
///
/// ```
/// # #[cfg(feature = "compare")]
/// # fn show(handle: &tower_mirror::MirrorHandle) {
/// let report = handle.compare_report();
/// for route in &report.routes {
///     println!("{}: {:.1}% differ", route.route, 100.0 * route.rate());
///     for field in &route.fields {
///         println!("    {}: {:.1}% (noise {:.1}%)", field.field, 100.0 * field.rate(), 100.0 * field.noise_rate());
///     }
/// }
/// println!("{}", report.to_json()); // or report.to_html(), a page of its own
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
    /// Copies not compared: a body over the compare cap (raw or decoded), a body that does
    /// not decode, the primary's response not read to its end, or the shadow not answering.
    pub skipped: u64,
    /// Why copies were skipped, with how many; most frequent first.
    pub skip_reasons: Vec<(String, u64)>,
    /// One entry per route, the highest differing rate first.
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
    /// Answers of two primary-version instances compared to learn noise
    /// ([`CompareConfig::noise_from`](super::CompareConfig::noise_from)).
    pub noise_compared: u64,
    /// The most frequently differing fields (noise aside), most frequent first, with their
    /// counts: the first five of [`fields`](Self::fields).
    pub top_fields: Vec<(String, u64)>,
    /// Fields learned as noise (they differ between two primary-version answers).
    pub noise_fields: Vec<String>,
    /// Every field that differed, against the shadow or as noise: real differences first,
    /// highest rate first, then noise fields.
    pub fields: Vec<FieldReport>,
}

/// How one field of one route differs: against the shadow, between two primaries, and
/// examples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldReport {
    /// `status`, `header:<name>`, `body` or a JSON path such as `$.items[0].price`.
    pub field: String,
    /// Answers compared on the route.
    pub compared: u64,
    /// Of those, the answers where this field differed (counted for noise fields too).
    pub differed: u64,
    /// Learned as noise: its differences do not make answers differ.
    pub noise: bool,
    /// Pairs of primary-version answers compared on the route.
    pub noise_compared: u64,
    /// Of those, the pairs where this field differed.
    pub noise_differed: u64,
    /// The first requests where it differed, with both values (at most
    /// [`CompareConfig::max_examples`](super::CompareConfig::max_examples)).
    pub examples: Vec<Example>,
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl RouteReport {
    /// `differed / compared`, from 0 to 1 (0 before any comparison).
    pub fn rate(&self) -> f64 {
        rate(self.differed, self.compared)
    }
}

impl FieldReport {
    /// `differed / compared`: how often the shadow differs here, from 0 to 1.
    pub fn rate(&self) -> f64 {
        rate(self.differed, self.compared)
    }

    /// `noise_differed / noise_compared`: how often two primaries differ here, from 0 to 1
    /// (0 without [`noise_from`](super::CompareConfig::noise_from)).
    pub fn noise_rate(&self) -> f64 {
        rate(self.noise_differed, self.noise_compared)
    }
}

impl Example {
    fn to_json(&self) -> Value {
        json!({
            "request": self.request,
            "headers": self.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            "body": self.body,
            "primary": self.primary,
            "shadow": self.shadow,
        })
    }
}

impl CompareReport {
    /// The report as JSON: `{"compared","matched","differed","skipped","skip_reasons":
    /// [{"reason","count"}],"routes":[{"route","compared","matched","differed","rate",
    /// "noise_compared","top_fields":[{"field","count"}],"noise_fields":[..],"fields":
    /// [{"field","compared","differed","rate","noise","noise_compared","noise_differed",
    /// "noise_rate","examples":[{"request","headers":[[name,value]],"body","primary",
    /// "shadow"}]}]}]}`, in the report's order. Rates are from 0 to 1.
    pub fn to_json(&self) -> String {
        let routes: Vec<Value> = self
            .routes
            .iter()
            .map(|r| {
                json!({
                    "route": r.route,
                    "compared": r.compared,
                    "matched": r.matched,
                    "differed": r.differed,
                    "rate": r.rate(),
                    "noise_compared": r.noise_compared,
                    "top_fields": r.top_fields.iter()
                        .map(|(field, count)| json!({"field": field, "count": count}))
                        .collect::<Vec<_>>(),
                    "noise_fields": r.noise_fields,
                    "fields": r.fields.iter().map(|f| json!({
                        "field": f.field,
                        "compared": f.compared,
                        "differed": f.differed,
                        "rate": f.rate(),
                        "noise": f.noise,
                        "noise_compared": f.noise_compared,
                        "noise_differed": f.noise_differed,
                        "noise_rate": f.noise_rate(),
                        "examples": f.examples.iter().map(Example::to_json).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "compared": self.compared,
            "matched": self.matched,
            "differed": self.differed,
            "skipped": self.skipped,
            "skip_reasons": self.skip_reasons.iter()
                .map(|(reason, count)| json!({"reason": reason, "count": count}))
                .collect::<Vec<_>>(),
            "routes": routes,
        })
        .to_string()
    }
}

/// Ranked, one example per differing field:
///
/// ```text
/// GET /products/{n}: 86 of 200 differed (43.0%)
///    43.0%  $.price (86 of 200)
///           e.g. GET /products/7
///             primary: 8.05
///             shadow:  8.04
///   noise (two primaries compared 200 times):
///   100.0%  $.request_id
/// ```
impl fmt::Display for CompareReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.routes.is_empty() && self.skipped == 0 {
            return writeln!(f, "no comparisons yet");
        }
        for r in &self.routes {
            writeln!(
                f,
                "{}: {} of {} differed ({})",
                r.route,
                r.differed,
                r.compared,
                percent(r.rate())
            )?;
            for field in r.fields.iter().filter(|field| !field.noise) {
                writeln!(
                    f,
                    "  {:>6}  {} ({} of {})",
                    percent(field.rate()),
                    field.field,
                    field.differed,
                    field.compared
                )?;
                if let Some(example) = field.examples.first() {
                    writeln!(f, "          e.g. {}", example.request)?;
                    write_value(f, "primary: ", example.primary.as_deref())?;
                    write_value(f, "shadow:  ", example.shadow.as_deref())?;
                }
            }
            let noise: Vec<&FieldReport> = r.fields.iter().filter(|field| field.noise).collect();
            if !noise.is_empty() {
                writeln!(
                    f,
                    "  noise (two primaries compared {} times):",
                    r.noise_compared
                )?;
                for field in noise {
                    writeln!(f, "  {:>6}  {}", percent(field.noise_rate()), field.field)?;
                }
            }
        }
        if self.skipped > 0 {
            writeln!(f, "skipped {}:", self.skipped)?;
            for (reason, count) in &self.skip_reasons {
                writeln!(f, "  {count:>6}  {reason}")?;
            }
        }
        Ok(())
    }
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", 100.0 * rate)
}

/// One side's value, its later lines (a text difference's) indented under the first.
fn write_value(f: &mut fmt::Formatter<'_>, label: &str, value: Option<&str>) -> fmt::Result {
    let value = value.unwrap_or("(absent)");
    let mut lines = value.lines();
    writeln!(f, "            {label}{}", lines.next().unwrap_or(""))?;
    for line in lines {
        writeln!(f, "            {:width$}{line}", "", width = label.len())?;
    }
    Ok(())
}
