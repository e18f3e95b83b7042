//! What serves requests: the primary with its shadows, or a router built from Istio rules
//! and an endpoints file. Built at start and again, whole, on each reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, ServiceExt};
use tower_mirror::istio::{Endpoints, Router};
use tower_mirror::route::Backends;
use tower_mirror::{MirrorBody, MirrorHandle, MirrorLayer, Oversize, StreamingShadow};

use crate::cli::{Args, OversizeFlag};
use crate::decision;
use crate::rule_files::{RuleSummary, read_endpoints, read_rules, shown};
use crate::upstreams::{Backend, UpstreamSettings};

/// The one body type of every request and response inside the proxy.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
/// Whatever serves requests, boxed to one type.
pub(crate) type RouteService =
    BoxCloneSyncService<Request<ProxyBody>, Response<ProxyBody>, BoxError>;

/// A circuit breaker opens after this many failed copies in a row...
const BREAKER_FAILURES: u32 = 5;
/// ...and probes again after a back-off doubling up to this.
const BREAKER_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The service in force, its mirrors and where it came from.
#[derive(Debug)]
pub(crate) struct Routing {
    pub(crate) service: RouteService,
    /// With --rules: the router (whose rules a reload can replace in place) and the
    /// endpoints text it was built from.
    router: Option<(Router, String)>,
    /// `--primary`, when requests go to one.
    pub(crate) primary: Option<String>,
    /// Every mirror, in the order they see requests.
    pub(crate) mirrors: Vec<MirrorEntry>,
    /// The rules in force, in match order (empty without --rules).
    pub(crate) rules: Vec<RuleSummary>,
    pub(crate) loaded_at: SystemTime,
}

/// One mirror: what it copies to, and its handle.
#[derive(Clone, Debug)]
pub(crate) struct MirrorEntry {
    /// `<shadow URL>`, or `<rule>-><destination>{<labels>}` with --rules.
    pub(crate) name: String,
    pub(crate) handle: MirrorHandle,
    /// Whether compare mode is on for it.
    #[cfg_attr(
        not(feature = "compare"),
        allow(dead_code, reason = "read for the compare report")
    )]
    pub(crate) compare: bool,
}

/// Everything a [`Routing`] is built from: kept to build it again on reload.
#[derive(Clone, Debug)]
pub(crate) struct RoutingSettings {
    upstreams: UpstreamSettings,
    source: Source,
    mirror: MirrorSettings,
}

#[derive(Clone, Debug)]
enum Source {
    Direct {
        primary: String,
        shadows: Vec<String>,
        percent: f64,
        compare: bool,
    },
    Rules {
        rules: Vec<PathBuf>,
        endpoints: PathBuf,
        default_host: Option<String>,
    },
}

/// The flags every mirror layer is configured with.
#[derive(Clone, Copy, Debug)]
struct MirrorSettings {
    timeout: Duration,
    max_body_bytes: usize,
    /// `--oversize`; `stream` builds streaming layers (direct mode only).
    oversize: OversizeFlag,
    stream_window: usize,
    max_in_flight: usize,
    circuit_breaker: bool,
    access_log: bool,
    /// Whether a metrics recorder is installed (with --admin, feature `metrics`).
    #[cfg_attr(
        not(feature = "metrics"),
        allow(dead_code, reason = "read to record metrics")
    )]
    metrics: bool,
}

impl MirrorSettings {
    /// Configures the mirror called `name`.
    fn apply<S>(self, name: &str, layer: MirrorLayer<S>) -> MirrorLayer<S> {
        let mut layer = layer
            .timeout(self.timeout)
            .max_body_bytes(self.max_body_bytes)
            .max_in_flight(self.max_in_flight);
        match self.oversize {
            OversizeFlag::Skip => layer = layer.on_oversize(Oversize::Skip),
            OversizeFlag::HeadersOnly => layer = layer.on_oversize(Oversize::HeadersOnly),
            // Only streaming layers are built with it (see `direct`).
            OversizeFlag::Stream => {}
        }
        if self.circuit_breaker {
            layer = layer.circuit_breaker(BREAKER_FAILURES, BREAKER_MAX_BACKOFF);
        }
        if self.access_log {
            let name: Arc<str> = Arc::from(name);
            layer = layer.on_event(move |event| decision::record(&name, event));
        }
        #[cfg(feature = "metrics")]
        if self.metrics {
            layer = layer.metrics(name);
        }
        layer
    }
}

