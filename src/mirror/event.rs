//! What a layer reports, request by request: the decision on each request and the outcome
//! of each copy, with their reasons, handed to the `on_event` callback.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// Why a request was not mirrored, by policy. Each request that is not mirrored gets
/// exactly one reason: a [`SkipReason`] or a [`DropReason`].
///
/// Its `Display` is the suffix of its counter in [`MirrorStats`](crate::MirrorStats):
/// `body_too_large` for `skipped_body_too_large`.
///
/// ```
/// use tower_mirror::SkipReason;
/// assert_eq!(SkipReason::BodyTooLarge.to_string(), "body_too_large");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// Not picked by `sample_percent` / `sample_by_header`.
    Sampling,
    /// The `filter` predicate returned `false`.
    Filter,
    /// The body was over `max_body_bytes` (with [`Oversize::Skip`](crate::Oversize::Skip),
    /// or [`Oversize::Stream`](crate::Oversize::Stream) on a layer whose shadow cannot take
    /// a stream).
    BodyTooLarge,
    /// The primary never read the body to its end, or the body errored, or its length did
    /// not match its `Content-Length`: a copy would carry a body the primary never saw.
    BodyIncomplete,
    /// An upgrade (`Upgrade` header, e.g. WebSocket) or a `CONNECT`: a tunnel cannot be replayed.
    Upgrade,
    /// No Tokio runtime was current when the copy was ready to be sent.
    NoRuntime,
    /// The request arrived after [`MirrorHandle::shutdown`](crate::MirrorHandle::shutdown)
    /// began.
    Shutdown,
    /// The mirror was paused with [`MirrorHandle::pause`](crate::MirrorHandle::pause).
    Paused,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sampling => "sampling",
            Self::Filter => "filter",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyIncomplete => "body_incomplete",
            Self::Upgrade => "upgrade",
            Self::NoRuntime => "no_runtime",
            Self::Shutdown => "shutdown",
            Self::Paused => "paused",
        })
    }
}

/// Which part of the budget a dropped copy would have gone over: copies are dropped to
/// protect the process, never queued.
///
/// Its `Display` is the suffix of its counter in [`MirrorStats`](crate::MirrorStats):
/// `in_flight` for `dropped_in_flight`, `bytes` for `dropped_bytes`, `breaker` for
/// `dropped_breaker`.
///
/// ```
/// use tower_mirror::{DropReason, MirrorEvent, MirrorLayer};
/// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// let layer = MirrorLayer::new(shadow).on_event(|event: &MirrorEvent| {
///     if let MirrorEvent::Dropped { reason } = event {
///         match reason {
///             DropReason::InFlight => { /* the shadow is slow: raise max_in_flight? */ }
///             DropReason::Bytes => { /* large bodies: raise max_buffered_bytes? */ }
///             DropReason::CircuitOpen => { /* the shadow keeps failing */ }
///             _ => {}
///         }
///     }
/// });
/// assert_eq!(DropReason::CircuitOpen.to_string(), "breaker");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// `max_in_flight` shadow calls were already running, or the slots freed are being
    /// taken again at the paced rate (see the crate docs, "What the budget covers").
    InFlight,
    /// The copy's head or body would have gone over `max_buffered_bytes`.
    Bytes,
    /// The circuit breaker was open: the shadow kept failing.
    CircuitOpen,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InFlight => "in_flight",
            Self::Bytes => "bytes",
            Self::CircuitOpen => "breaker",
        })
    }
}

/// What happened to a request or to its copy, passed to the `on_event` callback.
///
/// Each request gets exactly one decision event ([`Skipped`](Self::Skipped),
/// [`Dropped`](Self::Dropped) or [`Dispatched`](Self::Dispatched)); each dispatched copy
/// then gets exactly one outcome event ([`Completed`](Self::Completed),
/// [`Failed`](Self::Failed) or [`TimedOut`](Self::TimedOut)).
///
/// ```
/// use tower_mirror::{MirrorEvent, MirrorLayer};
/// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// # });
/// let layer = MirrorLayer::new(shadow).on_event(|event: &MirrorEvent| match event {
///     MirrorEvent::Completed { status, latency } => {
///         tracing::info!(%status, ?latency, "shadow answered");
///     }
///     MirrorEvent::Dropped { reason } => tracing::warn!(%reason, "shadow overloaded: copy dropped"),
///     _ => {}
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MirrorEvent {
    /// The request was not mirrored, by policy.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
    /// The copy was dropped to protect the process: `max_in_flight`, `max_buffered_bytes`
    /// or an open circuit breaker.
    Dropped {
        /// Which limit.
        reason: DropReason,
    },
    /// The copy was handed to the shadow.
    Dispatched,
    /// The shadow answered (any status, 5xx included) and its body was drained.
    Completed {
        /// The shadow's status.
        status: StatusCode,
        /// From dispatch to the end of the shadow's body.
        latency: Duration,
    },
    /// The shadow errored, refused the connection or panicked, or its answer's body went on
    /// past `max_shadow_body_bytes`.
    Failed {
        /// From dispatch to the failure.
        latency: Duration,
        /// The error, as text.
        error: String,
    },
    /// The shadow was not ready, or did not answer or finish its body, within `timeout`; or
    /// the copy was cut by [`MirrorHandle::shutdown`](crate::MirrorHandle::shutdown).
    TimedOut,
    /// The shadow's answer was compared with the primary's. Only compare mode (feature
    /// `compare`) sends it, after the copy's outcome event.
    Compared {
        /// Method and path template, e.g. `GET /users/{n}`.
        route: String,
        /// What differs, noise removed; empty when the answers match.
        differences: Vec<Difference>,
    },
}

