//! Building a [`Router`] from a [`Config`]: one stack per rule (weighted route, mirrors)
//! over the backends of each destination.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower::{BoxError, Layer, ServiceExt};

use super::backend::RouterBackend;
use super::error::BuildError;
use super::hosts::HostTable;
use super::service::{Router, Routes, RuleRoute};
use super::{RouterBody, RuleService, fault, headers, splits, timeout};
use crate::istio::config::Config;
use crate::istio::mirror_id::{MirrorId, MirrorInfo, named};
use crate::istio::reload::{Kept, Reloadable};
use crate::istio::rule::Rule;
use crate::mirror::{MirrorBody, MirrorLayer};
use crate::rng::SharedRng;
use crate::route::{Backends, Subset, WeightedRoute};

type Customize<S> =
    Arc<dyn Fn(&MirrorId, MirrorLayer<Subset<S>>) -> MirrorLayer<Subset<S>> + Send + Sync>;

impl Router {
    /// Starts building a router for `config`.
    pub fn builder<S>(config: &Config) -> RouterBuilder<'_, S> {
        RouterBuilder {
            config,
            backends: HashMap::new(),
            customize: None,
            seed: None,
            default_host: None,
            metrics: false,
        }
    }
}

/// Builds a [`Router`] from a [`Config`] and the backends of each destination.
///
/// ```
/// use tower_mirror::istio::{Config, Router};
/// use tower_mirror::route::{Backends, Labels};
/// use tower_mirror::upstream::HttpUpstream;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::from_yaml(include_str!("../../../examples/config/mirror-httpbin-v2.yaml"))?;
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
    default_host: Option<String>,
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
            .field("default_host", &self.default_host)
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

    /// Serves requests for hosts no rule names (and requests without a host) with the
    /// rules of the host `name` selects, as a request for `name` would be served.
    ///
    /// Without it, the default host is the only host when the rules name exactly one,
    /// and such requests get `404 Not Found` otherwise. [`build`](Self::build) fails
    /// with [`BuildError::UnknownDefaultHost`] when no rule serves `name`.
    ///
    /// ```
    /// use tower_mirror::istio::{Config, Router};
    /// use tower_mirror::route::{Backends, Labels};
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = Config::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: web}
    /// spec:
    ///   hosts: [web, api]
    ///   http:
    ///   - route: [{destination: {host: web}}]
    /// "#)?;
    /// let web = Backends::new("web")
    ///     .with(Labels::new(), "http://127.0.0.1:9001".parse::<HttpUpstream>()?);
    /// let router = Router::builder(&config)
    ///     .backends(web)
    ///     .default_host("web")
    ///     .build()?;
    /// # let _ = router;
    /// # Ok(())
    /// # }
    /// ```
    pub fn default_host(mut self, name: impl Into<String>) -> Self {
        self.default_host = Some(name.into());
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
            default_host,
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
                default_host: default_host.clone(),
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
        let mut hosts = HostTable::new(self.config.rules());
        if let Some(name) = &self.default_host {
            hosts.set_default(name)?;
        }
        Ok(Routes {
            rules,
            hosts,
            mirrors,
        })
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
        let layers = self.mirror_layers(index, rule, mirrors, kept)?;

        // Inside out, per split: its backends, the timeout, the mirrors (which copy the
        // request as the headers left it), the rule's and the destination's headers.
        let mut stacks = Vec::with_capacity(rule.splits.len());
        for (i, split) in rule.splits.iter().enumerate() {
            // `route` has one subset per split, in order.
            let Some(subset) = route.subset(i) else {
                continue;
            };
            let subset = ServiceExt::<Request<RouterBody>>::map_response(
                subset.clone(),
                |response: Response<RB>| {
                    response.map(|body| body.map_err(Into::into).boxed_unsync())
                },
            );
            let subset = ServiceExt::<Request<RouterBody>>::map_err(subset, Into::<BoxError>::into);
            let mut service = RuleService::new(subset);
            if let Some(limit) = rule.timeout {
                service = timeout::layer(service, limit);
            }
            for layer in &layers {
                // Each mirror wraps the one before: the inner service sees a `MirrorBody`,
                // boxed back so every level has the same request type.
                let inner = service.map_request(|req: Request<MirrorBody<RouterBody>>| {
                    req.map(|body| body.boxed_unsync())
                });
                service = RuleService::new(layer.layer(inner));
            }
            // As Istio configures Envoy: one destination's headers join the route's, after
            // them; among several, the chosen destination's come first (Envoy applies a
            // weighted cluster's headers before its route's).
            let order = if rule.splits.len() == 1 {
                [&rule.headers, &split.headers]
            } else {
                [&split.headers, &rule.headers]
            };
            stacks.push(headers::layer(service, &order));
        }

        // Then for the whole rule: the pick among splits, the faults.
        let mut service = splits::service(route, stacks);
        if let Some(fault) = &rule.fault {
            let rng = match self.seed {
                // Its own stream, apart from the route's and the mirrors'.
                Some(seed) => SharedRng::new(seed.wrapping_add(index) ^ 0xFA17_0000_0000_0000),
                None => SharedRng::from_entropy(),
            };
            service = fault::layer(service, fault, rng);
        }
        Ok(service)
    }

    /// One mirror layer per mirror target of `rule`, each reported in `mirrors`.
    fn mirror_layers(
        &self,
        index: u64,
        rule: &Rule,
        mirrors: &mut Vec<MirrorInfo>,
        kept: &mut Kept,
    ) -> Result<Vec<MirrorLayer<Subset<S>>>, BuildError>
    where
        S: Clone,
    {
        let mut layers = Vec::with_capacity(rule.mirrors.len());
        for (j, target) in rule.mirrors.iter().enumerate() {
            let shadow = self
                .destination(rule, &target.destination)?
                .select(&target.labels)
                .map_err(|source| BuildError::Route {
                    rule: rule.name.clone(),
                    source,
                })?;
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
            layers.push(layer);
        }
        Ok(layers)
    }
}
