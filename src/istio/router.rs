//! Building one Tower service from a [`Config`]: match, weighted route, mirrors.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, Service, ServiceExt};

use super::config::{Config, Rule};
use super::mirror_id::{MirrorId, MirrorInfo, named};
use super::reload::{Kept, Mirrored, Reloadable};
use crate::mirror::{MirrorBody, MirrorLayer};
use crate::route::{Backends, RouteError, Subset, WeightedRoute};

/// The request and response body of a [`Router`]: any body, boxed once at the edge.
pub type RouterBody = UnsyncBoxBody<Bytes, BoxError>;

type RuleService = BoxCloneSyncService<Request<RouterBody>, Response<RouterBody>, BoxError>;

/// A rule and the stack that serves the requests it matches.
struct RuleRoute {
    rule: Rule,
    service: RuleService,
}

/// The rules in force and their mirrors, swapped whole by a reload.
struct Routes {
    rules: Vec<RuleRoute>,
    mirrors: Vec<MirrorInfo>,
}

impl Mirrored for Routes {
    fn mirrors(&self) -> &[MirrorInfo] {
        &self.mirrors
    }
}
type Customize<S> =
    Arc<dyn Fn(&MirrorId, MirrorLayer<Subset<S>>) -> MirrorLayer<Subset<S>> + Send + Sync>;

/// Why a [`Config`] could not be built into a [`Router`].
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A rule routes or mirrors to a destination no [`Backends`] were given for.
    UnknownDestination {
        /// The rule's name.
        rule: String,
        /// The destination, as written in the rule.
        destination: String,
    },
    /// A rule's split or mirror selects no backend, or its weights are unusable.
    Route {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        source: RouteError,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownDestination { rule, destination } => write!(
                f,
                "rule `{rule}`: no backends for destination `{destination}`; \
                 add `Backends::new(\"{destination}\")` to the router builder"
            ),
            Self::Route { rule, source } => write!(f, "rule `{rule}`: {source}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Route { source, .. } => Some(source),
            Self::UnknownDestination { .. } => None,
        }
    }
}

/// What a [`Router`] needs of a backend: it serves routed requests as a primary
/// (`Request<RouterBody>`) and copies as a shadow (`Request<Full<Bytes>>`), both answered
/// with a response body `RB`. Implemented for every such service, as
/// [`HttpUpstream`](crate::upstream::HttpUpstream) is.
pub trait RouterBackend<RB>:
    Service<Request<RouterBody>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
    + Service<Request<Full<Bytes>>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S, RB> RouterBackend<RB> for S where
    S: Service<Request<RouterBody>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
        + Service<Request<Full<Bytes>>, Response = Response<RB>, Error: Into<BoxError>, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Builds a [`Router`] from a [`Config`] and the backends of each destination.
///
/// ```
/// use tower_mirror::istio::{Config, Router};
/// use tower_mirror::route::{Backends, Labels};
/// use tower_mirror::upstream::HttpUpstream;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::from_yaml(include_str!("../../examples/config/mirror-httpbin-v2.yaml"))?;
/// let httpbin = Backends::new("httpbin")
///     .with(Labels::from([("version", "v1")]), "http://127.0.0.1:9001".parse::<HttpUpstream>()?)
///     .with(Labels::from([("version", "v2")]), "http://127.0.0.1:9002".parse::<HttpUpstream>()?);
/// let router = Router::builder(&config)
///     .backends(httpbin)
///     .configure_mirrors(|layer| layer.timeout(std::time::Duration::from_secs(2)))
///     .build()?;
/// assert_eq!(router.mirrors()[0].rule, "mirror-traffic-to-httbin-v2");
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct RouterBuilder<'a, S> {
    config: &'a Config,
    backends: HashMap<String, Backends<S>>,
    customize: Option<Customize<S>>,
    seed: Option<u64>,
    metrics: bool,
}

