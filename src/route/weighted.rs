use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, Request};
use tower_service::Service;

use super::{Backends, Labels, ResponseFuture, RouteError, Subset};
use crate::rng::{SharedRng, fnv1a64};

/// Sends each request to one of several label subsets of a destination, by weight: Istio's
/// `route: [{labels, weight}]`.
///
/// Split `i` is picked with probability `w_i / sum(w)`; a split of weight 0 is never
/// picked. Within the picked split, calls go round robin over its instances (see
/// [`Subset`]). With [`sticky_by_header`](WeightedRouteBuilder::sticky_by_header), requests
/// carrying the same header value always pick the same split.
///
/// Clones are cheap and share the random source and the round-robin positions, so with
/// [`seed`](WeightedRouteBuilder::seed) the sequence of picks over all clones is
/// reproducible. Like [`Subset`], `poll_ready` is always ready and each call drives a clone
/// of the chosen instance with `oneshot`: a backend that is not ready never holds up
/// requests routed elsewhere.
///
/// Each call emits a `debug` event `routed` (target `tower_mirror`) with the split's labels.
///
/// ```
/// use http::{Request, Response};
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_mirror::route::{Backends, Labels, WeightedRoute};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let version = |name: &'static str| {
///     service_fn(move |_req: Request<String>| async move {
///         Ok::<_, std::convert::Infallible>(Response::new(name))
///     })
/// };
/// let backends = Backends::new("httpbin")
///     .with(Labels::from([("version", "v1")]), version("v1"))
///     .with(Labels::from([("version", "v2")]), version("v2"));
/// let mut route = WeightedRoute::builder()
///     .split(Labels::from([("version", "v1")]), 100)
///     .split(Labels::from([("version", "v2")]), 0)
///     .seed(7)
///     .build(&backends)?;
///
/// let res = ServiceExt::<Request<String>>::ready(&mut route)
///     .await?
///     .call(Request::new(String::new()))
///     .await?;
/// assert_eq!(*res.body(), "v1");
/// # Ok(())
/// # }
/// ```
pub struct WeightedRoute<S> {
    table: Arc<SplitTable<S>>,
}

/// A route's splits, their total weight and how one is picked; shared by every clone.
struct SplitTable<S> {
    destination: String,
    splits: Box<[Split<S>]>,
    /// Sum of the weights; above 0 (checked at build).
    total: u32,
    sticky: Option<HeaderName>,
    rng: SharedRng,
}

struct Split<S> {
    weight: u32,
    /// Sum of the weights up to and including this split: the split owns the points
    /// `end - weight .. end` of `0..total`, so weight 0 owns none.
    end: u32,
    subset: Subset<S>,
}

impl<S> WeightedRoute<S> {
    /// Starts a route; add splits, then [`build`](WeightedRouteBuilder::build) it against
    /// the destination's [`Backends`].
    pub fn builder() -> WeightedRouteBuilder<S> {
        WeightedRouteBuilder::default()
    }

    /// The destination the splits select from.
    pub fn destination(&self) -> &str {
        &self.table.destination
    }

    /// The splits' selectors and weights, in the order they were added.
    pub fn splits(&self) -> impl ExactSizeIterator<Item = (&Labels, u32)> {
        self.table
            .splits
            .iter()
            .map(|split| (split.subset.labels(), split.weight))
    }

    /// The instances behind the split at `index` (in the order splits were added).
    pub fn subset(&self, index: usize) -> Option<&Subset<S>> {
        self.table.splits.get(index).map(|split| &split.subset)
    }

    /// Picks a split for a request with these headers, as [`call`](Service::call) does, and
    /// returns its index (in the order splits were added). Sends nothing.
    ///
    /// With a sticky header present, the pick is `FNV-1a 64(value) % sum(weights)` walked
    /// over the cumulative weights, so every instance of every version agrees on it;
    /// otherwise it is a weighted random pick that advances the shared random source.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tower_mirror::route::{Backends, Labels, WeightedRoute};
    ///
    /// let backends = Backends::new("httpbin")
    ///     .with(Labels::from([("version", "v1")]), ())
    ///     .with(Labels::from([("version", "v2")]), ());
    /// let route = WeightedRoute::builder()
    ///     .split(Labels::from([("version", "v1")]), 70)
    ///     .split(Labels::from([("version", "v2")]), 30)
    ///     .sticky_by_header("x-user")
    ///     .build(&backends)
    ///     .unwrap();
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-user", "alice".parse().unwrap());
    /// let first = route.pick(&headers);
    /// assert!((0..100).all(|_| route.pick(&headers) == first));
    /// ```
    pub fn pick(&self, headers: &HeaderMap) -> usize {
        let table = &*self.table;
        let total = u64::from(table.total);
        let point = match table.sticky.as_ref().and_then(|name| headers.get(name)) {
            Some(value) => fnv1a64(value.as_bytes()) % total,
            None => table.rng.below(total),
        };
        // The first split whose range ends after the point; the last one ends at `total`,
        // which is above any point, so the index is always in range.
        table
            .splits
            .partition_point(|split| u64::from(split.end) <= point)
    }
}

impl<S> Clone for WeightedRoute<S> {
    fn clone(&self) -> Self {
        Self {
            table: Arc::clone(&self.table),
        }
    }
}

