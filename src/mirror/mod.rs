//! The mirror middleware: send each request to the primary and a copy of it to a shadow,
//! off the critical path and fire-and-forget.
//!
//! # How a request flows
//!
//! 1. [`Mirror::call`](crate::Mirror) asks the policy, cheapest check first: the pause
//!    switch and sampling (one relaxed atomic load: both change at run time through
//!    [`MirrorHandle`]), upgrades and `CONNECT` (never mirrored), the filter, then the body: a declared
//!    `Content-Length` over the cap, or an invalid one. The first that applies is the
//!    request's [`SkipReason`]. Then it asks the budget whether the copy would be refused
//!    anyway (calls in flight at the limit, breaker open): that is its [`DropReason`].
//! 2. The copy's head is counted in the budget (a copy whose head does not fit is dropped
//!    before anything is cloned), then cloned. The primary gets the request at once, its
//!    body wrapped in [`MirrorBody`], which copies each data frame into a capped buffer as
//!    the primary reads it. A request with an empty body is sent to the shadow right away.
//! 3. When the body ends, the copy is handed to a spawned task, under `max_in_flight`,
//!    `max_buffered_bytes` and the optional circuit breaker; over a limit the copy is
//!    dropped and counted, never queued. A streamed copy (see
//!    [Streamed copies](#streamed-copies)) is handed over as soon as its stream starts,
//!    and its body follows as the primary reads it.
//! 4. The task calls the shadow under `timeout` (readiness, call and response body), drains
//!    at most [`max_shadow_body_bytes`](MirrorLayer::max_shadow_body_bytes) of the
//!    response and drops it, and records the outcome in [`MirrorStats`] and a
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
//!    skips the copy at once, with nothing buffered; a body without one that grows past it
//!    frees its buffer and skips; the primary is unaffected. With
//!    [`Oversize::HeadersOnly`] the copy is still sent, without its body, marked by the
//!    header `x-mirror-body-truncated: true` (Envoy and Istio lose these requests silently:
//!    istio#58870, envoy#21684). With [`Oversize::Stream`] (the default of
//!    [`MirrorLayer::streaming`]) the copy is streamed instead (guarantee 11); on a layer
//!    built with [`MirrorLayer::new`], whose shadow cannot take a stream, `Stream` skips.
//! 5. **Whole bodies only.** A body the primary never reads to its end is not mirrored
//!    (`skipped_body_incomplete`); a request with an empty body is sent at `call` time. A
//!    body ends with its last frame: `None`, a frame after which it reports its end, or
//!    its trailers (hyper's client stops there), so a request with trailers is mirrored,
//!    without them. A streamed copy is sent before its body ends: a body that then fails
//!    or is dropped aborts it instead (guarantee 11).
//! 6. **No upgrades.** Upgrades (WebSocket, h2c) and `CONNECT` are never mirrored.
//! 7. **Bounded memory and tasks.** Over [`max_in_flight`](MirrorLayer::max_in_flight) or
//!    [`max_buffered_bytes`](MirrorLayer::max_buffered_bytes), or while the
//!    [circuit breaker](MirrorLayer::circuit_breaker) is open, the copy is dropped and
//!    counted with its [`DropReason`], never queued. The byte budget covers each copy's
//!    head and body (see [What the budget covers](#what-the-budget-covers)); a copy dropped
//!    at `call` allocates nothing. Memory stays flat under a hung shadow at full load.
//! 8. **Bounded calls.** Every shadow call ends within [`timeout`](MirrorLayer::timeout)
//!    (each copy's own timeout is drawn at or below it, see
//!    [`timeout_spread`](MirrorLayer::timeout_spread)); its response body is drained, up to
//!    [`max_shadow_body_bytes`](MirrorLayer::max_shadow_body_bytes) (64 KiB by default,
//!    enough for a normal reply), so pooled connections are reused, then ignored. A body
//!    that goes on past that never finished its reply within the allowance: it is cut
//!    (with its connection) and the copy counts as `failed`, also for the circuit breaker.
//!    The bytes read are counted in `shadow_body_bytes_drained`.
//! 9. **Copies outlive clients, and need no runtime to be safe.** A copy goes alongside
//!    the primary request, as Envoy's and Istio's mirrors do: if the primary's future is
//!    dropped (the client went away, or reset its HTTP/2 stream) before the primary
//!    answers, a copy already sent still completes; a request without a body is sent at
//!    `call`, so its copy is sent even when the client abandons it at once, while a
//!    request with a body is sent only once the primary has read all of it (a streamed
//!    one, once its stream starts). With no
//!    Tokio runtime current, the copy is skipped (`skipped_no_runtime`), never a panic.
//! 10. **Observability.** A `tracing` span per copy (target `tower_mirror`) with its outcome
//!     and latency; a [`MirrorEvent`] per decision and outcome, for metrics; nothing logged
//!     per request above `debug` level.
//! 11. **Streamed copies never hold the primary back.** A streamed copy's body goes to the
//!     shadow as the primary reads it, through a window of
//!     [`stream_window`](MirrorLayer::stream_window) bytes held in the budget; the tee
//!     never waits on it. A shadow a whole window behind, or a primary body that fails,
//!     is dropped before its end or does not match its `Content-Length`, aborts the copy:
//!     the shadow's body ends with an error (never a truncated body passed off as whole),
//!     the copy counts as `failed`, and the primary reads, and answers, as it would
//!     without the layer.
//!
//! ## What the budget covers
//!
//! The budget of guarantee 7 is one per layer, shared by all its clones and services:
//!
//! - **Calls in flight**: a copy holds its slot from dispatch until its shadow call ends
//!   (readiness, call and response body), or is cut by [`MirrorHandle::shutdown`]. Slots
//!   are also taken again at a steady pace: once calls have been answered, at most
//!   `max_in_flight` copies are admitted per smoothed answer time (about the last 8
//!   calls), with bursts of an eighth of the limit; the copies over it count as
//!   `dropped_in_flight`. A shadow that answers every copy of a burst in one burst would
//!   otherwise have its freed slots taken again in one burst, in waves that never end;
//!   paced, the waves flatten out at the same number of copies per second.
//! - **Bytes**: everything a copy holds counts against `max_buffered_bytes` until its
//!   shadow call ends (the shadow holds the copy), not just until dispatch:
//!   - its **head**, from `call`, before it is cloned: the URI's length, plus for each
//!     header its name, its value and 128 bytes for its entry in the header map. The
//!     request's head is counted first (so a copy whose head does not fit is dropped,
//!     `dropped_bytes`, having cloned nothing), then the copy's own once made. When the
//!     copy's task starts, off the primary's path, its URI and header values are moved
//!     into one allocation of its own, so that for as long as its shadow call lasts it
//!     does not keep the server's read buffer alive, uncounted;
//!   - its **body**, as the primary reads it. Up to 256 KiB the copy keeps the primary's
//!     frames themselves (nothing is copied on the primary's path) and joins them into
//!     one buffer on its own task, where for that moment it holds them twice; a body of
//!     one frame is sent as that frame. Past 256 KiB the frames are gathered into one
//!     buffer as they come and let go at once, so a large body is never held twice. That
//!     buffer is made at the declared `Content-Length` (counted whole from then on);
//!     without one it grows by doubling and counts the bytes read. A copy sent
//!     headers-only holds no body.
//!
//!   - a **streamed copy's window**: [`stream_window`](MirrorLayer::stream_window)
//!     bytes, held whole from the moment its stream starts (a copy whose window does not
//!     fit is dropped, `dropped_bytes`) until its shadow call ends, plus what was
//!     buffered before it turned into a stream. The frames in the window are the
//!     primary's own, shared, not copied.
//!
//!   Not counted in bytes, but bounded by `max_in_flight`: each copy's task, its timer and
//!   the shadow's connection and buffers. The shadow's response body is never held: at
//!   most `max_shadow_body_bytes` of it is read, frame by frame, and thrown away (compare
//!   mode keeps its capped copy).
//! - **The breaker** (off by default): after enough failed or timed-out copies in a row,
//!   copies are dropped until a back-off ends; then one copy goes as a probe.
//! - **Shutdown**: once [`MirrorHandle::shutdown`] begins, new requests are
//!   `skipped_shutdown`; copies still running at its deadline are cut (`timed_out`).
//!
//! Each copy is admitted three times, each as cheaply as the moment allows: at `call`
//! (calls in flight and the breaker: nothing is taken; then its head's bytes, before the
//! head is cloned; a copy refused here costs no allocation), as its body is buffered
//! (bytes), and when it is ready to go (the slot, and the breaker's leave, for good). Once [`MirrorHandle::wait_idle`] returns, `in_flight()` and `buffered_bytes()`
//! are 0.
//!
//! # What is never mirrored, and why
//!
//! | request | counted as | why |
//! |---|---|---|
//! | `CONNECT`, `Upgrade` (WebSocket, h2c) | `skipped_upgrade` | a tunnel cannot be replayed |
//! | body over `max_body_bytes` | `skipped_body_too_large` | bounded memory (or send headers only with [`Oversize::HeadersOnly`], or stream it with [`Oversize::Stream`]) |
//! | body not read to its end (the client went away, or reset its stream, first), errored, or not matching `Content-Length` | `skipped_body_incomplete` | the copy would carry a body the primary never got |
//! | no Tokio runtime current | `skipped_no_runtime` | nothing to run the copy on; never a panic |
//! | after [`MirrorHandle::shutdown`] began | `skipped_shutdown` | draining |
//! | while paused ([`MirrorHandle::pause`]) | `skipped_paused` | turned off by its operator |
//! | over `max_in_flight` | `dropped_in_flight` | bounded tasks |
//! | head or body over what is left of `max_buffered_bytes` | `dropped_bytes` | bounded memory |
//! | circuit breaker open | `dropped_breaker` | a failing shadow costs nothing per request |
//!
//! The copy never carries hop-by-hop headers (`connection` and the headers it names,
//! `keep-alive`, `proxy-*`, `te`, `trailer`, `transfer-encoding`, `upgrade`), trailers,
//! or the primary's extensions.
//!
//! A request the client abandons is mirrored as it would be otherwise (guarantee 9): the
//! copy goes alongside the primary request, as Envoy and Istio send theirs, so the
//! shadow sees what the primary was asked, not only what it answered. A request without
//! a body is copied at `call`, so an HTTP/2 stream reset right after its headers still
//! sends a copy (the primary's service was called with it); one with a body is copied only
//! once the primary has read the whole body, so a reset before that sends nothing.
//!
//! # Streamed copies
//!
//! A layer built with [`MirrorLayer::streaming`] has a shadow of
//! `Request<`[`CopyBody`]`>` (such as [`HttpUpstream`](crate::upstream::HttpUpstream)),
//! so copies need not be held whole: a copy over `max_body_bytes` ([`Oversize::Stream`],
//! that layer's default), or every copy with a body
//! ([`stream_bodies`](MirrorLayer::stream_bodies)), is sent as soon as that is known
//! (`mirrored`, [`MirrorEvent::Dispatched`]) and its body follows as the primary reads it,
//! as Envoy (1.33 and later) streams its mirrors. Smaller copies are buffered and sent
//! whole, as a `CopyBody` holding their bytes.
//!
//! - **Memory**: per copy, its window ([`stream_window`](MirrorLayer::stream_window), 64
//!   KiB by default) plus what was buffered before it turned into a stream, all counted in
//!   `max_buffered_bytes` until the call ends, so uploads of any size are mirrored with
//!   bounded memory.
//! - **Aborts** (guarantee 11): a shadow a whole window behind (the window must also
//!   cover the shadow's start, its connection included: raise it for fast clients or a
//!   distant shadow), a primary body that fails, is dropped before its end or does not
//!   match its `Content-Length`: `failed`, with the reason in the event's error. A copy
//!   aborted before its shadow was called is never sent. A body dropped before the cap
//!   was passed was never sent either: `skipped_body_incomplete`, as ever.
//! - **Time**: [`timeout`](MirrorLayer::timeout) bounds the whole call, the streamed body
//!   included (and the copy holds its `max_in_flight` slot as long); raise it for long
//!   uploads. [`MirrorHandle::wait_idle`] waits for streamed
//!   copies and [`MirrorHandle::shutdown`] cuts them like the others.
//! - **Not compared**: in compare mode (feature `compare`, on a streaming layer too), a
//!   streamed copy keeps no body to compare: it counts as `compare_skipped`, with that
//!   reason in the report; the copies sent whole are compared as usual.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! use tower_mirror::MirrorLayer;
//! use tower_mirror::upstream::HttpUpstream;
//! # fn build<S>(primary: S) {
//! let shadow: HttpUpstream = "http://shadow.internal:8080".parse().unwrap();
//! let layer = MirrorLayer::streaming(shadow)   // Oversize::Stream above the cap
//!     .max_body_bytes(256 << 10)
//!     .stream_window(1 << 20)
//!     .timeout(Duration::from_secs(60));       // the whole upload, for the copy
//! let svc = ServiceBuilder::new().layer(layer).service(primary);
//! # let _ = svc;
//! # }
//! ```
//!
//! # Reading the stats
//!
//! Once [`MirrorHandle::wait_idle`] returns, `seen == mirrored + skipped_*` (all of them,
//! `skipped_paused` too) `+ dropped_overload`, `dropped_overload == dropped_in_flight + dropped_bytes +
//! dropped_breaker` and `mirrored == completed + failed + timed_out`. A growing
//! `dropped_in_flight` means the shadow is slower than the traffic allows (raise
//! `max_in_flight` or lower `sample_percent`); a growing `dropped_bytes`, that bodies are
//! large for `max_buffered_bytes`; `dropped_breaker`, that the shadow keeps failing.
//! `timed_out` and `failed` describe the shadow itself (`failed` includes answers whose
//! body went on past `max_shadow_body_bytes`; the event's error says so), and
//! `shadow_body_bytes_drained` what reading its answers cost. Wire [`MirrorEvent`]s to
//! your metrics with [`on_event`](crate::MirrorLayer::on_event).
//!
//! # Tracing
//!
//! Each copy runs in a `debug` span named `mirror` (target `tower_mirror`) whose fields
//! carry OpenTelemetry's HTTP client names, so `tracing-opentelemetry` and log pipelines
//! read it as any HTTP call: `http.request.method`, `url.path`, `server.address` and
//! `server.port` (the copy's `Host`, else its URI), and once the call ends
//! `http.response.status_code`, `error.type` (`timeout`, the status for a 4xx or 5xx
//! answer, `_OTHER` for an error), plus `outcome` (`completed`, `failed`, `timed_out`) and
//! `latency_ms`. Nothing per request is logged above `debug`; the circuit breaker's turns
//! are logged once each, opening at `warn` and closing at `info`.
//!
//! # Runtime
//!
//! Copies are spawned on the current Tokio runtime, which needs the timer enabled (as
//! `#[tokio::main]` and `#[tokio::test]` give).

mod admission;
mod body;
mod breaker;
mod control;
mod copy;
mod counters;
mod event;
mod future;
mod handle;
mod head;
mod layer;
#[cfg(feature = "metrics")]
mod metrics;
pub(crate) mod observe;
mod pacing;
mod policy;
mod send;
mod service;
mod span;
mod spread;
mod stream;
mod streaming;
mod watch;

pub use body::MirrorBody;
pub use control::InvalidPercent;
pub use counters::MirrorStats;
pub use event::{Difference, DropReason, MirrorEvent, SkipReason};
pub use future::ResponseFuture;
pub use handle::MirrorHandle;
pub use layer::MirrorLayer;
pub use policy::Oversize;
pub use service::Mirror;
pub use stream::CopyBody;
pub use streaming::StreamingShadow;