impl<S> fmt::Debug for RouterBuilder<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut destinations: Vec<_> = self.backends.keys().collect();
        destinations.sort();
        f.debug_struct("RouterBuilder")
            .field("rules", &self.config.rules().len())
            .field("destinations", &destinations)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<'a, S> RouterBuilder<'a, S> {
    /// The backends of one destination (replacing any given before for it).
    pub fn backends(mut self, backends: Backends<S>) -> Self {
        self.backends
            .insert(backends.destination().to_owned(), backends);
        self
    }

    /// Tunes every mirror layer (timeout, limits, circuit breaker, redaction, events);
    /// the rule's percentage is already set. Replaces
    /// [`configure_each_mirror`](Self::configure_each_mirror).
    pub fn configure_mirrors<F>(mut self, customize: F) -> Self
    where
        F: Fn(MirrorLayer<Subset<S>>) -> MirrorLayer<Subset<S>> + Send + Sync + 'static,
    {
        self.customize = Some(Arc::new(move |_: &MirrorId, layer| customize(layer)));
        self
    }

    /// Tunes every mirror layer, told which mirror it is (rule, destination, labels), for
    /// example to label its events as the metrics label their series; the rule's
    /// percentage is already set. Replaces [`configure_mirrors`](Self::configure_mirrors).
    ///
    /// ```
    /// # use tower_mirror::istio::{Config, MirrorId, Router};
    /// # fn builder<S>(router: tower_mirror::istio::RouterBuilder<'_, S>) -> tower_mirror::istio::RouterBuilder<'_, S> {
    /// router.configure_each_mirror(|id: &MirrorId, layer| {
    ///     let mirror = id.to_string(); // `<rule>-><destination>{<labels>}`
    ///     layer.on_event(move |event| tracing::debug!(%mirror, ?event, "mirror event"))
    /// })
    /// # }
    /// ```
    pub fn configure_each_mirror<F>(mut self, customize: F) -> Self
    where
        F: Fn(&MirrorId, MirrorLayer<Subset<S>>) -> MirrorLayer<Subset<S>> + Send + Sync + 'static,
    {
        self.customize = Some(Arc::new(customize));
        self
    }

    /// Records every mirror's metrics (feature `metrics`, see
    /// [`MirrorLayer::metrics`]) under its name, `<rule>-><destination>{<labels>}`, after
    /// `configure_mirrors` (a name set there is kept).
    ///
    /// ```
    /// # fn builder<S>(router: tower_mirror::istio::RouterBuilder<'_, S>) -> tower_mirror::istio::RouterBuilder<'_, S> {
    /// // tower_mirror_copies_total{mirror="mirror-traffic-to-httbin-v2->httpbin{version=v2}",...}
    /// router.metrics()
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Seeds the weighted picks (each rule gets `seed + its index`) and the mirrors'
    /// sampling, for reproducible tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the router: each rule becomes a weighted route over its destination's
    /// backends, wrapped in one mirror layer per mirror target.
    pub fn build<RB>(self) -> Result<Router, BuildError>
    where
        S: RouterBackend<RB>,
        RB: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
    {
        let routes = self.routes(&mut Kept::new())?;
        let Self {
            backends,
            customize,
            seed,
            metrics,
            ..
        } = self;
        // A reload builds as this builder did, from the same backends and settings.
        let rebuild = move |config: &Config, kept: &mut Kept| {
            let builder = RouterBuilder {
                config,
                backends: backends.clone(),
                customize: customize.clone(),
                seed,
                metrics,
            };
            builder.routes(kept)
        };
        Ok(Router {
            routes: Arc::new(Reloadable::new(routes, Box::new(rebuild))),
        })
    }

    fn routes<RB>(&self, kept: &mut Kept) -> Result<Routes, BuildError>
    where
        S: RouterBackend<RB>,
        RB: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
    {
        let mut rules = Vec::new();
        let mut mirrors = Vec::new();
        for (index, rule) in self.config.rules().iter().enumerate() {
            let service = self.rule_service(index as u64, rule, &mut mirrors, kept)?;
            rules.push(RuleRoute {
                rule: rule.clone(),
                service,
            });
        }
        Ok(Routes { rules, mirrors })
    }

    fn destination(&self, rule: &Rule, destination: &str) -> Result<&Backends<S>, BuildError> {
        self.backends
            .get(destination)
            .ok_or_else(|| BuildError::UnknownDestination {
                rule: rule.name.clone(),
                destination: destination.to_owned(),
            })
    }

    fn rule_service<RB>(
        &self,
        index: u64,
        rule: &Rule,
        mirrors: &mut Vec<MirrorInfo>,
        kept: &mut Kept,
    ) -> Result<RuleService, BuildError>
    where
        S: RouterBackend<RB>,
        RB: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
    {
        let route_error = |source| BuildError::Route {
            rule: rule.name.clone(),
            source,
        };
        let backends = self.destination(rule, &rule.destination)?;
        let mut route = WeightedRoute::builder();
        for split in &rule.splits {
            route = route.split(split.labels.clone(), split.weight);
        }
        if let Some(seed) = self.seed {
            route = route.seed(seed.wrapping_add(index));
        }
        let route = route.build(backends).map_err(route_error)?;
        let route =
            ServiceExt::<Request<RouterBody>>::map_response(route, |response: Response<RB>| {
                response.map(|body| body.map_err(Into::into).boxed_unsync())
            });
        let route = ServiceExt::<Request<RouterBody>>::map_err(route, Into::<BoxError>::into);
        let mut service = RuleService::new(route);
        for (j, target) in rule.mirrors.iter().enumerate() {
            let shadow = self
                .destination(rule, &target.destination)?
                .select(&target.labels)
                .map_err(route_error)?;
            let id = MirrorId::new(&rule.name, target);
            let mut layer = MirrorLayer::new(shadow);
            if let Some(handle) = kept.remove(&id) {
                // Reloaded: the same mirror keeps its counters, share and pause switch.
                layer = layer.sharing(&handle);
            }
            let mut layer = layer.sample_percent(target.percent);
            if let Some(seed) = self.seed {
                // Its own stream per mirror: equal seeds would make each mirror sample
                // exactly the requests the route sent to one split.
                layer = layer.seed(seed.wrapping_add(index).wrapping_add((j as u64 + 1) << 32));
            }
            if let Some(customize) = &self.customize {
                layer = customize(&id, layer);
            }
            if self.metrics {
                layer = named(layer, &id);
            }
            mirrors.push(MirrorInfo::new(id, target.percent, layer.handle()));
            // Each mirror wraps the one before: the inner service sees a `MirrorBody`,
            // boxed back so every level has the same request type.
            let inner = service.map_request(|req: Request<MirrorBody<RouterBody>>| {
                req.map(|body| body.boxed_unsync())
            });
            service = RuleService::new(layer.layer(inner));
        }
        Ok(service)
    }
}

