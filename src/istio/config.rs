//! The assembler: the resources of every document become [`Rule`]s in match order, with
//! subsets resolved against the file's `DestinationRule`s and rule names checked unique.

use std::collections::HashMap;
use std::str::FromStr;

use http::request::Parts;

use super::error::ConfigError;
use super::kinds;
use super::matching::RouteMatch;
use super::resource::{DestinationRuleDef, PendingRule, Resource, Target};
use super::yaml::{self, Ctx};
use crate::route::Labels;

/// Routing and mirroring rules read from Istio YAML.
///
/// Reads `RouteRule` (`config.istio.io/v1alpha2`, Istio 0.5), and `VirtualService` with
/// the `DestinationRule`s that define its subsets (`networking.istio.io/v1alpha3`,
/// `v1beta1`, `v1`), one or more per file, separated by `---`.
///
/// ```
/// use tower_mirror::istio::Config;
/// use tower_mirror::route::Labels;
///
/// let config = Config::from_yaml(r#"
/// apiVersion: config.istio.io/v1alpha2
/// kind: RouteRule
/// metadata:
///   name: mirror-traffic-to-httbin-v2
/// spec:
///   destination:
///     name: httpbin
///   precedence: 11
///   route:
///   - labels:
///       version: v1
///     weight: 100
///   - labels:
///       version: v2
///     weight: 0
///   mirror:
///     name: httpbin
///     labels:
///       version: v2
/// "#)?;
///
/// let rule = &config.rules()[0];
/// assert_eq!(rule.destination, "httpbin");
/// assert_eq!(rule.splits[0].labels, Labels::from([("version", "v1")]));
/// assert_eq!(rule.splits[0].weight, 100);
/// assert_eq!(rule.mirrors[0].labels, Labels::from([("version", "v2")]));
/// assert_eq!(rule.mirrors[0].percent, 100.0);
/// # Ok::<(), tower_mirror::istio::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    rules: Vec<Rule>,
    warnings: Vec<String>,
}

impl Config {
    /// Parses and validates Istio YAML (one or more documents).
    ///
    /// Fails on the first problem: YAML syntax, an unsupported kind or field, a value out
    /// of range, weights not summing to 100, an unknown subset, a duplicate rule name.
    /// Fields Istio has that tower-mirror does not apply (timeouts, retries, faults, ...)
    /// are accepted and listed in [`warnings`](Self::warnings).
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
        let mut warnings = Vec::new();
        let mut route_rules = Vec::new();
        let mut vs_rules = Vec::new();
        let mut destination_rules: Vec<DestinationRuleDef> = Vec::new();

        for doc in yaml::split_documents(yaml) {
            let Some(node) = yaml::parse_document(&doc)? else {
                continue;
            };
            let mut ctx = Ctx::new(&doc, &mut warnings);
            match kinds::parse(&node, &mut ctx)? {
                Resource::RouteRule(rule) => route_rules.push(rule),
                Resource::VirtualService(rules) => vs_rules.extend(rules),
                Resource::DestinationRule(dr) => {
                    if let Some(first) = destination_rules.iter().find(|d| d.host == dr.host) {
                        return Err(dr.host_site.error(format!(
                            "a DestinationRule for host `{}` is already defined (document {}); \
                             merge their subsets into one",
                            dr.host, first.document
                        )));
                    }
                    destination_rules.push(dr);
                }
            }
        }

        // Highest precedence first; the name breaks ties so the order never depends on
        // the file's. VirtualService routes keep file order, after all RouteRules.
        route_rules.sort_by(|a, b| {
            b.precedence
                .cmp(&a.precedence)
                .then_with(|| a.name.cmp(&b.name))
        });

        let subsets: HashMap<&str, &DestinationRuleDef> = destination_rules
            .iter()
            .map(|dr| (dr.host.as_str(), dr))
            .collect();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(route_rules.len() + vs_rules.len());
        for pending in route_rules.into_iter().chain(vs_rules) {
            if let Some(document) = seen.get(&pending.name) {
                return Err(pending.name_site.error(format!(
                    "duplicate rule name `{}` (also in document {document}); names must be unique",
                    pending.name
                )));
            }
            seen.insert(pending.name.clone(), pending.name_site.document());
            rules.push(resolve(pending, &subsets)?);
        }
        Ok(Config { rules, warnings })
    }

    /// The rules in match order: the first rule that matches a request applies.
    ///
    /// `RouteRule`s come first, highest `precedence` first (ties by name); then each
    /// `VirtualService`'s `http` routes in file order, with precedence 0.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Fields that were accepted but have no effect in tower-mirror, one line each with
    /// document, path, line and column, such as `spec.http[0].timeout`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    fn from_str(yaml: &str) -> Result<Self, Self::Err> {
        Config::from_yaml(yaml)
    }
}

