//! `MirrorLayer`: the builder, with every knob.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::HeaderName;
use http::header::{self, HeaderValue};
use http::request::Parts;
use tower_layer::Layer;

use super::admission::{Admission, Budget, Limits};
use super::breaker::Breaker;
use super::control::ppm_of;
use super::counters::{Counters, Recorder};
use super::event::{EventCallback, EventSink, MirrorEvent};
use super::handle::MirrorHandle;
use super::policy::{Oversize, Policy};
use super::send::ShadowCopier;
use super::service::Mirror;
use super::streaming::StreamingShadow;
use crate::rng::SharedRng;

/// Time allowed per shadow call by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Layer that mirrors requests to a shadow service; builds [`Mirror`].
///
/// The shadow is any `Clone + Send + Sync` service of `Request<Full<Bytes>>` whose
/// response is an `http::Response` (for example
/// [`HttpUpstream`](crate::upstream::HttpUpstream), a [`Subset`](crate::route::Subset),
/// or a `service_fn` in tests). Its response is drained and ignored. A shadow of
/// `Request<`[`CopyBody`](crate::CopyBody)`>` can also take copies streamed as the primary
/// reads them: see [`streaming`](Self::streaming).
///
/// | knob | default | what it does |
/// |---|---|---|
/// | [`max_body_bytes`](Self::max_body_bytes) | 1 MiB | per-request copy cap |
/// | [`on_oversize`](Self::on_oversize) | [`Oversize::Skip`] ([`Oversize::Stream`] with [`streaming`](Self::streaming)) | above the cap: skip, send headers only, or stream |
/// | [`stream_bodies`](Self::stream_bodies) (with `streaming`) | off | stream every copy with a body, not only those over the cap |
/// | [`stream_window`](Self::stream_window) (with `streaming`) | 64 KiB | bytes a streamed copy may be ahead of its shadow; past it the copy is aborted |
/// | [`sample_percent`](Self::sample_percent) | 100 | share of requests mirrored |
/// | [`sample_by_header`](Self::sample_by_header) | none | sample by a header's hash, fleet-stable |
/// | [`filter`](Self::filter) | none | mirror only requests it accepts |
/// | [`safe_methods_only`](Self::safe_methods_only) | off | mirror only `GET`, `HEAD`, `OPTIONS`, `TRACE` |
/// | [`max_in_flight`](Self::max_in_flight) | 1024 | concurrent shadow calls; over it copies are dropped |
/// | [`pacing`](Self::pacing) | on | freed slots taken again at a steady pace, not all at once |
/// | [`max_buffered_bytes`](Self::max_buffered_bytes) | 64 MiB | copy bytes (heads and bodies) held at once; over it copies are dropped |
/// | [`timeout`](Self::timeout) | 5 s | per shadow call: readiness, call, and its body |
/// | [`timeout_spread`](Self::timeout_spread) | 0.5 | each copy's own timeout, in `timeout × [0.5, 1]` |
/// | [`max_shadow_body_bytes`](Self::max_shadow_body_bytes) | 64 KiB | shadow answer body read per copy; past it the copy fails |
/// | [`host_suffix`](Self::host_suffix) | none | `host:port` → `host<suffix>:port` on the copy |
/// | [`header`](Self::header) | none | extra headers on the copy |
/// | [`remove_header`](Self::remove_header), [`strip_credentials`](Self::strip_credentials) | none | headers the copy must not carry |
/// | [`strip_trace_context`](Self::strip_trace_context) | off | the copy starts its own traces |
/// | [`map_request`](Self::map_request) | none | rewrite the copy's head |
/// | [`circuit_breaker`](Self::circuit_breaker) | off | stop sending to a failing shadow, probe with back-off |
/// | [`on_event`](Self::on_event) | none | a callback per decision and outcome, for metrics |
/// | `metrics` (feature `metrics`) | off | counters, a histogram and gauges through the `metrics` facade |
/// | [`seed`](Self::seed) | random | reproducible random sampling |
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower::ServiceBuilder;
/// use tower_mirror::{MirrorBody, MirrorLayer, Oversize};
///
/// let shadow = tower::service_fn(|_: http::Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
/// });
/// let layer = MirrorLayer::new(shadow)
///     .max_body_bytes(1 << 20)
///     .on_oversize(Oversize::HeadersOnly)
///     .sample_percent(25.0)
///     .sample_by_header("x-request-id")
///     .filter(|parts: &http::request::Parts| parts.method != http::Method::POST)
///     .max_in_flight(1024)
///     .max_buffered_bytes(64 << 20)
///     .timeout(Duration::from_secs(5))
///     .host_suffix("-shadow")
///     .header("x-mirrored-by", "tower-mirror")
///     .strip_credentials()
///     .circuit_breaker(5, Duration::from_secs(10));
/// let handle = layer.handle();
/// let svc = ServiceBuilder::new().layer(layer).service(tower::service_fn(
///     |_: http::Request<MirrorBody<Full<Bytes>>>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::from("v1")))
///     },
/// ));
/// # let _ = (svc, handle);
/// ```
pub struct MirrorLayer<M> {
    shadow: M,
    policy: Policy,
    limits: Limits,
    timeout: Duration,
    on_event: Option<EventCallback>,
    breaker: Option<(u32, Duration)>,
    seed: Option<u64>,
    counters: Arc<Counters>,
    budget: Arc<Budget>,
    /// Built on the first `layer` call and shared by every service made after it, and by
    /// every clone of this layer (axum clones it per route before calling `layer`), so the
    /// breaker and the random sequence are one per layer. Reset by every knob.
    built: Arc<OnceLock<Arc<ShadowCopier<M>>>>,
}