impl RoutingSettings {
    /// `metrics`: whether a metrics recorder is installed, for the mirrors to record to.
    pub(crate) fn from_args(args: &Args, metrics: bool) -> Result<Self, String> {
        let source = match &args.primary {
            Some(primary) => Source::Direct {
                primary: primary.clone(),
                shadows: args.shadow.clone(),
                percent: args.percent.unwrap_or(100.0),
                compare: args.compare,
            },
            // clap requires --primary or --rules, and --endpoints with --rules.
            None => Source::Rules {
                rules: args.rules.clone(),
                endpoints: args.endpoints.clone().unwrap_or_default(),
                default_host: args.default_host.clone(),
            },
        };
        if args.oversize == OversizeFlag::Stream {
            // Streaming takes a shadow built for it: the router's mirrors take whole bodies.
            if args.primary.is_none() {
                return Err("--oversize stream works with --primary and --shadow, \
                            not with --rules"
                    .into());
            }
        }
        if args.compare && cfg!(not(feature = "compare")) {
            return Err("--compare needs the `compare` feature \
                        (cargo install tower-mirror-proxy --features compare)"
                .into());
        }
        Ok(Self {
            upstreams: UpstreamSettings::from_args(args)?,
            source,
            mirror: MirrorSettings {
                timeout: args.timeout,
                max_body_bytes: args.max_body_bytes,
                oversize: args.oversize,
                stream_window: args.stream_window,
                max_in_flight: args.max_in_flight,
                circuit_breaker: !args.no_circuit_breaker,
                access_log: args.access_log,
                metrics,
            },
        })
    }

    /// The files a reload reads again (none without --rules).
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        match &self.source {
            Source::Direct { .. } => Vec::new(),
            Source::Rules {
                rules, endpoints, ..
            } => rules.iter().chain([endpoints]).cloned().collect(),
        }
    }

    /// Builds the routing again from its files, for a reload. When the endpoints are as
    /// they were, the router in force takes the new rules in place, so that mirrors that
    /// stay keep their counters and controls; otherwise (or without --rules) a new routing
    /// is built whole.
    pub(crate) fn reload(&self, current: &Routing) -> Result<Routing, String> {
        let Source::Rules {
            rules, endpoints, ..
        } = &self.source
        else {
            return self.build();
        };
        let Some((router, built_from)) = &current.router else {
            return self.build();
        };
        if read_endpoints(endpoints)? != *built_from {
            return self.build();
        }
        let config = read_rules(rules)?;
        router
            .reload(&config)
            .map_err(|e| format!("{e} (--rules {})", shown(rules)))?;
        Ok(Routing {
            service: current.service.clone(),
            router: current.router.clone(),
            primary: None,
            mirrors: mirror_entries(router),
            rules: config.rules().iter().map(RuleSummary::new).collect(),
            loaded_at: SystemTime::now(),
        })
    }

    /// Builds the routing; the error names the flag or the file, line and column at fault.
    pub(crate) fn build(&self) -> Result<Routing, String> {
        match &self.source {
            Source::Direct {
                primary,
                shadows,
                percent,
                compare,
            } => self.direct(primary, shadows, *percent, *compare),
            Source::Rules {
                rules,
                endpoints,
                default_host,
            } => self.rules(rules, endpoints, default_host.as_deref()),
        }
    }

    fn direct(
        &self,
        primary: &str,
        shadows: &[String],
        percent: f64,
        compare: bool,
    ) -> Result<Routing, String> {
        let mut service = boxed(self.upstreams.backend("--primary", primary)?);
        let mut mirrors = Vec::new();
        // The first --shadow ends up outermost, so it sees each request first.
        for url in shadows.iter().rev() {
            let shadow = self.upstreams.shadow_backend(url)?;
            let inner = service.map_request(|req: Request<MirrorBody<ProxyBody>>| {
                req.map(|body| body.boxed_unsync())
            });
            let handle;
            if self.mirror.oversize == OversizeFlag::Stream {
                let layer = MirrorLayer::streaming(shadow)
                    .stream_window(self.mirror.stream_window)
                    .sample_percent(percent);
                let layer = self.mirror.apply(url, layer);
                handle = layer.handle();
                service = if compare {
                    compared_streaming(layer, inner)
                } else {
                    boxed(layer.layer(inner))
                };
            } else {
                let layer = self
                    .mirror
                    .apply(url, MirrorLayer::new(shadow).sample_percent(percent));
                handle = layer.handle();
                service = if compare {
                    compared(layer, inner)
                } else {
                    boxed(layer.layer(inner))
                };
            }
            mirrors.push(MirrorEntry {
                name: url.clone(),
                handle,
                compare,
            });
        }
        mirrors.reverse();
        Ok(Routing {
            service,
            router: None,
            primary: Some(primary.to_owned()),
            mirrors,
            rules: Vec::new(),
            loaded_at: SystemTime::now(),
        })
    }

    fn rules(
        &self,
        rules: &[PathBuf],
        endpoints: &Path,
        default_host: Option<&str>,
    ) -> Result<Routing, String> {
        let config = read_rules(rules)?;
        for warning in config.warnings() {
            // Each names its file.
            tracing::warn!("{warning}");
        }
        let text = std::fs::read_to_string(endpoints)
            .map_err(|e| format!("--endpoints {}: cannot read it: {e}", endpoints.display()))?;
        let instances =
            Endpoints::from_yaml(&text).map_err(|e| format!("{}: {e}", endpoints.display()))?;

        let mut builder = Router::builder(&config);
        for (destination, endpoints) in instances.iter() {
            let mut backends = Backends::new(destination);
            for (i, endpoint) in endpoints.iter().enumerate() {
                let what = format!("{destination}[{i}].url");
                let backend = self.upstreams.backend(&what, endpoint.upstream.base())?;
                backends = backends.with(endpoint.labels.clone(), backend);
            }
            builder = builder.backends(backends);
        }
        if let Some(host) = default_host {
            builder = builder.default_host(host);
        }
        let settings = self.mirror;
        let router = builder
            .configure_each_mirror(move |id, layer| settings.apply(&id.to_string(), layer))
            .build()
            .map_err(|e| format!("{e} (--rules {})", shown(rules)))?;
        Ok(Routing {
            service: boxed(router.clone()),
            mirrors: mirror_entries(&router),
            router: Some((router, text)),
            primary: None,
            rules: config.rules().iter().map(RuleSummary::new).collect(),
            loaded_at: SystemTime::now(),
        })
    }
}

