//! The mirror middleware: send each request to the primary and a copy of it to a shadow,
//! off the critical path and fire-and-forget.
//!
//! # How a request flows
//!
//! 1. [`Mirror::call`](crate::Mirror) asks the policy, cheapest check first: sampling,
//!    upgrades and `CONNECT` (never mirrored), the filter, then the body: a declared
//!    `Content-Length` over the cap, or an invalid one. The first that applies is the
//!    request's [`SkipReason`].
//! 2. The primary gets the request at once, its body wrapped in [`MirrorBody`], which
//!    copies each data frame into a capped buffer as the primary reads it. A request with
//!    an empty body is sent to the shadow right away.
//! 3. When the body ends, the copy is handed to a spawned task, under `max_in_flight`,
//!    `max_buffered_bytes` and the optional circuit breaker; over a limit the copy is
//!    dropped and counted, never queued.
//! 4. The task calls the shadow under `timeout` (readiness, call and response body), drains
//!    and drops the response, and records the outcome in [`MirrorStats`] and a
//!    [`MirrorEvent`].
//!
//! # What is never mirrored, and why
//!
//! | request | counted as | why |
//! |---|---|---|
//! | `CONNECT`, `Upgrade` (WebSocket, h2c) | `skipped_upgrade` | a tunnel cannot be replayed |
//! | body over `max_body_bytes` | `skipped_body_too_large` | bounded memory (or send headers only with [`Oversize::HeadersOnly`]) |
//! | body not read to its end, errored, or not matching `Content-Length` | `skipped_body_incomplete` | the copy would carry a body the primary never got |
//! | no Tokio runtime current | `skipped_no_runtime` | nothing to run the copy on; never a panic |
//! | after [`MirrorHandle::shutdown`] began | `skipped_shutdown` | draining |
//!
//! The copy never carries hop-by-hop headers (`connection` and the headers it names,
//! `keep-alive`, `proxy-*`, `te`, `trailer`, `transfer-encoding`, `upgrade`), trailers,
//! or the primary's extensions.
//!
//! # Reading the stats
//!
//! Once [`MirrorHandle::wait_idle`] returns, `seen == mirrored + skipped_* +
//! dropped_overload` and `mirrored == completed + failed + timed_out`. A growing
//! `dropped_overload` means the shadow is slower than the traffic allows (raise
//! `max_in_flight` or lower `sample_percent`); `timed_out` and `failed` describe the shadow
//! itself. Wire [`MirrorEvent`]s to your metrics with
//! [`on_event`](crate::MirrorLayer::on_event).
//!
//! # Tracing
//!
//! Each copy runs in a `debug` span named `mirror` (target `tower_mirror`) with fields
//! `method`, `path`, `outcome` and `latency_ms`. Nothing per request is logged above
//! `debug`.
//!
//! # Runtime
//!
//! Copies are spawned on the current Tokio runtime, which needs the timer enabled (as
//! `#[tokio::main]` and `#[tokio::test]` give).

mod admission;
mod body;
mod breaker;
mod copy;
mod counters;
mod event;
mod future;
mod handle;
mod layer;
pub(crate) mod observe;
mod policy;
mod send;
mod service;

pub use body::MirrorBody;
pub use counters::MirrorStats;
pub use event::{Difference, DropReason, MirrorEvent, SkipReason};
pub use future::ResponseFuture;
pub use handle::MirrorHandle;
pub use layer::MirrorLayer;
pub use policy::Oversize;
pub use service::Mirror;