impl<M: Clone> Clone for MirrorLayer<M> {
    fn clone(&self) -> Self {
        Self {
            shadow: self.shadow.clone(),
            policy: self.policy.clone(),
            limits: self.limits,
            timeout: self.timeout,
            on_event: self.on_event.clone(),
            breaker: self.breaker,
            seed: self.seed,
            counters: Arc::clone(&self.counters),
            budget: Arc::clone(&self.budget),
            built: Arc::clone(&self.built),
        }
    }
}

impl<M: fmt::Debug> fmt::Debug for MirrorLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirrorLayer")
            .field("shadow", &self.shadow)
            .field("policy", &self.policy)
            .field("limits", &self.limits)
            .field("timeout", &self.timeout)
            .field("on_event", &self.on_event.is_some())
            .field("circuit_breaker", &self.breaker)
            .field("seed", &self.seed)
            .finish()
    }
}

impl<M> MirrorLayer<M> {
    /// Mirrors every request to `shadow`, with the defaults in the table above.
    pub fn new(shadow: M) -> Self {
        Self {
            shadow,
            policy: Policy::default(),
            limits: Limits::default(),
            timeout: DEFAULT_TIMEOUT,
            on_event: None,
            breaker: None,
            seed: None,
            counters: Arc::default(),
            budget: Arc::default(),
            built: Arc::default(),
        }
    }

    /// Warns, once per build, of a choice this layer's shadow cannot honour.
    fn warn_unsupported(&self) {
        if self.policy.oversize == Oversize::Stream && !self.policy.streams {
            tracing::warn!(
                target: "tower_mirror",
                "Oversize::Stream needs a layer built with MirrorLayer::streaming (a shadow \
                 of Request<CopyBody>); this one skips copies over max_body_bytes instead"
            );
        }
    }

    fn tune(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self.built = Arc::default();
        self
    }

    /// A handle on the counters of this layer and of every service it builds, and on its
    /// sampling share and pause switch (see [`MirrorHandle::set_sample_percent`]).
    pub fn handle(&self) -> MirrorHandle {
        MirrorHandle::new(
            Arc::clone(&self.counters),
            Arc::clone(&self.budget),
            Arc::clone(&self.policy.sampling),
        )
    }

