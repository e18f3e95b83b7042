//! `timeout` and a `RouteRule`'s `httpReqTimeout`, and durations as Istio writes them.

use std::time::Duration;

use serde::Deserialize;

use super::super::unapplied::{self, Unapplied};
use crate::istio::yaml::{Ctx, Located, Name, Result};

/// A duration as Istio writes them (`7s`, `0.5s`, `100ms`, `1m30s`): at least 1ms, to
/// the millisecond, as Istio validates it.
pub(super) fn duration(ctx: &Ctx<'_>, field: &Located<Name>) -> Result<Duration> {
    let Name(text) = &field.value;
    let duration = parse_duration(text).ok_or_else(|| {
        field.error(
            ctx,
            format!("`{text}` is not a duration; write it as `7s`, `0.5s`, `100ms` or `1m30s`"),
        )
    })?;
    if duration < Duration::from_millis(1) {
        return Err(field.error(ctx, "must be at least 1ms"));
    }
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return Err(field.error(ctx, "only durations to the millisecond are supported"));
    }
    Ok(duration)
}

/// Go's duration syntax (what Kubernetes and Istio accept): numbers with units `h`, `m`,
/// `s`, `ms`, `us`/`µs`, `ns`, such as `1m30.5s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    rest = rest.strip_prefix('+').unwrap_or(rest);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        let nanos = (number * nanos_per_unit).round();
        if !nanos.is_finite() || nanos > u64::MAX as f64 {
            return None;
        }
        total = total.checked_add(Duration::from_nanos(nanos as u64))?;
    }
    Some(total)
}

/// `timeout` of a route.
pub(crate) fn timeout(ctx: &Ctx<'_>, field: &Located<Name>) -> Result<Duration> {
    duration(ctx, field)
}

/// `httpReqTimeout` of a `RouteRule`: `simpleTimeout.timeout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HttpReqTimeoutSpec {
    simple_timeout: SimpleTimeout,
    custom: Unapplied,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SimpleTimeout {
    timeout: Located<Name>,
    override_header_name: Unapplied,
}

/// `httpReqTimeout` of a `RouteRule`: `simpleTimeout.timeout`.
pub(crate) fn http_req_timeout(ctx: &Ctx<'_>, spec: &HttpReqTimeoutSpec) -> Result<Duration> {
    unapplied::refuse(
        ctx,
        &spec.custom,
        "custom",
        "only `simpleTimeout` is supported",
    )?;
    let simple = &spec.simple_timeout;
    unapplied::refuse(
        ctx,
        &simple.override_header_name,
        "overrideHeaderName",
        "a timeout chosen by a request header is not supported",
    )?;
    duration(ctx, &simple.timeout)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("7s"), Some(ms(7000)));
        assert_eq!(parse_duration("0.5s"), Some(ms(500)));
        assert_eq!(parse_duration("100ms"), Some(ms(100)));
        assert_eq!(parse_duration("1m30s"), Some(ms(90_000)));
        assert_eq!(parse_duration("1h"), Some(ms(3_600_000)));
        assert_eq!(parse_duration("1500us"), Some(Duration::from_micros(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "7", "s", "-1s", "1x", "1.2.3s", "1e3s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
