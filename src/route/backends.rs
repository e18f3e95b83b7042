use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tower_service::Service;

use super::{Labels, ResponseFuture, RouteError};

/// The labeled instances of one destination (Istio's `destination.name`).
///
/// Build it once with every instance and its labels, then [`select`](Backends::select) the
/// [`Subset`]s that routes and mirrors send to.
///
/// ```
/// use tower_mirror::route::{Backends, Labels};
///
/// let backends = Backends::new("httpbin")
///     .with(Labels::from([("version", "v1"), ("zone", "a")]), "v1-a")
///     .with(Labels::from([("version", "v1"), ("zone", "b")]), "v1-b")
///     .with(Labels::from([("version", "v2")]), "v2");
///
/// assert_eq!(backends.destination(), "httpbin");
/// let v1 = backends.select(&Labels::from([("version", "v1")])).unwrap();
/// assert_eq!(v1.len(), 2);
/// ```
#[derive(Clone)]
pub struct Backends<S> {
    destination: String,
    instances: Vec<(Labels, S)>,
}

impl<S> Backends<S> {
    /// No instances yet for `destination`.
    pub fn new(destination: impl Into<String>) -> Self {
        Self {
            destination: destination.into(),
            instances: Vec::new(),
        }
    }

    /// Adds an instance carrying `labels`.
    #[must_use]
    pub fn with(mut self, labels: Labels, service: S) -> Self {
        self.instances.push((labels, service));
        self
    }

    /// The destination's name, as given to [`Backends::new`].
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// The instances and their labels, in the order they were added.
    pub fn instances(&self) -> impl ExactSizeIterator<Item = (&Labels, &S)> {
        self.instances.iter().map(|(labels, svc)| (labels, svc))
    }

    /// The number of instances.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether there are no instances.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Every instance whose labels [match](Labels::matches) `selector`, as one service that
    /// spreads calls over them round robin.
    ///
    /// Fails with [`RouteError::NoMatchingBackend`] when no instance matches, so a typo in
    /// a selector shows up when the route is built, not as failed requests.
    ///
    /// ```
    /// use tower_mirror::route::{Backends, Labels, RouteError};
    ///
    /// let backends = Backends::new("httpbin").with(Labels::from([("version", "v1")]), ());
    /// assert!(backends.select(&Labels::new()).is_ok());
    /// assert!(matches!(
    ///     backends.select(&Labels::from([("version", "v2")])),
    ///     Err(RouteError::NoMatchingBackend { .. })
    /// ));
    /// ```
    pub fn select(&self, selector: &Labels) -> Result<Subset<S>, RouteError>
    where
        S: Clone,
    {
        let instances: Box<[(Labels, S)]> = self
            .instances
            .iter()
            .filter(|(labels, _)| labels.matches(selector))
            .cloned()
            .collect();
        if instances.is_empty() {
            return Err(RouteError::NoMatchingBackend {
                destination: self.destination.clone(),
                selector: selector.clone(),
            });
        }
        Ok(Subset {
            pool: Arc::new(InstancePool {
                destination: self.destination.clone(),
                selector: selector.clone(),
                instances,
                next: AtomicUsize::new(0),
            }),
        })
    }
}

impl<S> fmt::Debug for Backends<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends")
            .field("destination", &self.destination)
            .field("instances", &InstanceLabels(&self.instances))
            .finish()
    }
}

/// The instances of a destination that match one selector, as a single service.
///
/// Calls are spread round robin over the instances. Clones share the round-robin position
/// (axum and [`Mirror`](crate::mirror) clone services per request; a copied position would
/// send every request to the first instance), and are cheap: one reference count.
///
/// `poll_ready` is always ready: each call clones the chosen instance and drives it with
/// [`oneshot`](tower::ServiceExt::oneshot), so an instance that is not ready delays only
/// the requests sent to it (as axum does). Hence `S: Clone`.
///
/// ```
/// use http::{Request, Response};
/// use tower::{ServiceExt, service_fn};
/// use tower_mirror::route::{Backends, Labels};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let instance = |name: &'static str| {
///     service_fn(move |_req: Request<String>| async move {
///         Ok::<_, std::convert::Infallible>(Response::new(name))
///     })
/// };
/// let backends = Backends::new("httpbin")
///     .with(Labels::from([("version", "v2"), ("zone", "a")]), instance("v2-a"))
///     .with(Labels::from([("version", "v2"), ("zone", "b")]), instance("v2-b"));
/// let v2 = backends.select(&Labels::from([("version", "v2")]))?;
///
/// let first = v2.clone().oneshot(Request::new(String::new())).await?;
/// let second = v2.clone().oneshot(Request::new(String::new())).await?;
/// assert_eq!([*first.body(), *second.body()], ["v2-a", "v2-b"]);
/// # Ok(())
/// # }
/// ```
pub struct Subset<S> {
    pool: Arc<InstancePool<S>>,
}

/// The instances a selector matched and the round-robin position over them; shared by
/// every clone, so the calls of all clones take turns.
struct InstancePool<S> {
    destination: String,
    selector: Labels,
    instances: Box<[(Labels, S)]>,
    next: AtomicUsize,
}

impl<S> Subset<S> {
    /// The destination the instances belong to.
    pub fn destination(&self) -> &str {
        &self.pool.destination
    }

    /// The selector this subset was chosen with (an Istio subset's `labels`).
    pub fn labels(&self) -> &Labels {
        &self.pool.selector
    }

    /// The matching instances and their full labels, in the order they were added.
    pub fn instances(&self) -> impl ExactSizeIterator<Item = (&Labels, &S)> {
        self.pool
            .instances
            .iter()
            .map(|(labels, svc)| (labels, svc))
    }

    /// The number of matching instances; at least 1, since
    /// [`Backends::select`] refuses a selector that matches nothing.
    #[allow(clippy::len_without_is_empty)] // a subset is never empty
    pub fn len(&self) -> usize {
        self.pool.instances.len()
    }

    /// Sends `req` to the next instance in round-robin order.
    pub(super) fn dispatch<R>(&self, req: R) -> ResponseFuture<S, R>
    where
        S: Service<R> + Clone,
    {
        let pool = &*self.pool;
        // Relaxed: only the spread matters, not an order with other memory.
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.instances.len();
        ResponseFuture::new(pool.instances[i].1.clone(), req)
    }
}

impl<S> Clone for Subset<S> {
    fn clone(&self) -> Self {
        Self {
            pool: Arc::clone(&self.pool),
        }
    }
}

impl<S> fmt::Debug for Subset<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subset")
            .field("destination", &self.pool.destination)
            .field("selector", &self.pool.selector)
            .field("instances", &InstanceLabels(&self.pool.instances))
            .finish()
    }
}

impl<S, R> Service<R> for Subset<S>
where
    S: Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, R>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is checked per call on the chosen instance (see the type docs).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.dispatch(req)
    }
}

/// Debug-formats instances by their labels, so `S` need not be `Debug`.
struct InstanceLabels<'a, S>(&'a [(Labels, S)]);

impl<S> fmt::Debug for InstanceLabels<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(labels, _)| labels))
            .finish()
    }
}