    /// Per-request cap on the copied body (default 1 MiB). A `Content-Length` above it
    /// decides at once, before anything is buffered; a body without one that grows past
    /// it frees what was buffered (or, streamed, sends it first). See
    /// [`on_oversize`](Self::on_oversize).
    #[must_use]
    pub fn max_body_bytes(self, max: usize) -> Self {
        self.tune(|l| l.policy.max_body_bytes = max)
    }

    /// What to do above `max_body_bytes` (default [`Oversize::Skip`]; on a layer built
    /// with [`streaming`](Self::streaming), [`Oversize::Stream`]). `Oversize::Stream` on a
    /// layer built with [`new`](Self::new) behaves as `Skip` (its shadow takes
    /// `Full<Bytes>`, which cannot carry a stream), with one `warn!` when it is built.
    #[must_use]
    pub fn on_oversize(self, oversize: Oversize) -> Self {
        self.tune(|l| l.policy.oversize = oversize)
    }

    /// Share of requests mirrored, `0.0..=100.0` (default 100), with a resolution of
    /// 0.0001 %. Random unless [`sample_by_header`](Self::sample_by_header) is set.
    ///
    /// The share is live: it is the one [`MirrorHandle::set_sample_percent`] changes while
    /// the layer runs, shared by this layer, its clones, every service built from them
    /// and their handles.
    ///
    /// # Panics
    ///
    /// If `percent` is NaN or outside `0.0..=100.0`: a configuration error.
    #[must_use]
    pub fn sample_percent(self, percent: f64) -> Self {
        match ppm_of(percent) {
            Ok(ppm) => self.policy.sampling.set_ppm(ppm),
            Err(error) => panic!("MirrorLayer::sample_percent: {error}"),
        }
        self
    }

    /// Samples by the hash of this header's value instead of at random: a request is
    /// mirrored when `FNV-1a-64(value) % 1_000_000 < round(percent × 10_000)`. The same
    /// value gets the same decision on every instance, process and version, so a whole
    /// fleet mirrors the same request ids. Requests without the header are sampled at
    /// random at the same percentage.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name.
    #[must_use]
    pub fn sample_by_header<K>(self, name: K) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
    {
        let name = header_name("sample_by_header", name);
        self.tune(|l| l.policy.sample_header = Some(name))
    }

    /// Mirrors only the requests `filter` accepts (rejected ones count as
    /// `skipped_filter`).
    #[must_use]
    pub fn filter<F>(self, filter: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.tune(|l| l.policy.filter = Some(Arc::new(filter)))
    }

    /// Mirrors only the methods RFC 9110 calls safe: `GET`, `HEAD`, `OPTIONS` and
    /// `TRACE`; the others are counted `skipped_filter`. Use it when the shadow shares a
    /// data store (a database, a queue, a payment provider) with the primary: a mirrored
    /// `POST` is a second write. Checked before [`filter`](Self::filter).
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let layer = tower_mirror::MirrorLayer::new(shadow)
    ///     .safe_methods_only()
    ///     .header("x-mirrored-by", "tower-mirror"); // and mark what it does get
    /// ```
    #[must_use]
    pub fn safe_methods_only(self) -> Self {
        self.tune(|l| l.policy.safe_methods_only = true)
    }

    /// Removes the trace context from the copy: `traceparent`, `tracestate` (W3C), `b3`,
    /// `x-b3-*` (Zipkin) and `uber-trace-id` (Jaeger), so the shadow's spans start traces
    /// of their own instead of joining (and doubling) the client's. The primary keeps
    /// them.
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let layer = tower_mirror::MirrorLayer::new(shadow).strip_trace_context();
    /// ```
    #[must_use]
    pub fn strip_trace_context(self) -> Self {
        self.tune(|l| l.policy.strip_trace_context = true)
    }

    /// Concurrent shadow calls allowed (default 1024). Over it the copy is dropped and
    /// counted (`dropped_in_flight`), never queued. Freed slots are taken again at most
    /// `max` per smoothed answer time of the shadow, in bursts of up to `max / 8`, so a
    /// shadow answering in bursts does not get its copies in bursts (see the crate docs,
    /// "What the budget covers").
    #[must_use]
    pub fn max_in_flight(self, max: usize) -> Self {
        self.tune(|l| l.limits.max_in_flight = max)
    }

