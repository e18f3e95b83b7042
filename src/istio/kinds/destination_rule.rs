//! `DestinationRule`: only its subsets, which name label sets of a host.

use super::metadata::Metadata;
use crate::istio::resource::{DestinationRuleDef, SubsetDef};
use crate::istio::yaml::{Ctx, Field, Result};
use crate::route::Labels;

const POLICY: &str = "tower-mirror does not apply traffic policies (load balancing, \
                      connection pools, outlier detection, TLS)";

pub(super) fn parse(
    meta: &Metadata,
    spec: &Field<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<DestinationRuleDef> {
    let mut fields = ctx.fields(spec.node, &spec.path)?;
    let host_field = fields.require(ctx, "host", spec.key)?;
    let host = ctx.name(host_field.node, &host_field.path)?;

    let mut subsets: Vec<SubsetDef> = Vec::new();
    if let Some(list) = fields.take(ctx, "subsets")? {
        for (i, node) in ctx.list(list.node, &list.path)?.iter().enumerate() {
            let path = format!("{}[{i}]", list.path);
            let mut subset = ctx.fields(node, &path)?;
            let name_field = subset.require(ctx, "name", node)?;
            let name = ctx.name(name_field.node, &name_field.path)?;
            if subsets.iter().any(|s| s.name == name) {
                return Err(ctx.error(
                    name_field.node,
                    &name_field.path,
                    format!("duplicate subset `{name}`"),
                ));
            }
            let labels = match subset.take(ctx, "labels")? {
                Some(field) => ctx.labels(field.node, &field.path)?,
                None => Labels::default(),
            };
            subset.finish(ctx, &[("trafficPolicy", POLICY)], &[])?;
            subsets.push(SubsetDef {
                name_site: ctx.site(name_field.node, &name_field.path),
                name,
                labels,
            });
        }
    }
    fields.finish(
        ctx,
        &[
            ("trafficPolicy", POLICY),
            (
                "workloadSelector",
                "subsets apply wherever tower-mirror runs",
            ),
        ],
        &["exportTo"],
    )?;
    Ok(DestinationRuleDef {
        document: ctx.document(),
        namespace: meta.namespace.clone(),
        host,
        subsets,
    })
}
