//! The subsets of each host, from every `DestinationRule` of the input, merged as Istio
//! merges them; and resolving a route's `subset` against them.

use std::collections::HashMap;

use super::error::ConfigError;
use super::host::HostPattern;
use super::resource::{DestinationRuleDef, SubsetDef, Target};
use super::yaml::Warning;
use crate::route::Labels;

/// Every host's subsets.
#[derive(Debug, Default)]
pub(crate) struct SubsetTable {
    /// By host key (a short name resolved in its resource's namespace).
    hosts: HashMap<String, HostSubsets>,
}

/// The subsets of one host, from one or more `DestinationRule`s.
#[derive(Debug)]
struct HostSubsets {
    /// As the first `DestinationRule` wrote it.
    host: String,
    /// Where they are defined, in file order.
    documents: Vec<usize>,
    subsets: Vec<SubsetDef>,
}

impl SubsetTable {
    /// Adds a `DestinationRule`'s subsets. Several rules for one host merge, as in Istio:
    /// their subsets add up, and for a name defined twice the first definition wins
    /// (the later one is reported in `warnings`).
    pub(crate) fn add(&mut self, rule: DestinationRuleDef, warnings: &mut Vec<Warning>) {
        let key = HostPattern::new(&rule.host, &rule.namespace).key();
        let entry = self.hosts.entry(key).or_insert_with(|| HostSubsets {
            host: rule.host.clone(),
            documents: Vec::new(),
            subsets: Vec::new(),
        });
        if entry.documents.last() != Some(&rule.document) {
            entry.documents.push(rule.document);
        }
        for subset in rule.subsets {
            match entry.subsets.iter().find(|s| s.name == subset.name) {
                Some(first) => warnings.push(subset.name_site.warning(format!(
                    "ignored: subset `{}` of host `{}` is already defined in document {} \
                     (Istio keeps the first definition)",
                    subset.name,
                    entry.host,
                    first.name_site.document()
                ))),
                None => entry.subsets.push(subset),
            }
        }
    }

    /// The labels `target` selects, for a rule in `namespace`.
    pub(crate) fn labels(&self, target: Target, namespace: &str) -> Result<Labels, ConfigError> {
        let (host, name, site) = match target {
            Target::Labels(labels) => return Ok(labels),
            Target::Subset { host, name, site } => (host, name, site),
        };
        let key = HostPattern::new(&host, namespace).key();
        let Some(defined) = self.hosts.get(&key) else {
            return Err(site.error(format!(
                "unknown subset `{name}`: no DestinationRule in this config has \
                 `host: {host}`; add one that defines the subset"
            )));
        };
        if let Some(subset) = defined.subsets.iter().find(|s| s.name == name) {
            return Ok(subset.labels.clone());
        }
        let known: Vec<&str> = defined.subsets.iter().map(|s| s.name.as_str()).collect();
        let documents: Vec<String> = defined.documents.iter().map(usize::to_string).collect();
        let (rules, define) = if documents.len() == 1 {
            ("DestinationRule", "document")
        } else {
            ("DestinationRules", "documents")
        };
        let verb = if documents.len() == 1 {
            "defines"
        } else {
            "define"
        };
        Err(site.error(format!(
            "unknown subset `{name}`: the {rules} for `{host}` ({define} {}) {verb} [{}]",
            documents.join(", "),
            known.join(", ")
        )))
    }
}