    /// Whether freed slots are taken again at a steady pace (default `true`): once the
    /// shadow has answered, at most `max_in_flight` copies are admitted per smoothed
    /// answer time, in bursts of up to `max_in_flight / 8`, and the copies over that count
    /// as `dropped_in_flight`. It keeps a shadow that answers in bursts from getting its
    /// copies in bursts (waves of timeouts and reconnections). Turn it off when every
    /// request of a traffic burst should be copied as long as a slot is free.
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// // A batch job's bursts: copy every request while slots are free.
    /// let layer = tower_mirror::MirrorLayer::new(shadow).max_in_flight(256).pacing(false);
    /// ```
    #[must_use]
    pub fn pacing(self, on: bool) -> Self {
        self.tune(|l| l.limits.paced = on)
    }

    /// Bytes held for copies at once, all requests together (default 64 MiB): each copy's
    /// head (its URI, and each header's name and value plus 128 bytes for its entry) from
    /// before it is cloned, and its body as it is buffered, until its shadow call ends. A
    /// copy that would go over it is dropped and counted (`dropped_bytes`); one whose head
    /// does not fit is dropped before anything is cloned. See the crate docs, "What the
    /// budget covers".
    #[must_use]
    pub fn max_buffered_bytes(self, max: usize) -> Self {
        self.tune(|l| l.limits.max_buffered_bytes = max)
    }

