//! The mirror middleware: send each request to the primary and a copy of it to a shadow,
//! off the critical path and fire-and-forget.
//!
//! # How a request flows
//!
//! 1. [`Mirror::call`](crate::Mirror) asks the policy, cheapest check first: sampling,
//!    upgrades and `CONNECT` (never mirrored), the filter, then the body: a declared
//!    `Content-Length` over the cap, or an invalid one. The first that applies is the
//!    request's [`SkipReason`]. Then it asks the budget whether the copy would be refused
//!    anyway (calls in flight at the limit, breaker open): that is its [`DropReason`].
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
//! # Guarantees
//!
//! What the layer promises, each one checked by tests that cite it as "guarantee N".
//!
//! 1. **Transparency.** With the layer on, the primary sees the same method, URI, version,
//!    headers, extensions, body bytes and trailers as without it, and the client gets the
//!    primary's response unchanged; the primary's errors pass through as they are.
//! 2. **Off the critical path.** The primary's response never waits on the shadow. A
//!    shadow that sleeps, hangs forever, refuses connections, answers 5xx, errors in
//!    `poll_ready` or panics leaves the primary's status, body and latency as they were.
//! 3. **The copy.** Same method, path and query, headers without the hop-by-hop ones
//!    (`connection` and the headers it names, `keep-alive`, `proxy-*`, `te`, `trailer`,
//!    `transfer-encoding`, `upgrade`), identical body bytes; plus the
//!    [`host_suffix`](MirrorLayer::host_suffix) and extra [`header`](MirrorLayer::header)s
//!    when set. Trailers and the primary's extensions are not sent to the shadow.
//! 4. **Body cap.** A `Content-Length` above [`max_body_bytes`](MirrorLayer::max_body_bytes)
//!    skips the copy at once, with nothing buffered; a streamed body that grows past it
//!    frees its buffer and skips; the primary is unaffected. With
//!    [`Oversize::HeadersOnly`] the copy is still sent, without its body, marked by the
//!    header `x-mirror-body-truncated: true` (Envoy and Istio lose these requests silently:
//!    istio#58870, envoy#21684).
//! 5. **Whole bodies only.** A body the primary never reads to its end is not mirrored
//!    (`skipped_body_incomplete`); a request with an empty body is sent at `call` time.
//! 6. **No upgrades.** Upgrades (WebSocket, h2c) and `CONNECT` are never mirrored.
//! 7. **Bounded memory and tasks.** Over [`max_in_flight`](MirrorLayer::max_in_flight) or
//!    [`max_buffered_bytes`](MirrorLayer::max_buffered_bytes), or while the
//!    [circuit breaker](MirrorLayer::circuit_breaker) is open, the copy is dropped and
//!    counted with its [`DropReason`], never queued. Memory stays flat under a hung shadow
//!    at full load.
//! 8. **Bounded calls.** Every shadow call ends within [`timeout`](MirrorLayer::timeout);
//!    its response body is drained (up to 1 MiB) so pooled connections are reused, then
//!    ignored.
//! 9. **Copies outlive clients, and need no runtime to be safe.** If the primary's future is
//!    dropped (the client went away), a copy already sent still completes. With no Tokio
//!    runtime current, the copy is skipped (`skipped_no_runtime`), never a panic.
//! 10. **Observability.** A `tracing` span per copy (target `tower_mirror`) with its outcome
//!     and latency; a [`MirrorEvent`] per decision and outcome, for metrics; nothing logged
//!     per request above `debug` level.
//!
//! ## What the budget covers
//!
//! The budget of guarantee 7 is one per layer, shared by all its clones and services:
//!
//! - **Calls in flight**: a copy holds its slot from dispatch until its shadow call ends
//!   (readiness, call and response body), or is cut by [`MirrorHandle::shutdown`].
//! - **Bytes**: a copy's body bytes count against `max_buffered_bytes` from the moment they
//!   are buffered until its shadow call ends (the shadow holds the body), not just until
//!   dispatch. A copy sent headers-only holds none.
//! - **The breaker** (off by default): after enough failed or timed-out copies in a row,
//!   copies are dropped until a back-off ends; then one copy goes as a probe.
//! - **Shutdown**: once [`MirrorHandle::shutdown`] begins, new requests are
//!   `skipped_shutdown`; copies still running at its deadline are cut (`timed_out`).
//!
//! Each copy is admitted three times, each as cheaply as the moment allows: at `call`
//! (nothing is taken; a copy that would be refused is never buffered), as its body is
//! buffered (bytes), and when it is ready to go (the slot, and the breaker's leave, for
//! good). Once [`MirrorHandle::wait_idle`] returns, `in_flight()` and `buffered_bytes()`
//! are 0.
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
//! | over `max_in_flight` | `dropped_in_flight` | bounded tasks |
//! | over `max_buffered_bytes` | `dropped_bytes` | bounded memory |
//! | circuit breaker open | `dropped_breaker` | a failing shadow costs nothing per request |
//!
//! The copy never carries hop-by-hop headers (`connection` and the headers it names,
//! `keep-alive`, `proxy-*`, `te`, `trailer`, `transfer-encoding`, `upgrade`), trailers,
//! or the primary's extensions.
//!
//! # Reading the stats
//!
//! Once [`MirrorHandle::wait_idle`] returns, `seen == mirrored + skipped_* +
//! dropped_overload`, `dropped_overload == dropped_in_flight + dropped_bytes +
//! dropped_breaker` and `mirrored == completed + failed + timed_out`. A growing
//! `dropped_in_flight` means the shadow is slower than the traffic allows (raise
//! `max_in_flight` or lower `sample_percent`); a growing `dropped_bytes`, that bodies are
//! large for `max_buffered_bytes`; `dropped_breaker`, that the shadow keeps failing.
//! `timed_out` and `failed` describe the shadow itself. Wire [`MirrorEvent`]s to your
//! metrics with [`on_event`](crate::MirrorLayer::on_event).
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
mod head;
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
