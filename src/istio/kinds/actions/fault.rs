//! `fault` (and a `RouteRule`'s `httpFault`): delays and aborts, each on its own share.

use http::StatusCode;

use super::super::spec;
use super::timeout::duration;
use crate::istio::fault::{Fault, FaultAbort, FaultDelay};
use crate::istio::yaml::{Ctx, Field, Result};

/// Which spelling of fault injection is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultSpelling {
    /// `VirtualService` `fault`: `percentage: {value}` (or the deprecated integer
    /// `percent` of a delay); unset means no request.
    VirtualService,
    /// `RouteRule` `httpFault` (Istio 0.5): a float `percent`; 0 or unset means none.
    RouteRule,
}

/// `fault` of a route (or `httpFault` of a `RouteRule`).
pub(crate) fn fault(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    spelling: FaultSpelling,
) -> Result<Fault> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let delay = fields.take(ctx, "delay")?;
    let abort = fields.take(ctx, "abort")?;
    fields.finish(ctx, &[], &[])?;
    if delay.is_none() && abort.is_none() {
        return Err(ctx.error(
            field.key,
            &field.path,
            "needs a `delay`, an `abort` or both",
        ));
    }
    let mut fault = Fault::default();
    if let Some(delay) = delay {
        fault.delay = fault_delay(ctx, &delay, spelling)?;
    }
    if let Some(abort) = abort {
        fault.abort = fault_abort(ctx, &abort, spelling)?;
    }
    Ok(fault)
}

/// The share of requests a fault applies to.
fn fault_percent(
    ctx: &mut Ctx<'_>,
    fields: &mut crate::istio::yaml::Fields<'_>,
    spelling: FaultSpelling,
    legacy_integer: bool,
) -> Result<f64> {
    match spelling {
        FaultSpelling::RouteRule => match fields.take(ctx, "percent")? {
            Some(field) => spec::percent(ctx, field.node, &field.path),
            None => Ok(0.0),
        },
        FaultSpelling::VirtualService => {
            let legacy = if legacy_integer {
                fields.take(ctx, "percent")?
            } else {
                None
            };
            match fields.take(ctx, "percentage")? {
                Some(field) => {
                    let mut value = ctx.fields(field.node, &field.path)?;
                    let v = value.require(ctx, "value", field.key)?;
                    value.finish(ctx, &[], &[])?;
                    spec::percent(ctx, v.node, &v.path)
                }
                None => match legacy {
                    Some(field) => spec::int_percent(ctx, field.node, &field.path),
                    None => Ok(0.0),
                },
            }
        }
    }
}

fn fault_delay(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    spelling: FaultSpelling,
) -> Result<Option<FaultDelay>> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let percent = fault_percent(ctx, &mut fields, spelling, true)?;
    let fixed = fields.take(ctx, "fixedDelay")?;
    spec::reject(
        ctx,
        &mut fields,
        "exponentialDelay",
        "Istio does not support it either; use `fixedDelay`",
    )?;
    spec::reject(
        ctx,
        &mut fields,
        "overrideHeaderName",
        "a delay chosen by a request header is not supported",
    )?;
    fields.finish(ctx, &[], &[])?;
    let Some(fixed) = fixed else {
        ctx.warn(
            field.key,
            &field.path,
            "ignored: a delay without `fixedDelay` delays nothing (as in Istio)",
        );
        return Ok(None);
    };
    Ok(Some(FaultDelay {
        duration: duration(ctx, &fixed)?,
        percent,
    }))
}

fn fault_abort(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    spelling: FaultSpelling,
) -> Result<Option<FaultAbort>> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let percent = fault_percent(ctx, &mut fields, spelling, false)?;
    let status = fields.take(ctx, "httpStatus")?;
    spec::reject(
        ctx,
        &mut fields,
        "grpcStatus",
        "tower-mirror aborts with HTTP statuses only; use `httpStatus`",
    )?;
    spec::reject(
        ctx,
        &mut fields,
        "http2Error",
        "Istio does not support it either; use `httpStatus`",
    )?;
    spec::reject(
        ctx,
        &mut fields,
        "overrideHeaderName",
        "an abort chosen by a request header is not supported",
    )?;
    fields.finish(ctx, &[], &[])?;
    let Some(status) = status else {
        ctx.warn(
            field.key,
            &field.path,
            "ignored: an abort without `httpStatus` aborts nothing (as in Istio)",
        );
        return Ok(None);
    };
    let code = ctx.int(status.node, &status.path)?;
    let status_code = u16::try_from(code)
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| {
            ctx.error(
                status.node,
                &status.path,
                format!("HTTP status {code} is not in range 200-599"),
            )
        })?;
    Ok(Some(FaultAbort {
        status: status_code,
        percent,
    }))
}