impl<S> fmt::Debug for WeightedRoute<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let splits: Vec<_> = self.splits().collect();
        f.debug_struct("WeightedRoute")
            .field("destination", &self.table.destination)
            .field("splits", &splits)
            .field("sticky", &self.table.sticky)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for WeightedRoute<S>
where
    S: Service<Request<B>> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<B>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is checked per call on the chosen instance (see the type docs).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let index = self.pick(req.headers());
        let subset = &self.table.splits[index].subset;
        tracing::debug!(
            target: "tower_mirror",
            destination = %self.table.destination,
            labels = %subset.labels(),
            "routed"
        );
        subset.dispatch(req)
    }
}

/// Configures a [`WeightedRoute`]; made by [`WeightedRoute::builder`].
pub struct WeightedRouteBuilder<S> {
    splits: Vec<(Labels, u32)>,
    seed: Option<u64>,
    sticky: Option<String>,
    // fn() -> S: the builder holds no `S`, so it is Send + Sync whatever `S` is.
    _service: PhantomData<fn() -> S>,
}

impl<S> WeightedRouteBuilder<S> {
    /// Adds a split: the backends matching `labels`, picked with weight `weight`.
    ///
    /// Weights are relative (`70` and `30`, or `7` and `3`, split alike); a split of weight
    /// 0 is never picked but its backends must still exist.
    #[must_use]
    pub fn split(mut self, labels: Labels, weight: u32) -> Self {
        self.splits.push((labels, weight));
        self
    }

    /// Seeds the random picks so that the sequence of picks (over all clones) is
    /// reproducible. Without it, the seed differs per process.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Picks the split from the value of header `name` when a request has it, so a user or
    /// session stays on one version. The split is `FNV-1a 64(value) % sum(weights)` walked
    /// over the cumulative weights in split order: stable across clones, instances,
    /// processes and versions of this crate. Requests without the header get the weighted
    /// random pick.
    ///
    /// An invalid header name is reported by [`build`](Self::build).
    #[must_use]
    pub fn sticky_by_header(mut self, name: impl AsRef<str>) -> Self {
        self.sticky = Some(name.as_ref().to_owned());
        self
    }

    /// Resolves every split to its [`Subset`] of `backends`.
    ///
    /// # Errors
    ///
    /// [`RouteError::NoSplits`] without splits, [`RouteError::WeightOverflow`] when the
    /// weights add up to more than `u32::MAX`, [`RouteError::AllWeightsZero`],
    /// [`RouteError::InvalidHeaderName`] for a bad sticky header name, and
    /// [`RouteError::NoMatchingBackend`] when a split's labels (even of weight 0) match
    /// no backend.
    ///
    /// ```
    /// use tower_mirror::route::{Backends, Labels, RouteError, WeightedRoute};
    ///
    /// let backends = Backends::new("httpbin").with(Labels::from([("version", "v1")]), ());
    /// let err = WeightedRoute::builder()
    ///     .split(Labels::from([("version", "v1")]), 0)
    ///     .build(&backends)
    ///     .unwrap_err();
    /// assert_eq!(err, RouteError::AllWeightsZero);
    /// ```
    pub fn build(self, backends: &Backends<S>) -> Result<WeightedRoute<S>, RouteError>
    where
        S: Clone,
    {
        if self.splits.is_empty() {
            return Err(RouteError::NoSplits);
        }
        let mut total: u32 = 0;
        let mut ends = Vec::with_capacity(self.splits.len());
        for (_, weight) in &self.splits {
            total = total
                .checked_add(*weight)
                .ok_or(RouteError::WeightOverflow)?;
            ends.push(total);
        }
        if total == 0 {
            return Err(RouteError::AllWeightsZero);
        }
        let sticky = match self.sticky {
            Some(name) => Some(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| RouteError::InvalidHeaderName { name })?,
            ),
            None => None,
        };
        let splits = self
            .splits
            .iter()
            .zip(ends)
            .map(|((labels, weight), end)| {
                Ok(Split {
                    weight: *weight,
                    end,
                    subset: backends.select(labels)?,
                })
            })
            .collect::<Result<Box<[_]>, RouteError>>()?;
        let rng = match self.seed {
            Some(seed) => SharedRng::new(seed),
            None => SharedRng::from_entropy(),
        };
        Ok(WeightedRoute {
            table: Arc::new(SplitTable {
                destination: backends.destination().to_owned(),
                splits,
                total,
                sticky,
                rng,
            }),
        })
    }
}

impl<S> Default for WeightedRouteBuilder<S> {
    fn default() -> Self {
        Self {
            splits: Vec::new(),
            seed: None,
            sticky: None,
            _service: PhantomData,
        }
    }
}

impl<S> Clone for WeightedRouteBuilder<S> {
    fn clone(&self) -> Self {
        Self {
            splits: self.splits.clone(),
            seed: self.seed,
            sticky: self.sticky.clone(),
            _service: PhantomData,
        }
    }
}

impl<S> fmt::Debug for WeightedRouteBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedRouteBuilder")
            .field("splits", &self.splits)
            .field("seed", &self.seed)
            .field("sticky", &self.sticky)
            .finish()
    }
}
