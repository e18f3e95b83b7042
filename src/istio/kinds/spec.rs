//! Values shared by `RouteRule` and `VirtualService` specs: string matches, header names,
//! weights and percentages.

use crate::istio::matching::{AnchoredRegex, StringMatch};
use crate::istio::yaml::{Ctx, Field, Fields, Node, Result};

/// Reads Istio's `StringMatch`: exactly one of `exact`, `prefix`, `regex`. With
/// `allow_present` (headers), an empty mapping `{}` means "present".
pub(super) fn string_match(
    ctx: &mut Ctx<'_>,
    node: &Node,
    path: &str,
    allow_present: bool,
) -> Result<StringMatch> {
    let mut fields = ctx.fields(node, path)?;
    let exact = fields.take(ctx, "exact")?;
    let prefix = fields.take(ctx, "prefix")?;
    let regex = fields.take(ctx, "regex")?;
    fields.finish(ctx, &[], &[])?;
    let mut set = [("exact", exact), ("prefix", prefix), ("regex", regex)]
        .into_iter()
        .filter_map(|(kind, field)| field.map(|f| (kind, f)));
    let Some((kind, first)) = set.next() else {
        if allow_present {
            return Ok(StringMatch::Present);
        }
        return Err(ctx.error(node, path, "needs one of `exact`, `prefix` or `regex`"));
    };
    if let Some((other, second)) = set.next() {
        return Err(ctx.error(
            second.node,
            &second.path,
            format!("set only one of `exact`, `prefix` or `regex` (got `{kind}` and `{other}`)"),
        ));
    }
    let value = ctx.string(first.node, &first.path)?;
    Ok(match kind {
        "exact" => StringMatch::Exact(value),
        "prefix" => StringMatch::Prefix(value),
        _ => match AnchoredRegex::new(&value) {
            Ok(re) => StringMatch::Regex(re),
            Err(err) => {
                return Err(ctx.error(
                    first.node,
                    &first.path,
                    format!("invalid regex: {}", regex_message(&err)),
                ));
            }
        },
    })
}

/// The regex crate's syntax errors draw the (anchored) pattern over several lines; keep
/// the one line that says what is wrong.
fn regex_message(err: &regex::Error) -> String {
    let text = err.to_string();
    match text.lines().find_map(|l| l.trim().strip_prefix("error: ")) {
        Some(reason) => reason.to_owned(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// A header name to match on, lowercased as HTTP/2 and Istio require.
pub(super) fn header_name(ctx: &Ctx<'_>, key: &Node, path: &str, name: &str) -> Result<String> {
    let lower = name.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Err(ctx.error(key, path, format!("`{name}` is not a valid header name")));
    }
    Ok(lower)
}

/// A percentage, `0.0..=100.0`.
pub(super) fn percent(ctx: &Ctx<'_>, node: &Node, path: &str) -> Result<f64> {
    let value = ctx.number(node, path)?;
    if !(0.0..=100.0).contains(&value) {
        return Err(ctx.error(
            node,
            path,
            format!("must be between 0 and 100, got {value}"),
        ));
    }
    Ok(value)
}

/// A percentage given as an integer (legacy `mirrorPercent`), `0..=100`.
pub(super) fn int_percent(ctx: &Ctx<'_>, node: &Node, path: &str) -> Result<f64> {
    let value = ctx.int(node, path)?;
    if !(0..=100).contains(&value) {
        return Err(ctx.error(
            node,
            path,
            format!("must be between 0 and 100, got {value}"),
        ));
    }
    // In range, so exact.
    Ok(value as f64)
}

/// One route entry's weight, as written.
#[derive(Debug)]
pub(super) struct WeightEntry<'n> {
    pub(super) weight: Option<Field<'n>>,
    pub(super) entry: &'n Node,
    pub(super) path: String,
}

/// How a lone route's weight is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lone {
    /// `RouteRule` (Istio 0.5 validation): the total must be 100; missing means 100.
    MustTotal100,
    /// `VirtualService`: a single destination takes all traffic whatever its weight.
    TakesAll,
}

/// Validates route weights as Istio does: each in `0..=100`; a single route without a
/// weight takes 100; several must sum to exactly 100 (a missing weight is 0).
pub(super) fn weights(
    ctx: &mut Ctx<'_>,
    entries: &[WeightEntry<'_>],
    lone: Lone,
) -> Result<Vec<u32>> {
    let mut weights = Vec::with_capacity(entries.len());
    for entry in entries {
        let weight = match &entry.weight {
            None => None,
            Some(field) => {
                let value = ctx.int(field.node, &field.path)?;
                let Some(w) = u32::try_from(value).ok().filter(|w| *w <= 100) else {
                    return Err(ctx.error(
                        field.node,
                        &field.path,
                        format!("weight must be between 0 and 100, got {value}"),
                    ));
                };
                Some(w)
            }
        };
        weights.push(weight);
    }
    if let [only] = weights.as_slice() {
        match (only, lone) {
            (None, _) | (Some(100), _) => return Ok(vec![100]),
            (Some(w), Lone::TakesAll) => {
                if let Some(field) = &entries[0].weight {
                    ctx.warn(
                        field.node,
                        &field.path,
                        format_args!(
                            "ignored: a single destination receives all traffic, not {w}%"
                        ),
                    );
                }
                return Ok(vec![100]);
            }
            (Some(_), Lone::MustTotal100) => {}
        }
    }
    let weights: Vec<u32> = weights.into_iter().map(Option::unwrap_or_default).collect();
    // Each is at most 100, so the sum cannot overflow.
    let total: u32 = weights.iter().sum();
    if total != 100 {
        if let Some(last) = entries.last() {
            let (node, path) = match &last.weight {
                Some(field) => (field.node, field.path.clone()),
                None => (last.entry, last.path.clone()),
            };
            return Err(ctx.error(node, &path, format!("weights must sum to 100, got {total}")));
        }
    }
    Ok(weights)
}

/// Fails when `name` is set: a field whose meaning tower-mirror cannot honour, where
/// ignoring it would route requests differently from Istio.
pub(super) fn reject(
    ctx: &Ctx<'_>,
    fields: &mut Fields<'_>,
    name: &'static str,
    why: &str,
) -> Result<()> {
    match fields.take(ctx, name)? {
        Some(field) => Err(ctx.error(
            field.node,
            &field.path,
            format!("`{name}` is not supported: {why}"),
        )),
        None => Ok(()),
    }
}
