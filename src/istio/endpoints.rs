//! An endpoints file: where each destination's labeled instances listen.

use std::fmt;
use std::str::FromStr;

use super::error::ConfigError;
use serde::Deserialize;

use super::yaml::{self, Ctx, Entries, LabelSet, Leftover, Located, Value};
use crate::route::{Backends, Labels};
use crate::upstream::HttpUpstream;

/// The labeled instances of each destination, read from YAML: what Kubernetes would know
/// from pod labels, written down for a process that runs outside a mesh.
///
/// The file maps each destination name (as the rules write it) to a list of instances,
/// each a `url` and optional `labels`:
///
/// ```
/// use tower_mirror::istio::{Config, Endpoints, Router};
/// use tower_mirror::route::Labels;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let endpoints = Endpoints::from_yaml(r#"
/// httpbin:
/// - labels: {version: v1}
///   url: http://127.0.0.1:9001
/// - labels: {version: v2}
///   url: http://127.0.0.1:9002
/// "#)?;
/// let (destination, instances) = endpoints.iter().next().unwrap();
/// assert_eq!(destination, "httpbin");
/// assert_eq!(instances[1].labels, Labels::from([("version", "v2")]));
/// assert_eq!(instances[1].upstream.base(), "http://127.0.0.1:9002");
///
/// // One `Backends` per destination, ready for the router.
/// let config = Config::from_yaml(include_str!("../../examples/config/mirror-httpbin-v2.yaml"))?;
/// let mut builder = Router::builder(&config);
/// for backends in endpoints.backends() {
///     builder = builder.backends(backends);
/// }
/// let router = builder.build()?;
/// # let _ = router;
/// # Ok(())
/// # }
/// ```
///
/// Every URL is checked while parsing (scheme `http`, or `https` with the `rustls` feature;
/// a host; no credentials or query), so [`backends`](Self::backends) cannot fail. Errors ([`ConfigError`]) give
/// the field path (`httpbin[1].url`), line and column; the file is one YAML document, so
/// [`ConfigError::document`] is `None`. Unknown fields are errors, so a typo such as
/// `lables` never passes silently.
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    destinations: Vec<(String, Vec<Endpoint>)>,
}

/// One instance of a destination: its labels and an [`HttpUpstream`] to its URL.
///
/// ```
/// use tower_mirror::istio::Endpoint;
/// use tower_mirror::route::Labels;
///
/// let endpoint = Endpoint::new(Labels::from([("version", "v1")]), "http://127.0.0.1:9001".parse()?);
/// assert_eq!(endpoint.upstream.base(), "http://127.0.0.1:9001");
/// # Ok::<(), tower_mirror::upstream::UpstreamError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Endpoint {
    /// The instance's labels, matched by rules' selectors; empty when none are written.
    pub labels: Labels,
    /// A client bound to the instance's URL.
    pub upstream: HttpUpstream,
}

impl Endpoint {
    /// An instance with `labels` served by `upstream`.
    pub fn new(labels: Labels, upstream: HttpUpstream) -> Self {
        Endpoint { labels, upstream }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("labels", &self.labels)
            .field("url", &self.upstream.base())
            .finish()
    }
}

impl Endpoints {
    /// Parses an endpoints file (see [`Endpoints`] for the format).
    ///
    /// Fails when the file is empty or not a mapping, a destination's list is missing or
    /// empty, an instance has no `url`, a URL is refused by [`HttpUpstream`], a label is
    /// not a string, or a field is unknown.
    pub fn from_yaml(yaml: &str) -> Result<Endpoints, ConfigError> {
        parse(yaml).map_err(|mut err| {
            // One document: its number would only add noise to the message.
            err.document = None;
            err
        })
    }

    /// The destinations and their instances, in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &[Endpoint])> {
        self.destinations
            .iter()
            .map(|(name, endpoints)| (name.as_str(), endpoints.as_slice()))
    }

    /// The instances of `destination`, if the file lists it.
    pub fn get(&self, destination: &str) -> Option<&[Endpoint]> {
        self.destinations
            .iter()
            .find(|(name, _)| name == destination)
            .map(|(_, endpoints)| endpoints.as_slice())
    }

    /// How many destinations the file lists.
    pub fn len(&self) -> usize {
        self.destinations.len()
    }

    /// Whether the file lists no destination (never, for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.destinations.is_empty()
    }

    /// One [`Backends`] per destination, in file order, for
    /// [`RouterBuilder::backends`](super::RouterBuilder::backends). Clones of the
    /// upstreams: each instance keeps one connection pool however often this is called.
    pub fn backends(&self) -> Vec<Backends<HttpUpstream>> {
        self.destinations
            .iter()
            .map(|(name, endpoints)| {
                endpoints
                    .iter()
                    .fold(Backends::new(name.as_str()), |backends, e| {
                        backends.with(e.labels.clone(), e.upstream.clone())
                    })
            })
            .collect()
    }
}

impl FromStr for Endpoints {
    type Err = ConfigError;

    fn from_str(yaml: &str) -> Result<Self, Self::Err> {
        Endpoints::from_yaml(yaml)
    }
}

const EXPECTED: &str = "expected a mapping of destination names to lists of instances, \
                        such as `httpbin: [{labels: {version: v1}, url: http://127.0.0.1:9001}]`";

/// One instance of a destination.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceSpec {
    labels: Option<LabelSet>,
    url: Located<String>,
    /// Refused after the url is checked.
    #[serde(rename = "$leftover", default)]
    leftover: Leftover,
}

fn parse(yaml: &str) -> Result<Endpoints, ConfigError> {
    let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    let mut warnings = Vec::new();
    let mut root = None;
    let docs = yaml::split_documents(yaml, None, 0);
    yaml::check_characters(yaml, None, &docs)?;
    for doc in docs {
        let Some(node) = yaml::parse_document(&doc)? else {
            continue;
        };
        let ctx = Ctx::new(&doc, &mut warnings);
        if root.is_some() {
            return Err(ctx.error(
                &node,
                "",
                "an endpoints file holds one YAML document; merge the destinations into one mapping",
            ));
        }
        root = Some((node, doc));
    }
    let Some((node, doc)) = root else {
        return Err(ConfigError {
            file: None,
            document: None,
            resource: None,
            path: String::new(),
            line: None,
            column: None,
            message: format!("the endpoints file is empty; {EXPECTED}").into(),
        });
    };
    let ctx = Ctx::new(&doc, &mut warnings);
    if !matches!(node.value, Value::Map(_)) {
        return Err(ctx.error(&node, "", EXPECTED));
    }
    let Entries(entries): Entries<Located<Vec<Located<InstanceSpec>>>> =
        yaml::read(&ctx, &node, &node, "")?;
    let mut destinations = Vec::with_capacity(entries.len());
    for (name, list) in entries {
        if name.trim().is_empty() {
            return Err(name.error(&ctx, "destination names must not be empty"));
        }
        if list.is_empty() {
            return Err(list.error(
                &ctx,
                format!(
                    "`{}` lists no instances; give at least one `url`",
                    name.value
                ),
            ));
        }
        let mut endpoints = Vec::with_capacity(list.len());
        for instance in &list.value {
            let upstream = instance
                .url
                .parse::<HttpUpstream>()
                .map_err(|e| instance.url.error(&ctx, e.to_string()))?;
            instance.leftover.refuse(&ctx)?;
            let labels = instance.labels.as_ref().map(|l| l.0.clone());
            endpoints.push(Endpoint {
                labels: labels.unwrap_or_default(),
                upstream,
            });
        }
        destinations.push((name.value, endpoints));
    }
    Ok(Endpoints { destinations })
}