fn resolve(
    pending: PendingRule,
    subsets: &HashMap<&str, &DestinationRuleDef>,
) -> Result<Rule, ConfigError> {
    let labels = |target: Target| -> Result<Labels, ConfigError> {
        match target {
            Target::Labels(labels) => Ok(labels),
            Target::Subset { host, name, site } => {
                let Some(dr) = subsets.get(host.as_str()) else {
                    return Err(site.error(format!(
                        "unknown subset `{name}`: no DestinationRule in this config has \
                         `host: {host}`; add one that defines the subset"
                    )));
                };
                match dr.subsets.iter().find(|s| s.name == name) {
                    Some(subset) => Ok(subset.labels.clone()),
                    None => {
                        let known: Vec<&str> = dr.subsets.iter().map(|s| s.name.as_str()).collect();
                        Err(site.error(format!(
                            "unknown subset `{name}`: the DestinationRule for `{host}` \
                             (document {}) defines [{}]",
                            dr.document,
                            known.join(", ")
                        )))
                    }
                }
            }
        }
    };
    let mut splits = Vec::with_capacity(pending.splits.len());
    for split in pending.splits {
        splits.push(Split::new(labels(split.target)?, split.weight));
    }
    let mut mirrors = Vec::with_capacity(pending.mirrors.len());
    for mirror in pending.mirrors {
        let target_labels = labels(mirror.target)?;
        mirrors.push(MirrorTarget::new(
            mirror.destination,
            target_labels,
            mirror.percent,
        ));
    }
    Ok(Rule {
        name: pending.name,
        hosts: pending.hosts,
        destination: pending.destination,
        precedence: pending.precedence,
        matches: pending.matches,
        splits,
        mirrors,
    })
}

/// One routing rule: which requests it takes, how it splits them across label subsets of
/// its destination, and where it mirrors them.
///
/// ```
/// use tower_mirror::istio::Config;
///
/// let config = Config::from_yaml(r#"
/// apiVersion: networking.istio.io/v1
/// kind: VirtualService
/// metadata: {name: reviews}
/// spec:
///   hosts: [reviews]
///   http:
///   - name: api
///     match: [{uri: {prefix: /api}}]
///     route: [{destination: {host: reviews}}]
/// "#)?;
/// let rule = &config.rules()[0];
/// assert_eq!(rule.name, "reviews/api");
///
/// let (parts, ()) = http::Request::get("/api/1").body(()).unwrap().into_parts();
/// assert!(rule.matches(&parts));
/// # Ok::<(), tower_mirror::istio::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Rule {
    /// `metadata.name` for a `RouteRule`; `<name>/<http[].name>` (or `<name>/<index>` for
    /// an unnamed route) for a `VirtualService`.
    pub name: String,
    /// The hosts whose requests the rule applies to: `spec.hosts` of a `VirtualService`;
    /// the destination of a `RouteRule`.
    pub hosts: Vec<String>,
    /// The service requests go to, as written (`httpbin`, `httpbin.default.svc.cluster.local`).
    pub destination: String,
    /// `spec.precedence` of a `RouteRule`; 0 for `VirtualService` routes.
    pub precedence: i32,
    /// Any one entry must match (all its conditions); empty matches every request.
    pub matches: Vec<RouteMatch>,
    /// The weighted split over label subsets of `destination`; the weights sum to 100.
    /// Empty labels select every backend of the destination.
    pub splits: Vec<Split>,
    /// Where copies of the matched requests go.
    pub mirrors: Vec<MirrorTarget>,
}

impl Rule {
    /// Whether the rule takes this request: any of `matches` holds, or there are none.
    pub fn matches(&self, parts: &Parts) -> bool {
        self.matches.is_empty() || self.matches.iter().any(|m| m.matches(parts))
    }
}

/// A share of a rule's traffic for the backends carrying `labels`.
///
/// ```
/// use tower_mirror::istio::Split;
/// use tower_mirror::route::Labels;
///
/// let split = Split::new(Labels::from([("version", "v1")]), 100);
/// assert_eq!(split.weight, 100);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Split {
    /// Selects the backends (a subset's labels); empty selects all.
    pub labels: Labels,
    /// Share of the rule's traffic, 0..=100.
    pub weight: u32,
}

impl Split {
    /// A split sending `weight` percent to the backends with `labels`.
    pub fn new(labels: Labels, weight: u32) -> Self {
        Split { labels, weight }
    }
}

/// Where a rule's requests are copied to, and how many of them.
///
/// ```
/// use tower_mirror::istio::MirrorTarget;
/// use tower_mirror::route::Labels;
///
/// let target = MirrorTarget::new("httpbin", Labels::from([("version", "v2")]), 100.0);
/// assert_eq!(target.destination, "httpbin");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MirrorTarget {
    /// The service the copies go to, as written.
    pub destination: String,
    /// Selects the backends of `destination` that get copies; empty selects all.
    pub labels: Labels,
    /// Share of matched requests copied, 0.0..=100.0.
    pub percent: f64,
}

impl MirrorTarget {
    /// Copies `percent` of requests to the backends of `destination` with `labels`.
    pub fn new(destination: impl Into<String>, labels: Labels, percent: f64) -> Self {
        MirrorTarget {
            destination: destination.into(),
            labels,
            percent,
        }
    }
}
