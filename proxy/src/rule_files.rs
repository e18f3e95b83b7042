//! The files behind `--rules` and `--endpoints`: read as one configuration, and the rules
//! as `/config` shows them.

use std::path::{Path, PathBuf};

use serde::Serialize;
use tower_mirror::istio::{Config, Rule};
use tower_mirror::route::Labels;

/// A rule as `/config` shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RuleSummary {
    name: String,
    hosts: Vec<String>,
    destination: String,
    routes: Vec<RouteSummary>,
    mirrors: Vec<MirrorSummary>,
}

#[derive(Clone, Debug, Serialize)]
struct RouteSummary {
    labels: String,
    weight: u32,
}

#[derive(Clone, Debug, Serialize)]
struct MirrorSummary {
    destination: String,
    labels: String,
    percent: f64,
}

impl RuleSummary {
    pub(crate) fn new(rule: &Rule) -> Self {
        let labels = |labels: &Labels| labels.to_string();
        Self {
            name: rule.name.clone(),
            hosts: rule.hosts.clone(),
            destination: rule.destination.clone(),
            routes: rule
                .splits
                .iter()
                .map(|s| RouteSummary {
                    labels: labels(&s.labels),
                    weight: s.weight,
                })
                .collect(),
            mirrors: rule
                .mirrors
                .iter()
                .map(|m| MirrorSummary {
                    destination: m.destination.clone(),
                    labels: labels(&m.labels),
                    percent: m.percent,
                })
                .collect(),
        }
    }
}

/// The endpoints file's text.
pub(crate) fn read_endpoints(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("--endpoints {}: cannot read it: {e}", path.display()))
}

/// Reads every --rules path (a file, or a directory of them) as one configuration.
pub(crate) fn read_rules(paths: &[PathBuf]) -> Result<Config, String> {
    if let [dir] = paths
        && dir.is_dir()
    {
        return Config::from_dir(dir).map_err(|e| e.to_string());
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(configuration_files(path)?);
        } else {
            files.push(path.clone());
        }
    }
    Config::from_files(files).map_err(|e| e.to_string())
}

/// The configuration files of a directory, as `Config::from_dir` picks them: no dot
/// files, `*.yaml`, `*.yml`, `*.json` or no extension, in name order.
pub(crate) fn configuration_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let cannot = |e: std::io::Error| format!("{}: cannot read the directory: {e}", dir.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let configuration = path
            .extension()
            .and_then(|e| e.to_str())
            .is_none_or(|e| matches!(e, "yaml" | "yml" | "json"));
        if !name.starts_with('.') && configuration && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn shown(paths: &[PathBuf]) -> String {
    let shown: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}
