use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::base::Base;
use super::error::UpstreamError;
use super::service::{HttpUpstream, Shared};

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

        Ok(HttpUpstream::from_shared(Arc::new(Shared {
            client,
            base,
            http2: self.http2_prior_knowledge,
            preserve_host: self.preserve_host,
        })))
    }
}