/// The router's mirrors, as the proxy lists them.
fn mirror_entries(router: &Router) -> Vec<MirrorEntry> {
    router
        .mirrors()
        .into_iter()
        .map(|m| MirrorEntry {
            name: m.name,
            handle: m.handle,
            compare: false,
        })
        .collect()
}

/// Boxes a service's response body and error.
fn boxed<S, B>(service: S) -> RouteService
where
    S: tower::Service<Request<ProxyBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        service
            .map_response(|res: Response<B>| {
                res.map(|body| body.map_err(Into::into).boxed_unsync())
            })
            .map_err(Into::into),
    )
}

#[cfg(feature = "compare")]
fn compared<S>(layer: MirrorLayer<Backend>, inner: S) -> RouteService
where
    S: tower::Service<
            Request<MirrorBody<ProxyBody>>,
            Response = Response<ProxyBody>,
            Error = BoxError,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    use tower_mirror::compare::CompareConfig;
    boxed(layer.compare(CompareConfig::new()).layer(inner))
}

#[cfg(not(feature = "compare"))]
fn compared<S>(layer: MirrorLayer<Backend>, inner: S) -> RouteService
where
    S: tower::Service<
            Request<MirrorBody<ProxyBody>>,
            Response = Response<ProxyBody>,
            Error = BoxError,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    // --compare without the feature is refused when the flags are read.
    boxed(layer.layer(inner))
}

/// Compare mode on a streaming mirror: its whole copies are compared, its streamed ones
/// counted as not compared.
#[cfg(feature = "compare")]
fn compared_streaming<S>(layer: MirrorLayer<StreamingShadow<Backend>>, inner: S) -> RouteService
where
    S: tower::Service<
            Request<MirrorBody<ProxyBody>>,
            Response = Response<ProxyBody>,
            Error = BoxError,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    use tower_mirror::compare::CompareConfig;
    boxed(layer.compare(CompareConfig::new()).layer(inner))
}

#[cfg(not(feature = "compare"))]
fn compared_streaming<S>(layer: MirrorLayer<StreamingShadow<Backend>>, inner: S) -> RouteService
where
    S: tower::Service<
            Request<MirrorBody<ProxyBody>>,
            Response = Response<ProxyBody>,
            Error = BoxError,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    // --compare without the feature is refused when the flags are read.
    boxed(layer.layer(inner))
}