    /// Time allowed per shadow call, covering readiness, the call and draining the
    /// response body (default 5 s). Past it the call is dropped and counted `timed_out`.
    /// Needs the Tokio timer (as `#[tokio::main]` gives).
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.tune(|l| l.timeout = timeout)
    }

    /// Spreads the copies' timeouts below [`timeout`](Self::timeout): each copy gets its
    /// own, in `timeout × [1 − spread, 1]` (default 0.5: from half the timeout to all of
    /// it), so that copies sent in the same burst to a hung shadow do not all time out in
    /// the same instant and come back as a new burst. No call lasts longer than
    /// `timeout`; set it with room above the shadow's slowest normal answer, which may
    /// otherwise time out on the shorter draws. `0.0` gives every copy the whole timeout.
    /// The shares follow a fixed low-discrepancy sequence (the first copy gets the whole
    /// timeout), the same in every run; values outside `0.0..=1.0` are clamped, NaN
    /// counts as 0.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let shadow = tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// // Copies end between 1.5 s and 2 s at the latest.
    /// let layer = tower_mirror::MirrorLayer::new(shadow)
    ///     .timeout(Duration::from_secs(2))
    ///     .timeout_spread(0.25);
    /// ```
    #[must_use]
    pub fn timeout_spread(self, spread: f64) -> Self {
        self.tune(|l| l.limits.timeout_spread = spread)
    }

    /// Bytes of each shadow answer's body read and thrown away so its connection can be
    /// reused (default 64 KiB: a normal reply). An answer whose body goes on past them is
    /// cut there, connection and all, and the copy counts as `failed` (the circuit breaker
    /// counts it too): a shadow sending large or endless bodies costs the process at most
    /// this much per copy. Raise it when the shadow's normal replies are larger. In
    /// compare mode the allowance is at least the compare cap. What is read is counted in
    /// `shadow_body_bytes_drained`.
    #[must_use]
    pub fn max_shadow_body_bytes(self, max: usize) -> Self {
        self.tune(|l| l.limits.max_shadow_body_bytes = max)
    }

    /// Appends `suffix` to the copy's host, as Envoy does: `host:port` becomes
    /// `host<suffix>:port`, on the `Host` header if there is one, else on the URI
    /// authority.
    #[must_use]
    pub fn host_suffix(self, suffix: impl Into<String>) -> Self {
        let suffix = suffix.into();
        self.tune(|l| l.policy.host_suffix = Some(suffix))
    }

    /// Sets a header on the copy (replacing one of the same name). Repeatable.
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not a valid header name or value.
    #[must_use]
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        let name = header_name("header", name);
        let value = value
            .try_into()
            .unwrap_or_else(|e| panic!("MirrorLayer::header: invalid value for {name}: {e}"));
        self.tune(|l| l.policy.extra_headers.push((name, value)))
    }

    /// Removes a header from the copy only; the primary keeps it. Repeatable.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name.
    #[must_use]
    pub fn remove_header<K>(self, name: K) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
    {
        let name = header_name("remove_header", name);
        self.tune(|l| l.policy.remove_headers.push(name))
    }

    /// Removes the credentials a shadow should not see from the copy: `authorization`,
    /// `proxy-authorization` and `cookie`.
    #[must_use]
    pub fn strip_credentials(self) -> Self {
        self.remove_header(header::AUTHORIZATION)
            .remove_header(header::PROXY_AUTHORIZATION)
            .remove_header(header::COOKIE)
    }

    /// Rewrites the copy's head (never the primary's), after every other change.
    #[must_use]
    pub fn map_request<F>(self, map: F) -> Self
    where
        F: Fn(&mut Parts) + Send + Sync + 'static,
    {
        self.tune(|l| l.policy.map_request = Some(Arc::new(map)))
    }

    /// Turns on the circuit breaker (off by default): after `failures` failed or timed-out
    /// copies in a row, copies are dropped (`dropped_breaker`) instead of sent; after a
    /// back-off one copy is sent as a probe: its success closes the breaker, its failure
    /// doubles the back-off (starting at 1 s, up to `max_backoff`).
    #[must_use]
    pub fn circuit_breaker(self, failures: u32, max_backoff: Duration) -> Self {
        self.tune(|l| l.breaker = Some((failures, max_backoff)))
    }

    /// Calls `on_event` for each decision and each outcome (see [`MirrorEvent`]). It runs
    /// inline, on the request path for decisions: keep it cheap (count, don't log).
    #[must_use]
    pub fn on_event<F>(self, on_event: F) -> Self
    where
        F: Fn(&MirrorEvent) + Send + Sync + 'static,
    {
        self.tune(|l| l.on_event = Some(Arc::new(on_event)))
    }

    /// Seeds random sampling, for reproducible decisions in tests.
    #[must_use]
    pub fn seed(self, seed: u64) -> Self {
        self.tune(|l| l.seed = Some(seed))
    }

    /// This layer, joined to the family of `handle`'s layer: its counters, budget, share
    /// and pause switch (and so its watcher), for a stack rebuilt around the same mirror.
    #[allow(
        dead_code,
        reason = "used by istio::Router's reload, an optional feature"
    )]
    pub(crate) fn sharing(self, handle: &MirrorHandle) -> Self {
        let (counters, budget, sampling) = handle.shared();
        let (counters, budget, sampling) = (
            Arc::clone(counters),
            Arc::clone(budget),
            Arc::clone(sampling),
        );
        self.tune(|l| {
            l.counters = counters;
            l.budget = budget;
            l.policy.sampling = sampling;
        })
    }

    /// The counters of this layer family (for its watcher).
    #[allow(dead_code, reason = "used by the metrics feature, an optional one")]
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The budget of this layer family (for its watcher).
    #[allow(dead_code, reason = "used by the metrics feature, an optional one")]
    pub(crate) fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    fn copier(&self) -> Arc<ShadowCopier<M>>
    where
        M: Clone,
    {
        let build = || {
            self.warn_unsupported();
            let events = EventSink::new(self.on_event.clone());
            let breaker = self.breaker.map(|(failures, max_backoff)| {
                Breaker::new(failures, max_backoff).reporting_to(Arc::clone(&self.counters))
            });
            let rng = self
                .seed
                .map_or_else(SharedRng::from_entropy, SharedRng::new);
            Arc::new(ShadowCopier::new(
                self.shadow.clone(),
                self.policy.clone(),
                Admission::new(self.limits, breaker, Arc::clone(&self.budget)),
                Recorder::new(Arc::clone(&self.counters), events, self.timeout),
                rng,
                self.timeout,
            ))
        };
        Arc::clone(self.built.get_or_init(build))
    }
}