/// One difference between the primary's answer and the shadow's, as compare mode (feature
/// `compare`) reports it in [`MirrorEvent::Compared`].
///
/// ```
/// use tower_mirror::mirror::Difference;
/// let d = Difference::Status { primary: 200, shadow: 500 };
/// assert_eq!(d.field(), "status");
/// assert_eq!(d.to_string(), "status: 200 != 500");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Difference {
    /// The statuses differ.
    Status {
        /// The primary's status.
        primary: u16,
        /// The shadow's status.
        shadow: u16,
    },
    /// A header differs, or is on one side only (`None`).
    Header {
        /// Lowercase header name.
        name: String,
        /// The primary's values, joined with `, `.
        primary: Option<String>,
        /// The shadow's values, joined with `, `.
        shadow: Option<String>,
    },
    /// The bodies differ, compared as bytes. Compare mode now reports text bodies as
    /// [`TextLine`](Self::TextLine) and other bodies as [`Binary`](Self::Binary).
    Body {
        /// The primary's body length.
        primary_len: usize,
        /// The shadow's body length.
        shadow_len: usize,
    },
    /// Text bodies (not both JSON) differ: the first line that differs.
    #[non_exhaustive]
    TextLine {
        /// Its number, from 1.
        line: usize,
        /// Up to two lines before it, the same on both sides.
        context: Vec<String>,
        /// The primary's line; `None` when its body has fewer lines.
        primary: Option<String>,
        /// The shadow's line; `None` when its body has fewer lines.
        shadow: Option<String>,
    },
    /// Bodies that are not both text differ: their lengths and FNV-1a 64 hashes.
    #[non_exhaustive]
    Binary {
        /// The primary's body length.
        primary_len: usize,
        /// The shadow's body length.
        shadow_len: usize,
        /// FNV-1a 64 of the primary's body.
        primary_hash: u64,
        /// FNV-1a 64 of the shadow's body.
        shadow_hash: u64,
    },
    /// A JSON value differs, or is on one side only (`None`).
    JsonField {
        /// JSONPath-like location, e.g. `$.items[3].price`.
        path: String,
        /// The primary's value, as JSON text.
        primary: Option<String>,
        /// The shadow's value, as JSON text.
        shadow: Option<String>,
    },
}

impl Difference {
    /// Where the difference is: `status`, `header:<name>`, `body` (bytes, text or binary)
    /// or a JSON path. Reports count differences by this key, and noise is learned by it.
    pub fn field(&self) -> String {
        match self {
            Self::Status { .. } => "status".to_owned(),
            Self::Header { name, .. } => format!("header:{name}"),
            Self::Body { .. } | Self::TextLine { .. } | Self::Binary { .. } => "body".to_owned(),
            Self::JsonField { path, .. } => path.clone(),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".to_owned());
        match self {
            Self::Status { primary, shadow } => write!(f, "status: {primary} != {shadow}"),
            Self::Header {
                name,
                primary,
                shadow,
            } => write!(f, "header {name}: {} != {}", side(primary), side(shadow)),
            Self::Body {
                primary_len,
                shadow_len,
            } => write!(
                f,
                "body: bytes differ ({primary_len} vs {shadow_len} bytes)"
            ),
            Self::JsonField {
                path,
                primary,
                shadow,
            } => write!(f, "{path}: {} != {}", side(primary), side(shadow)),
            Self::TextLine {
                line,
                primary,
                shadow,
                ..
            } => {
                let side = |v: &Option<String>| match v {
                    Some(text) => format!("{text:?}"),
                    None => "(absent)".to_owned(),
                };
                write!(f, "body line {line}: {} != {}", side(primary), side(shadow))
            }
            Self::Binary {
                primary_len,
                shadow_len,
                primary_hash,
                shadow_hash,
            } => write!(
                f,
                "body: {primary_len} bytes (fnv {primary_hash:016x}) != {shadow_len} bytes (fnv {shadow_hash:016x})"
            ),
        }
    }
}

pub(crate) type EventCallback = Arc<dyn Fn(&MirrorEvent) + Send + Sync>;

/// Where a layer's events go: the `on_event` callback, if one was set.
#[derive(Clone, Default)]
pub(crate) struct EventSink {
    on_event: Option<EventCallback>,
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink")
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

impl EventSink {
    pub(crate) fn new(on_event: Option<EventCallback>) -> Self {
        Self { on_event }
    }

    /// Whether an `on_event` callback is set.
    #[inline]
    pub(crate) fn is_listening(&self) -> bool {
        self.on_event.is_some()
    }

    #[inline]
    pub(crate) fn emit(&self, event: MirrorEvent) {
        if let Some(on_event) = &self.on_event {
            on_event(&event);
        }
    }
}
