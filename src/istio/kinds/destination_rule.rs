//! `DestinationRule`: only its subsets, which name label sets of a host.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::metadata::{Metadata, SpecAt};
use super::unapplied::{self, Unapplied};
use crate::istio::resource::{DestinationRuleDef, SubsetDef};
use crate::istio::yaml::{self, Ctx, LabelSet, Located, Name, Result};

const POLICY: &str = "tower-mirror does not apply traffic policies (load balancing, \
                      connection pools, outlier detection, TLS)";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    host: Name,
    #[serde(default)]
    subsets: Vec<Subset>,
    traffic_policy: Unapplied,
    workload_selector: Unapplied,
    /// Cannot change routing.
    #[serde(rename = "exportTo")]
    _export_to: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Subset {
    name: Located<Name>,
    #[serde(default)]
    labels: LabelSet,
    traffic_policy: Unapplied,
}

pub(super) fn parse(
    meta: &Metadata,
    spec: &SpecAt<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<DestinationRuleDef> {
    let Spec {
        host: Name(host),
        subsets: read,
        traffic_policy,
        workload_selector,
        _export_to,
    } = yaml::read(ctx, spec.node, spec.key, &spec.path)?;

    let mut subsets: Vec<SubsetDef> = Vec::with_capacity(read.len());
    for subset in read {
        let Name(name) = &subset.name.value;
        if subsets.iter().any(|s| s.name == *name) {
            return Err(subset.name.error(ctx, format!("duplicate subset `{name}`")));
        }
        unapplied::warn(ctx, &subset.traffic_policy, POLICY);
        subsets.push(SubsetDef {
            name_site: subset.name.site(ctx),
            name: name.clone(),
            labels: subset.labels.0,
        });
    }
    unapplied::warn(ctx, &traffic_policy, POLICY);
    unapplied::warn(
        ctx,
        &workload_selector,
        "subsets apply wherever tower-mirror runs",
    );
    Ok(DestinationRuleDef {
        document: ctx.document(),
        namespace: meta.namespace.clone(),
        host,
        subsets,
    })
}