impl<M> MirrorLayer<StreamingShadow<M>> {
    /// Mirrors every request to `shadow`, a service of `Request<`[`CopyBody`]`>` (such as
    /// [`HttpUpstream`](crate::upstream::HttpUpstream)), which can take copies streamed as
    /// the primary reads them: copies over [`max_body_bytes`](Self::max_body_bytes) are
    /// streamed ([`Oversize::Stream`], this layer's default), so uploads of any size are
    /// mirrored with bounded memory; smaller ones are buffered and sent whole, as a
    /// `CopyBody` holding their bytes. With [`stream_bodies`](Self::stream_bodies) every
    /// copy with a body is streamed. The other knobs and defaults are those of
    /// [`new`](Self::new).
    ///
    /// Streamed copies are never slower than the primary: one whose shadow falls a
    /// [`stream_window`](Self::stream_window) behind is aborted (`failed`), never waited
    /// for. Raise [`timeout`](Self::timeout) for long uploads: it bounds the whole call,
    /// the streamed body included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceBuilder;
    /// use tower_mirror::MirrorLayer;
    /// use tower_mirror::upstream::HttpUpstream;
    /// # fn build<S>(primary: S) {
    /// let shadow: HttpUpstream = "http://127.0.0.1:9001".parse().unwrap();
    /// let layer = MirrorLayer::streaming(shadow)
    ///     .max_body_bytes(256 << 10) // smaller copies are buffered, larger ones streamed
    ///     .stream_window(64 << 10)
    ///     .timeout(Duration::from_secs(60));
    /// let svc = ServiceBuilder::new().layer(layer).service(primary);
    /// # let _ = svc;
    /// # }
    /// ```
    ///
    /// [`CopyBody`]: crate::CopyBody
    pub fn streaming(shadow: M) -> Self {
        let mut layer = MirrorLayer::new(StreamingShadow::new(shadow));
        layer.policy.streams = true;
        layer.policy.oversize = Oversize::Stream;
        layer
    }

    /// Streams every copy with a body, whatever its size, instead of buffering those
    /// under [`max_body_bytes`](Self::max_body_bytes): each is sent (`mirrored`,
    /// [`Dispatched`](MirrorEvent::Dispatched)) at `call` and its body follows as the
    /// primary reads it. The cap then no longer applies. A copy dropped with its body
    /// before its end is then `failed` rather than `skipped_body_incomplete`: it was sent.
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<tower_mirror::CopyBody>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let layer = tower_mirror::MirrorLayer::streaming(shadow).stream_bodies();
    /// ```
    #[must_use]
    pub fn stream_bodies(self) -> Self {
        self.tune(|l| l.policy.stream_bodies = true)
    }

    /// Bytes a streamed copy may have sent that its shadow has not yet taken (default 64
    /// KiB): the shadow's lag allowed before the copy is aborted (`failed`) rather than
    /// the primary slowed. Each streamed copy holds its window in
    /// [`max_buffered_bytes`](Self::max_buffered_bytes) from the moment its stream starts
    /// until its shadow call ends; one the budget cannot admit is dropped
    /// (`dropped_bytes`). A frame larger than the whole window passes when the window is
    /// empty (it is the primary's, shared, not copied). At least 1.
    ///
    /// ```
    /// # let shadow = tower::service_fn(|_: http::Request<tower_mirror::CopyBody>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// # });
    /// let layer = tower_mirror::MirrorLayer::streaming(shadow).stream_window(256 << 10);
    /// ```
    #[must_use]
    pub fn stream_window(self, bytes: usize) -> Self {
        self.tune(|l| l.policy.stream_window = bytes.max(1))
    }
}

impl<S, M: Clone> Layer<S> for MirrorLayer<M> {
    type Service = Mirror<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Mirror::new(inner, self.copier())
    }
}

fn header_name<K>(knob: &str, name: K) -> HeaderName
where
    K: TryInto<HeaderName>,
    K::Error: fmt::Display,
{
    name.try_into()
        .unwrap_or_else(|e| panic!("MirrorLayer::{knob}: invalid header name: {e}"))
}
