//! The assembler: the resources of every document become [`Rule`]s in match order, with
//! subsets resolved against the file's `DestinationRule`s and rule names checked unique.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use super::error::ConfigError;
use super::kinds;
use super::resource::{PendingRule, Read, Resource};
use super::rule::{MirrorTarget, Rule, Split};
use super::subsets::SubsetTable;
use super::yaml::{self, Ctx};

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
    /// Fails on the first problem: a character YAML forbids (a NUL or another control
    /// character, located), YAML syntax, an input without any Istio resource, an
    /// unsupported field, a value out of range, unusable weights, an unknown subset, a
    /// duplicate rule name.
    /// Fields Istio has that tower-mirror does not apply (timeouts, retries, faults, ...)
    /// are accepted and listed in [`warnings`](Self::warnings).
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        Config::read(&[(None, yaml)])
    }

    /// Reads several files as one configuration, in the order given, as if they were
    /// one file of concatenated documents: a later resource of the same kind, namespace
    /// and name replaces an earlier one, match order follows the files. Errors and
    /// warnings name the file ([`ConfigError::file`]); documents are numbered per file.
    ///
    /// ```no_run
    /// use tower_mirror::istio::Config;
    ///
    /// let config = Config::from_files(["rules/virtual-services.yaml", "rules/destination-rules.yaml"])?;
    /// # Ok::<(), tower_mirror::istio::ConfigError>(())
    /// ```
    pub fn from_files<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Config, ConfigError> {
        let mut texts = Vec::new();
        for path in paths {
            let path = Arc::new(path.as_ref().to_path_buf());
            let text = std::fs::read(path.as_path()).map_err(|err| {
                ConfigError::whole(format!("cannot read the file: {err}")).in_file(&path)
            })?;
            let text = String::from_utf8(text).map_err(|err| {
                ConfigError::whole(format!(
                    "the file is not UTF-8 text (invalid byte at offset {})",
                    err.utf8_error().valid_up_to()
                ))
                .in_file(&path)
            })?;
            texts.push((path, text));
        }
        let inputs: Vec<(Option<Arc<PathBuf>>, &str)> = texts
            .iter()
            .map(|(path, text)| (Some(Arc::clone(path)), text.as_str()))
            .collect();
        Config::read(&inputs)
    }

    /// Reads every configuration file of a directory, in name order (see
    /// [`from_files`](Self::from_files)): files ending in `.yaml`, `.yml` or `.json`, and
    /// files without an extension, as a Kubernetes ConfigMap mounted as a directory has
    /// them (one per key). Hidden entries (such as the mount's `..data`) and
    /// subdirectories are left out.
    ///
    /// ```no_run
    /// use tower_mirror::istio::Config;
    ///
    /// let config = Config::from_dir("/etc/tower-mirror/rules")?;
    /// # Ok::<(), tower_mirror::istio::ConfigError>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let dir = dir.as_ref();
        let cannot = |err: std::io::Error| {
            ConfigError::whole(format!("cannot read the directory: {err}")).in_file(dir)
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(cannot)? {
            let path = entry.map_err(cannot)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let configuration = match path.extension().and_then(|e| e.to_str()) {
                None => true,
                Some(extension) => matches!(extension, "yaml" | "yml" | "json"),
            };
            // `is_file` follows symbolic links, as a ConfigMap mount's keys are.
            if !name.starts_with('.') && configuration && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(ConfigError::whole(format!(
                "no configuration file (`*.yaml`, `*.yml`, `*.json` or without extension) in \
                 the directory; {}",
                kinds::SUPPORTED
            ))
            .in_file(dir));
        }
        Config::from_files(files)
    }

    /// Reads `inputs` (each with the file it came from, if any) as one configuration.
    fn read(inputs: &[(Option<Arc<PathBuf>>, &str)]) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let mut route_rules = Vec::new();
        let mut vs_rules = Vec::new();
        let mut subsets = SubsetTable::default();

        let mut docs = Vec::new();
        for (order, (file, text)) in inputs.iter().enumerate() {
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let file_docs = yaml::split_documents(text, file.clone(), order);
            yaml::check_characters(text, file.as_ref(), &file_docs)?;
            docs.extend(file_docs);
        }
        let mut resources = 0;
        let mut skipped: Vec<String> = Vec::new();
        // Every resource in file order; one that repeats an earlier one's kind, namespace
        // and name takes its place, as `kubectl apply` of the files in turn would.
        let mut read: Vec<Read> = Vec::new();
        for doc in docs {
            let Some(node) = yaml::parse_document(&doc)? else {
                continue;
            };
            let mut ctx = Ctx::new(&doc, &mut warnings);
            for item in kinds::parse(&node, &mut ctx)? {
                let earlier = item.id.as_ref().and_then(|id| {
                    read.iter_mut()
                        .find(|r| r.id.as_ref().is_some_and(|other| other.same(id)))
                });
                match (earlier, &item.id) {
                    (Some(earlier), Some(id)) => {
                        ctx.warnings().push(id.site.warning(format!(
                            "replaces {} {:?} of document {} (a later resource of the same \
                             kind, namespace and name wins, as with `kubectl apply`)",
                            id.kind,
                            id.name,
                            earlier.id.as_ref().map_or(0, |e| e.site.document())
                        )));
                        *earlier = item;
                    }
                    _ => read.push(item),
                }
            }
        }
        for item in read {
            match item.resource {
                Resource::RouteRule(rule) => route_rules.push(*rule),
                Resource::VirtualService(rules) => vs_rules.extend(rules),
                Resource::DestinationRule(rule) => subsets.add(rule, &mut warnings),
                Resource::Foreign { kind } => {
                    skipped.push(kind);
                    continue;
                }
            }
            resources += 1;
        }

        if resources == 0 {
            let skipped = if skipped.is_empty() {
                String::new()
            } else {
                format!(" (skipped: {})", skipped.join(", "))
            };
            return Err(ConfigError::whole(format!(
                "no Istio resource in the input{skipped}; {}",
                kinds::SUPPORTED
            )));
        }

        // Highest precedence first; the name breaks ties so the order never depends on
        // the file's. VirtualService routes keep file order, after all RouteRules.
        route_rules.sort_by(|a, b| {
            b.precedence
                .cmp(&a.precedence)
                .then_with(|| a.name.cmp(&b.name))
        });

        // Names are unique within a namespace, as Kubernetes names are.
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        let mut rules = Vec::with_capacity(route_rules.len() + vs_rules.len());
        for pending in route_rules.into_iter().chain(vs_rules) {
            let key = (pending.namespace.clone(), pending.name.clone());
            if let Some(document) = seen.get(&key) {
                return Err(pending.name_site.error(format!(
                    "duplicate rule name `{}` (also in document {document}); names must be \
                     unique within namespace `{}`",
                    pending.name, pending.namespace
                )));
            }
            seen.insert(key, pending.name_site.document());
            rules.push(resolve(pending, &subsets)?);
        }
        // Found in reading order (a mapping's leftovers after its fields, merges after
        // every document); listed in file order.
        warnings.sort_by_key(|w| (w.input, w.line, w.column));
        let warnings = warnings.into_iter().map(|w| w.text).collect();
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

/// A rule with its subsets resolved to labels.
fn resolve(pending: PendingRule, subsets: &SubsetTable) -> Result<Rule, ConfigError> {
    let namespace = pending.namespace.as_str();
    let mut splits = Vec::with_capacity(pending.splits.len());
    for split in pending.splits {
        let mut resolved = Split::new(subsets.labels(split.target, namespace)?, split.weight);
        resolved.headers = split.headers;
        splits.push(resolved);
    }
    let mut mirrors = Vec::with_capacity(pending.mirrors.len());
    for mirror in pending.mirrors {
        let labels = subsets.labels(mirror.target, namespace)?;
        mirrors.push(MirrorTarget::new(
            mirror.destination,
            labels,
            mirror.percent,
        ));
    }
    Ok(Rule {
        name: pending.name,
        namespace: pending.namespace,
        hosts: pending.hosts,
        destination: pending.destination,
        precedence: pending.precedence,
        matches: pending.matches,
        splits,
        mirrors,
        rewrite: pending.actions.rewrite,
        headers: pending.actions.headers,
        timeout: pending.actions.timeout,
        fault: pending.actions.fault,
    })
}
