//! `fault` (and a `RouteRule`'s `httpFault`): delays and aborts, each on its own share.
//!
//! Two spellings: a `VirtualService`'s `fault` gives shares as `percentage: {value}` (or
//! the deprecated integer `percent` of a delay), unset meaning no request; a `RouteRule`'s
//! `httpFault` (Istio 0.5) gives a float `percent`, 0 or unset meaning none.

use http::StatusCode;
use serde::Deserialize;

use super::super::spec::{self, PercentSpec};
use super::super::unapplied::{self, Unapplied};
use super::timeout::duration;
use crate::istio::fault::{Fault, FaultAbort, FaultDelay};
use crate::istio::yaml::{Ctx, Located, Name, Result};

/// `fault` of a `VirtualService` route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultSpec {
    delay: Option<Located<DelaySpec>>,
    abort: Option<Located<AbortSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DelaySpec {
    percent: Option<Located<i128>>,
    percentage: Option<PercentSpec>,
    fixed_delay: Option<Located<Name>>,
    exponential_delay: Unapplied,
    override_header_name: Unapplied,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AbortSpec {
    percentage: Option<PercentSpec>,
    http_status: Option<Located<i128>>,
    grpc_status: Unapplied,
    http2_error: Unapplied,
    override_header_name: Unapplied,
}

/// `httpFault` of a `RouteRule`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFaultSpec {
    delay: Option<Located<RuleDelaySpec>>,
    abort: Option<Located<RuleAbortSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleDelaySpec {
    percent: Option<Located<f64>>,
    fixed_delay: Option<Located<Name>>,
    exponential_delay: Unapplied,
    override_header_name: Unapplied,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleAbortSpec {
    percent: Option<Located<f64>>,
    http_status: Option<Located<i128>>,
    grpc_status: Unapplied,
    http2_error: Unapplied,
    override_header_name: Unapplied,
}

/// A delay or an abort of either spelling, its share checked.
struct Injection<'a> {
    percent: f64,
    /// `fixedDelay` of a delay, `httpStatus` of an abort.
    fixed_delay: Option<&'a Located<Name>>,
    http_status: Option<&'a Located<i128>>,
    exponential_delay: &'a Unapplied,
    grpc_status: &'a Unapplied,
    http2_error: &'a Unapplied,
    override_header_name: &'a Unapplied,
}

/// `fault` of a route.
pub(crate) fn fault(ctx: &mut Ctx<'_>, spec: &Located<FaultSpec>) -> Result<Fault> {
    let FaultSpec { delay, abort } = &spec.value;
    if delay.is_none() && abort.is_none() {
        return Err(needs_one(ctx, spec));
    }
    let mut fault = Fault::default();
    if let Some(delay) = delay {
        // As Istio: `percentage` wins, the deprecated integer is read only without it.
        let percent = match (&delay.percentage, &delay.percent) {
            (Some(percentage), _) => percentage.percent(ctx)?,
            (None, Some(legacy)) => spec::int_percent(ctx, legacy)?,
            (None, None) => 0.0,
        };
        let injection = Injection {
            percent,
            fixed_delay: delay.fixed_delay.as_ref(),
            http_status: None,
            exponential_delay: &delay.exponential_delay,
            grpc_status: &None,
            http2_error: &None,
            override_header_name: &delay.override_header_name,
        };
        fault.delay = fault_delay(ctx, &delay.with(()), &injection)?;
    }
    if let Some(abort) = abort {
        let percent = match &abort.percentage {
            Some(percentage) => percentage.percent(ctx)?,
            None => 0.0,
        };
        let injection = Injection {
            percent,
            fixed_delay: None,
            http_status: abort.http_status.as_ref(),
            exponential_delay: &None,
            grpc_status: &abort.grpc_status,
            http2_error: &abort.http2_error,
            override_header_name: &abort.override_header_name,
        };
        fault.abort = fault_abort(ctx, &abort.with(()), &injection)?;
    }
    Ok(fault)
}

/// `httpFault` of a `RouteRule`.
pub(crate) fn rule_fault(ctx: &mut Ctx<'_>, spec: &Located<RuleFaultSpec>) -> Result<Fault> {
    let RuleFaultSpec { delay, abort } = &spec.value;
    if delay.is_none() && abort.is_none() {
        return Err(needs_one(ctx, spec));
    }
    let mut fault = Fault::default();
    if let Some(delay) = delay {
        let injection = Injection {
            percent: rule_percent(ctx, &delay.percent)?,
            fixed_delay: delay.fixed_delay.as_ref(),
            http_status: None,
            exponential_delay: &delay.exponential_delay,
            grpc_status: &None,
            http2_error: &None,
            override_header_name: &delay.override_header_name,
        };
        fault.delay = fault_delay(ctx, &delay.with(()), &injection)?;
    }
    if let Some(abort) = abort {
        let injection = Injection {
            percent: rule_percent(ctx, &abort.percent)?,
            fixed_delay: None,
            http_status: abort.http_status.as_ref(),
            exponential_delay: &None,
            grpc_status: &abort.grpc_status,
            http2_error: &abort.http2_error,
            override_header_name: &abort.override_header_name,
        };
        fault.abort = fault_abort(ctx, &abort.with(()), &injection)?;
    }
    Ok(fault)
}

fn needs_one<T>(ctx: &Ctx<'_>, spec: &Located<T>) -> crate::istio::ConfigError {
    spec.key_error(ctx, "needs a `delay`, an `abort` or both")
}

fn rule_percent(ctx: &Ctx<'_>, percent: &Option<Located<f64>>) -> Result<f64> {
    match percent {
        Some(percent) => spec::percent(ctx, percent),
        None => Ok(0.0),
    }
}

fn fault_delay(
    ctx: &mut Ctx<'_>,
    at: &Located<()>,
    injection: &Injection<'_>,
) -> Result<Option<FaultDelay>> {
    unapplied::refuse(
        ctx,
        injection.exponential_delay,
        "exponentialDelay",
        "Istio does not support it either; use `fixedDelay`",
    )?;
    unapplied::refuse(
        ctx,
        injection.override_header_name,
        "overrideHeaderName",
        "a delay chosen by a request header is not supported",
    )?;
    let Some(fixed) = injection.fixed_delay else {
        at.warn(
            ctx,
            "ignored: a delay without `fixedDelay` delays nothing (as in Istio)",
        );
        return Ok(None);
    };
    Ok(Some(FaultDelay {
        duration: duration(ctx, fixed)?,
        percent: injection.percent,
    }))
}

fn fault_abort(
    ctx: &mut Ctx<'_>,
    at: &Located<()>,
    injection: &Injection<'_>,
) -> Result<Option<FaultAbort>> {
    unapplied::refuse(
        ctx,
        injection.grpc_status,
        "grpcStatus",
        "tower-mirror aborts with HTTP statuses only; use `httpStatus`",
    )?;
    unapplied::refuse(
        ctx,
        injection.http2_error,
        "http2Error",
        "Istio does not support it either; use `httpStatus`",
    )?;
    unapplied::refuse(
        ctx,
        injection.override_header_name,
        "overrideHeaderName",
        "an abort chosen by a request header is not supported",
    )?;
    let Some(status) = injection.http_status else {
        at.warn(
            ctx,
            "ignored: an abort without `httpStatus` aborts nothing (as in Istio)",
        );
        return Ok(None);
    };
    let code = status.value;
    let status_code = u16::try_from(code)
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| status.error(ctx, format!("HTTP status {code} is not in range 200-599")))?;
    Ok(Some(FaultAbort {
        status: status_code,
        percent: injection.percent,
    }))
}
