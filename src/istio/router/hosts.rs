//! Which rules serve a request's host: the most specific host wins (exact, then the
//! longest wildcard, then `*`), else the default host.

use std::collections::HashMap;

use super::BuildError;
use crate::istio::host::HostPattern;
use crate::istio::rule::Rule;

/// The hosts the rules serve, each with its rules in match order.
#[derive(Debug)]
pub(super) struct HostTable {
    hosts: Vec<HostRules>,
    /// Every name that selects a host exactly; the first host to claim a name keeps it.
    exact: HashMap<String, usize>,
    /// `*.example.com` as (`.example.com`, host), longest suffix first.
    suffixes: Vec<(String, usize)>,
    /// The host written `*`.
    any: Option<usize>,
    /// Where requests for a host no rule serves go.
    default: Option<usize>,
}

/// One host and the rules that serve it.
#[derive(Debug)]
struct HostRules {
    /// As first written, for messages.
    name: String,
    /// Indexes into the router's rules, in match order.
    rules: Vec<usize>,
}

impl HostTable {
    /// Groups the rules by host. With exactly one host, it is also the default.
    pub(super) fn new(rules: &[Rule]) -> HostTable {
        let mut table = HostTable {
            hosts: Vec::new(),
            exact: HashMap::new(),
            suffixes: Vec::new(),
            any: None,
            default: None,
        };
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (index, rule) in rules.iter().enumerate() {
            for written in &rule.hosts {
                let pattern = HostPattern::new(written, &rule.namespace);
                let host = *by_key.entry(pattern.key()).or_insert_with(|| {
                    table.hosts.push(HostRules {
                        name: written.clone(),
                        rules: Vec::new(),
                    });
                    let host = table.hosts.len() - 1;
                    match &pattern {
                        HostPattern::Exact { .. } => {}
                        HostPattern::Suffix(suffix) => table.suffixes.push((suffix.clone(), host)),
                        HostPattern::Any => table.any = Some(host),
                    }
                    host
                });
                if let HostPattern::Exact { aliases, .. } = pattern {
                    for alias in aliases {
                        table.exact.entry(alias).or_insert(host);
                    }
                }
                let served = &mut table.hosts[host].rules;
                // A rule naming one host twice (`reviews` and its full name) is tried once.
                if served.last() != Some(&index) {
                    served.push(index);
                }
            }
        }
        table
            .suffixes
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        if table.hosts.len() == 1 {
            table.default = Some(0);
        }
        table
    }

    /// Sends requests for hosts no rule serves to the host `name` selects.
    pub(super) fn set_default(&mut self, name: &str) -> Result<(), BuildError> {
        let normalized = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        match self.find(&normalized) {
            Some(host) => {
                self.default = Some(host);
                Ok(())
            }
            None => Err(BuildError::UnknownDefaultHost {
                host: name.to_owned(),
                known: self.hosts.iter().map(|h| h.name.clone()).collect(),
            }),
        }
    }

    /// The rules serving `host` (as [`request_host`](crate::istio::host::request_host)
    /// gives it; `*` serves a request without one), or the default host's; `None` when
    /// neither exists.
    pub(super) fn rules_for(&self, host: Option<&str>) -> Option<&[usize]> {
        let host = host.map_or(self.any, |h| self.find(h)).or(self.default)?;
        Some(&self.hosts[host].rules)
    }

    fn find(&self, host: &str) -> Option<usize> {
        if let Some(&exact) = self.exact.get(host) {
            return Some(exact);
        }
        self.suffixes
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|&(_, index)| index)
            .or(self.any)
    }
}