/// A Tower service built from Istio rules: each request goes to the first rule that matches
/// it (in [`Config::rules`] order), which routes it by weight across label subsets of its
/// destination and copies it to each of its mirrors.
///
/// Requests no rule matches get `404 Not Found`. The `Host` header does not select rules
/// (a router serves one virtual host): all rules are tried in order.
///
/// Backends must serve both `Request<RouterBody>` (as primaries) and
/// `Request<Full<Bytes>>` (as shadows), as [`HttpUpstream`](crate::upstream::HttpUpstream)
/// does.
///
/// [`reload`](Self::reload) changes the rules of the router and all its clones while it
/// serves.
#[derive(Clone)]
pub struct Router {
    routes: Arc<Reloadable<Routes, BuildError>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes = self.routes.load();
        f.debug_struct("Router")
            .field(
                "rules",
                &routes
                    .rules
                    .iter()
                    .map(|route| &route.rule.name)
                    .collect::<Vec<_>>(),
            )
            .field("mirrors", &routes.mirrors)
            .finish()
    }
}

impl Router {
    /// Starts building a router for `config`.
    pub fn builder<S>(config: &Config) -> RouterBuilder<'_, S> {
        RouterBuilder {
            config,
            backends: HashMap::new(),
            customize: None,
            seed: None,
            metrics: false,
        }
    }

    /// Every mirror of every rule in force, in rule order, with its handle. Owned: a
    /// [`reload`](Self::reload) may replace them while you hold the list.
    pub fn mirrors(&self) -> Vec<MirrorInfo> {
        self.routes.load().mirrors.clone()
    }

    /// Puts `config`'s rules in force, for this router and all its clones, in one atomic
    /// swap; or, when they cannot be built, returns the error and changes nothing.
    ///
    /// - Requests already routed (their backend called) finish on the rules they found;
    ///   every later request sees the new ones.
    /// - A mirror of the same identity (rule, destination, labels: see [`MirrorId`])
    ///   keeps its [`MirrorHandle`](crate::MirrorHandle): its counters, metrics, budget and pause switch carry
    ///   on, and it takes the new config's percentage. Its circuit breaker starts closed.
    /// - The backends and the settings given to the [`RouterBuilder`] (`configure_mirrors`,
    ///   `seed`, `metrics`) apply to the new rules as they did to the first ones.
    ///
    /// ```
    /// # use tower_mirror::istio::{Config, Router};
    /// # fn reload(router: &Router, yaml: &str) {
    /// match Config::from_yaml(yaml).map_err(|e| e.to_string())
    ///     .and_then(|config| router.reload(&config).map_err(|e| e.to_string()))
    /// {
    ///     Ok(()) => println!("reloaded: {} mirrors", router.mirrors().len()),
    ///     Err(error) => eprintln!("reload refused: {error}; keeping the previous config"),
    /// }
    /// # }
    /// ```
    pub fn reload(&self, config: &Config) -> Result<(), BuildError> {
        self.routes.reload(config)
    }

    /// Waits until every mirror of every rule in force is idle (see
    /// [`MirrorHandle::wait_idle`](crate::MirrorHandle::wait_idle)).
    pub async fn wait_idle(&self) {
        for mirror in self.mirrors() {
            mirror.handle.wait_idle().await;
        }
    }
}

/// Response future of [`Router`].
pub type RouterFuture =
    Pin<Box<dyn Future<Output = Result<Response<RouterBody>, BoxError>> + Send + 'static>>;

impl<B> Service<Request<B>> for Router
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<RouterBody>;
    type Error = BoxError;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call drives its rule's stack with `oneshot`: nothing to wait for here.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let routes = self.routes.load();
        let Some(RuleRoute { rule, service }) =
            routes.rules.iter().find(|route| route.rule.matches(&parts))
        else {
            tracing::debug!(target: "tower_mirror", path = parts.uri.path(), "no rule matches");
            return Box::pin(std::future::ready(Ok(not_found())));
        };
        tracing::trace!(target: "tower_mirror", rule = %rule.name, "rule matched");
        let req = Request::from_parts(parts, body.map_err(Into::into).boxed_unsync());
        // The stack is cloned out: the request finishes on these rules whatever a reload
        // puts in force meanwhile.
        Box::pin(service.clone().oneshot(req))
    }
}

fn not_found() -> Response<RouterBody> {
    let body = Full::from("no rule matches this request\n")
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
