//! Fields read only to be warned about or refused: Istio applies them, tower-mirror does
//! not. A derived struct declares them as [`Unapplied`], so they are known (not a typo)
//! and their place is kept.

use serde::de::IgnoredAny;

use crate::istio::yaml::{Ctx, Located, Result};

/// A field whose value is not read, only where it is.
pub(super) type Unapplied = Option<Located<IgnoredAny>>;

/// Warns that `field`, when set, is ignored, and why.
pub(super) fn warn(ctx: &mut Ctx<'_>, field: &Unapplied, why: &str) {
    if let Some(field) = field {
        field.warn(ctx, format_args!("ignored: {why}"));
    }
}

/// Fails when `field` (named `name`) is set: tower-mirror cannot honour it, and ignoring
/// it would route requests differently from Istio.
pub(super) fn refuse(ctx: &Ctx<'_>, field: &Unapplied, name: &str, why: &str) -> Result<()> {
    match field {
        Some(field) => Err(field.key_error(ctx, format!("`{name}` is not supported: {why}"))),
        None => Ok(()),
    }
}
