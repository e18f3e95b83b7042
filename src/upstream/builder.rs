//! How an [`HttpUpstream`] is made: the [`Builder`] and the constructors that use it.

use std::str::FromStr;
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::base::{Base, shown_str};
use super::bound_client::{BoundClient, ClientBody};
use super::error::UpstreamError;
use super::service::HttpUpstream;

/// Configures an [`HttpUpstream`]; made by [`HttpUpstream::builder`].
///
/// | knob | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) | none (the OS decides) |
/// | [`pool_idle_timeout`](Self::pool_idle_timeout) | 90 s |
/// | [`pool_max_idle_per_host`](Self::pool_max_idle_per_host) | unlimited |
/// | [`http2_prior_knowledge`](Self::http2_prior_knowledge) | off: HTTP/1.1 |
/// | [`preserve_host`](Self::preserve_host) | off: `Host` is the base's authority |
///
/// TCP_NODELAY is always on: proxied requests are small writes that must not wait.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_mirror::upstream::HttpUpstream;
///
/// let upstream = HttpUpstream::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .pool_max_idle_per_host(32)
///     .build("http://127.0.0.1:9001/api".parse().unwrap())
///     .expect("an http URL with a host");
/// assert_eq!(upstream.base(), "http://127.0.0.1:9001/api");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Builder {
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    http2_prior_knowledge: bool,
    preserve_host: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            connect_timeout: None,
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: usize::MAX,
            http2_prior_knowledge: false,
            preserve_host: false,
        }
    }
}

impl Builder {
    /// Gives up on a TCP connect after `timeout`; the error then says `connect timed out`
    /// and [`UpstreamError::is_timeout`] is true.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Closes pooled connections idle for longer than this; `None` keeps them until the
    /// server closes them.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.pool_idle_timeout = timeout.into();
        self
    }

    /// Keeps at most `max` idle connections per upstream host; 0 disables reuse.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Speaks HTTP/2 without negotiation ("prior knowledge", cleartext h2c): every request
    /// goes out as HTTP/2, multiplexed on one connection per host. The upstream must accept
    /// HTTP/2 directly.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_prior_knowledge = true;
        self
    }

    /// Keeps the request's own `Host` header (or, without one, its URI's authority)
    /// instead of setting the base's authority, as Envoy does. Use it for a shadow behind
    /// [`MirrorLayer::host_suffix`](crate::MirrorLayer::host_suffix), so the shadow sees
    /// `httpbin-shadow:8000`, or for backends that route by virtual host. HTTP/1.1 only:
    /// with HTTP/2 prior knowledge the authority is the base's.
    pub fn preserve_host(mut self) -> Self {
        self.preserve_host = true;
        self
    }

    /// Builds the upstream for `base`, refusing a URL that is not `http`/`https` with a
    /// host (see [`HttpUpstream::try_new`]).
    ///
    /// No runtime is needed to build; calls need a Tokio runtime.
    pub fn build(self, base: Uri) -> Result<HttpUpstream, UpstreamError> {
        let base = Base::parse(&base)?;

        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(self.connect_timeout);
        connector.set_keepalive(self.pool_idle_timeout);

        let client = Client::builder(TokioExecutor::new())
            // The timer lets the pool evict idle connections in the background rather
            // than only when it next checks a host out.
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http2_only(self.http2_prior_knowledge)
            .build(connector);

        Ok(HttpUpstream::from_bound(BoundClient::new(
            client,
            base,
            self.http2_prior_knowledge,
            self.preserve_host,
        )))
    }
}

impl HttpUpstream {
    /// An upstream for `base` with the default settings (see [`Builder`]).
    ///
    /// # Panics
    ///
    /// If `base` has no `http`/`https` scheme or no host, or carries credentials or a
    /// query: like Tower's builders, a wrong address is a configuration bug found at
    /// start-up. Use [`try_new`](Self::try_new) or `str::parse` for addresses that come
    /// from outside.
    ///
    /// # Example
    ///
    /// ```
    /// use http::Uri;
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// let upstream = HttpUpstream::new(Uri::from_static("http://127.0.0.1:9001"));
    /// assert_eq!(upstream.base(), "http://127.0.0.1:9001");
    /// ```
    pub fn new(base: Uri) -> Self {
        match Self::try_new(base) {
            Ok(upstream) => upstream,
            Err(err) => panic!("{err}"),
        }
    }

    /// An upstream for `base` with the default settings, or an error saying why the URL
    /// is refused: it must be `http` or `https`, have a host, and carry no credentials and
    /// no query. A path is kept as a prefix for every request.
    ///
    /// # Example
    ///
    /// ```
    /// use http::Uri;
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// let err = HttpUpstream::try_new(Uri::from_static("/no/host")).unwrap_err();
    /// assert!(err.is_invalid_url());
    /// ```
    pub fn try_new(base: Uri) -> Result<Self, UpstreamError> {
        Builder::default().build(base)
    }

    /// A [`Builder`] to set timeouts, pool limits or HTTP/2.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// let h2 = HttpUpstream::builder()
    ///     .http2_prior_knowledge()
    ///     .build("http://127.0.0.1:9002".parse().unwrap())
    ///     .unwrap();
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// An upstream for `base` that sends its requests through `client`, a
    /// `hyper_util` pooled client you built: with your own connector (TLS stack, proxy,
    /// DNS resolver, socket options) and pool settings.
    ///
    /// Requests are rewritten onto `base` as with [`new`](Self::new) (HTTP/1.1 unless the
    /// connection negotiates HTTP/2, `Host` set to the base's authority) and the
    /// [`Builder`]'s settings do not apply: the client has its own. `https` bases are
    /// accepted whatever the features, since `client` brings its own TLS; a client that
    /// cannot reach `base` fails each call with [`UpstreamError::is_connect`].
    ///
    /// The client is typed over [`ClientBody`], into which each request body is boxed.
    ///
    /// # Example
    ///
    /// ```
    /// use hyper_util::client::legacy::{Client, connect::HttpConnector};
    /// use hyper_util::rt::TokioExecutor;
    /// use tower_mirror::upstream::{ClientBody, HttpUpstream};
    ///
    /// let mut connector = HttpConnector::new();
    /// connector.set_nodelay(true);
    /// connector.set_local_address(Some([127, 0, 0, 1].into()));
    /// let client: Client<_, ClientBody> = Client::builder(TokioExecutor::new())
    ///     .pool_max_idle_per_host(8)
    ///     .build(connector);
    ///
    /// let upstream = HttpUpstream::from_client(client, "http://127.0.0.1:9001".parse()?)?;
    /// assert_eq!(upstream.base(), "http://127.0.0.1:9001");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_client<C>(client: Client<C, ClientBody>, base: Uri) -> Result<Self, UpstreamError>
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let base = Base::parse(&base)?;
        Ok(Self::from_bound(BoundClient::new(client, base, false, false)))
    }
}

impl FromStr for HttpUpstream {
    type Err = UpstreamError;

    /// Parses a base URL such as `http://127.0.0.1:9001` or `http://backend:8080/api`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: Uri = s.parse().map_err(|e| {
            let why = match s.split_once("://") {
                Some((_, rest)) if rest.is_empty() || rest.starts_with('/') => {
                    "it has no host".to_owned()
                }
                _ => format!("not a URL ({e})"),
            };
            UpstreamError::invalid_url(&shown_str(s), why)
        })?;
        Self::try_new(uri)
    }
}
