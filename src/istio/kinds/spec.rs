//! Values shared by `RouteRule` and `VirtualService` specs: string matches, header names,
//! weights and percentages.

use serde::Deserialize;

use crate::istio::matching::{AnchoredRegex, StringMatch};
use crate::istio::yaml::{Ctx, Located, Result};

/// Istio's `StringMatch` as written: exactly one of `exact`, `prefix`, `regex` is valid.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StringMatchSpec {
    exact: Option<Located<String>>,
    prefix: Option<Located<String>>,
    regex: Option<Located<String>>,
}

/// Reads Istio's `StringMatch`: exactly one of `exact`, `prefix`, `regex`. With
/// `allow_present` (headers), an empty mapping `{}` means "present".
pub(super) fn string_match(
    ctx: &Ctx<'_>,
    spec: &Located<StringMatchSpec>,
    allow_present: bool,
) -> Result<StringMatch> {
    let StringMatchSpec {
        exact,
        prefix,
        regex,
    } = &spec.value;
    let mut set = [("exact", exact), ("prefix", prefix), ("regex", regex)]
        .into_iter()
        .filter_map(|(kind, field)| field.as_ref().map(|f| (kind, f)));
    let Some((kind, first)) = set.next() else {
        if allow_present {
            return Ok(StringMatch::Present);
        }
        return Err(spec.error(ctx, "needs one of `exact`, `prefix` or `regex`"));
    };
    if let Some((other, second)) = set.next() {
        return Err(second.error(
            ctx,
            format!("set only one of `exact`, `prefix` or `regex` (got `{kind}` and `{other}`)"),
        ));
    }
    let value = first.value.clone();
    Ok(match kind {
        "exact" => StringMatch::Exact(value),
        "prefix" => StringMatch::Prefix(value),
        _ => match AnchoredRegex::new(&value) {
            Ok(re) => StringMatch::Regex(re),
            Err(err) => {
                return Err(first.error(ctx, format!("invalid regex: {}", regex_message(&err))));
            }
        },
    })
}

/// The regex crate's syntax errors draw the (anchored) pattern over several lines; keep
/// the one line that says what is wrong.
pub(super) fn regex_message(err: &regex::Error) -> String {
    let text = err.to_string();
    match text.lines().find_map(|l| l.trim().strip_prefix("error: ")) {
        Some(reason) => reason.to_owned(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// A header name to match on, lowercased as HTTP/2 and Istio require.
pub(super) fn header_name(ctx: &Ctx<'_>, name: &Located<String>) -> Result<String> {
    if name.starts_with("@request.auth.claims") {
        return Err(name.error(
            ctx,
            format!(
                "`{}` matches a claim of the request's JWT, which needs Istio's request \
                 authentication (a RequestAuthentication validating the token, on a gateway); \
                 tower-mirror does not validate tokens: match on a header instead",
                name.value
            ),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Err(name.error(ctx, format!("`{}` is not a valid header name", name.value)));
    }
    Ok(lower)
}

/// Istio's `Percent`: `{value: <0.0..=100.0>}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PercentSpec {
    value: Located<f64>,
}

impl PercentSpec {
    /// The percentage, checked.
    pub(super) fn percent(&self, ctx: &Ctx<'_>) -> Result<f64> {
        percent(ctx, &self.value)
    }
}

/// A percentage, `0.0..=100.0`.
pub(super) fn percent(ctx: &Ctx<'_>, value: &Located<f64>) -> Result<f64> {
    if !(0.0..=100.0).contains(&value.value) {
        return Err(value.error(
            ctx,
            format!("must be between 0 and 100, got {}", value.value),
        ));
    }
    Ok(value.value)
}

/// A percentage given as an integer (legacy `mirrorPercent`), `0..=100`.
pub(super) fn int_percent(ctx: &Ctx<'_>, value: &Located<i128>) -> Result<f64> {
    if !(0..=100).contains(&value.value) {
        return Err(value.error(
            ctx,
            format!("must be between 0 and 100, got {}", value.value),
        ));
    }
    // In range, so exact.
    Ok(value.value as f64)
}

/// One route entry's weight, as written.
#[derive(Debug)]
pub(super) struct WeightEntry<'a> {
    pub(super) weight: Option<&'a Located<i128>>,
    /// The route entry, where a missing weight's error points.
    pub(super) entry: Located<()>,
}

/// How route weights are validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Weights {
    /// `RouteRule`, as Istio 0.5 validated it: each in `0..=100`, summing to exactly 100;
    /// a lone route without a weight takes 100.
    Percent,
    /// `VirtualService`, as Istio validates it since 1.15 (istio/istio#39544): weights are
    /// relative (`weight / sum`), each a non-negative 32-bit integer, a missing one is 0,
    /// several must not all be 0; a single destination takes all traffic whatever its
    /// weight.
    Relative,
}

/// Validates route weights (see [`Weights`]) and returns them in route order.
pub(super) fn weights(
    ctx: &mut Ctx<'_>,
    entries: &[WeightEntry<'_>],
    rules: Weights,
) -> Result<Vec<u32>> {
    let max = match rules {
        Weights::Percent => 100,
        Weights::Relative => i32::MAX as u32,
    };
    let mut weights = Vec::with_capacity(entries.len());
    for entry in entries {
        let weight = match entry.weight {
            None => None,
            Some(field) => {
                let value = field.value;
                let Some(w) = u32::try_from(value).ok().filter(|w| *w <= max) else {
                    let message = match rules {
                        Weights::Percent => {
                            format!("weight must be between 0 and 100, got {value}")
                        }
                        Weights::Relative if value < 0 => {
                            format!("weight must not be negative, got {value}")
                        }
                        Weights::Relative => {
                            format!("weight must fit in a 32-bit integer, got {value}")
                        }
                    };
                    return Err(field.error(ctx, message));
                };
                Some(w)
            }
        };
        weights.push(weight);
    }
    if let [only] = weights.as_slice() {
        match (only, rules) {
            (None, _) | (Some(100), Weights::Percent) => return Ok(vec![100]),
            (Some(w), Weights::Relative) => {
                if let Some(field) = entries[0].weight
                    && *w != 100
                {
                    field.warn(
                        ctx,
                        format_args!(
                            "ignored: a single destination receives all traffic, not {w}%"
                        ),
                    );
                }
                return Ok(vec![100]);
            }
            (Some(_), Weights::Percent) => {}
        }
    }
    let weights: Vec<u32> = weights.into_iter().map(Option::unwrap_or_default).collect();
    let total = weights.iter().try_fold(0u32, |sum, w| sum.checked_add(*w));
    let wrong = match (rules, total) {
        (Weights::Percent, Some(100)) => None,
        (Weights::Percent, total) => Some(format!(
            "weights must sum to 100, got {}",
            total.unwrap_or(u32::MAX)
        )),
        (Weights::Relative, Some(0)) => Some(
            "the weights are all 0, so no destination would receive traffic; give at least \
             one a positive weight (weights are relative)"
                .to_owned(),
        ),
        (Weights::Relative, Some(_)) => None,
        (Weights::Relative, None) => Some(format!(
            "the weights add up to more than {}; scale them down (they are relative)",
            u32::MAX
        )),
    };
    if let (Some(message), Some(last)) = (wrong, entries.last()) {
        return Err(match last.weight {
            Some(field) => field.error(ctx, message),
            None => last.entry.error(ctx, message),
        });
    }
    Ok(weights)
}
