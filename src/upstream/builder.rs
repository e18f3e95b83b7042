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
#[cfg(feature = "rustls")]
use super::tls::TlsSettings;

/// Configures an [`HttpUpstream`]; made by [`HttpUpstream::builder`].
///
/// | knob | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) | none (the OS decides) |
/// | [`pool_idle_timeout`](Self::pool_idle_timeout) | 90 s |
/// | [`pool_max_idle_per_host`](Self::pool_max_idle_per_host) | unlimited |
/// | [`http2_prior_knowledge`](Self::http2_prior_knowledge) | off: HTTP/1.1 |
/// | [`preserve_host`](Self::preserve_host) | off: `Host` is the base's authority |
/// | `add_root_certificates_pem` (feature `rustls`) | the public web roots only |
/// | `only_custom_roots` (feature `rustls`) | off: public roots trusted too |
/// | `client_identity_pem` (feature `rustls`) | none: no client certificate |
///
/// TCP_NODELAY is always on: proxied requests are small writes that must not wait.
///
/// # TLS (feature `rustls`)
///
/// An `https` base connects with rustls (the `ring` provider, TLS 1.2 and 1.3). It trusts
/// the public web's roots (bundled, from `webpki-roots`) and those added with
/// `add_root_certificates_pem`, or only the added ones with `only_custom_roots`. The
/// server's certificate must name the base's host (a DNS name, sent as SNI, or an IP
/// address). ALPN offers `h2` and `http/1.1` and each pooled connection speaks what the
/// server picks; with [`http2_prior_knowledge`](Self::http2_prior_knowledge) it offers
/// only `h2`, and with [`preserve_host`](Self::preserve_host) only `http/1.1` (HTTP/2
/// carries the host in `:authority`, which must match the connection's). The handshake
/// is made once per pooled connection; [`connect_timeout`](Self::connect_timeout) bounds
/// the TCP connect, not the handshake (a mirror's `timeout` bounds the whole copy).
/// Failures are [`UpstreamError::is_tls`]. The TLS settings are ignored for an `http` base.
///
/// Without the feature, an `https` base is refused by [`build`](Self::build) (and so by
/// `parse` and [`HttpUpstream::try_new`]) with [`UpstreamError::is_tls_unsupported`].
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
    #[cfg(feature = "rustls")]
    tls: TlsSettings,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            connect_timeout: None,
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: usize::MAX,
            http2_prior_knowledge: false,
            preserve_host: false,
            #[cfg(feature = "rustls")]
            tls: TlsSettings::default(),
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

    /// Trusts the certificates in `pem` (one or more `CERTIFICATE` blocks, such as a
    /// private CA) for `https` bases, besides the public web's roots unless
    /// [`only_custom_roots`](Self::only_custom_roots) is set. Refuses PEM that holds no
    /// certificate or one that cannot be a trust root.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use tower_mirror::upstream::HttpUpstream;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("ca.pem")?;
    /// let cert = std::fs::read("client.pem")?;
    /// let key = std::fs::read("client.key")?;
    /// let shadow = HttpUpstream::builder()
    ///     .add_root_certificates_pem(&ca)?
    ///     .only_custom_roots()
    ///     .client_identity_pem(&cert, &key)? // mutual TLS
    ///     .build("https://shadow.internal:8443".parse()?)?;
    /// # let _ = shadow;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn add_root_certificates_pem(
        mut self,
        pem: impl AsRef<[u8]>,
    ) -> Result<Self, UpstreamError> {
        self.tls
            .add_roots_pem(pem.as_ref())
            .map_err(UpstreamError::tls_settings)?;
        Ok(self)
    }

    /// Trusts only the roots added with
    /// [`add_root_certificates_pem`](Self::add_root_certificates_pem), not the public
    /// web's. Building with no root added is then refused.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn only_custom_roots(mut self) -> Self {
        self.tls.only_custom_roots();
        self
    }

    /// Presents this client identity to servers that ask for one (mutual TLS):
    /// `cert_pem` holds the certificate chain, leaf first; `key_pem` its private key
    /// (PKCS#8, PKCS#1 or SEC1). Refuses PEM without them, or a key that does not go with
    /// the certificate.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn client_identity_pem(
        mut self,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, UpstreamError> {
        self.tls
            .set_identity_pem(cert_pem.as_ref(), key_pem.as_ref())
            .map_err(UpstreamError::tls_settings)?;
        Ok(self)
    }

    /// Builds the upstream for `base`, refusing a URL that is not `http`/`https` with a
    /// host (see [`HttpUpstream::try_new`]), and an `https` URL without the `rustls`
    /// feature.
    ///
    /// No runtime is needed to build; calls need a Tokio runtime.
    pub fn build(self, base: Uri) -> Result<HttpUpstream, UpstreamError> {
        let base = Base::parse(&base)?;

        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(self.connect_timeout);
        connector.set_keepalive(self.pool_idle_timeout);

        let mut pool = Client::builder(TokioExecutor::new());
        // The timer lets the pool evict idle connections in the background rather
        // than only when it next checks a host out.
        pool.pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http2_only(self.http2_prior_knowledge);

        if !base.is_https() {
            let client = pool.build(connector);
            return Ok(self.bind(client, base));
        }
        #[cfg(feature = "rustls")]
        {
            let connector = self
                .tls
                .connector(connector, self.alpn())
                .map_err(UpstreamError::tls_settings)?;
            let client = pool.build(connector);
            Ok(self.bind(client, base))
        }
        #[cfg(not(feature = "rustls"))]
        Err(UpstreamError::tls_unsupported(base.display().clone()))
    }

    /// The protocols offered by ALPN, preferred first.
    #[cfg(feature = "rustls")]
    fn alpn(&self) -> &'static [&'static [u8]] {
        if self.http2_prior_knowledge {
            &[b"h2"]
        } else if self.preserve_host {
            &[b"http/1.1"]
        } else {
            &[b"h2", b"http/1.1"]
        }
    }

    fn bind<C>(&self, client: Client<C, ClientBody>, base: Base) -> HttpUpstream
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        HttpUpstream::from_bound(BoundClient::new(
            client,
            base,
            self.http2_prior_knowledge,
            self.preserve_host,
        ))
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
        Ok(Self::from_bound(BoundClient::new(
            client, base, false, false,
        )))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "rustls"))]
    #[test]
    fn https_without_rustls_is_refused_when_built_or_parsed() {
        let url = "https://127.0.0.1:1/api";
        let refusals = [
            url.parse::<HttpUpstream>().unwrap_err(),
            HttpUpstream::try_new(url.parse().unwrap()).unwrap_err(),
            HttpUpstream::builder()
                .connect_timeout(Duration::from_secs(1))
                .build(url.parse().unwrap())
                .unwrap_err(),
        ];
        for err in refusals {
            assert!(err.is_tls_unsupported(), "{err:?}");
            assert!(!err.is_invalid_url() && !err.is_connect(), "{err:?}");
            assert_eq!(err.base(), url);
            assert_eq!(
                err.to_string(),
                "upstream https://127.0.0.1:1/api: https needs TLS, which this build of \
                 tower-mirror leaves out: enable its `rustls` feature, or bring a TLS-capable \
                 client with HttpUpstream::from_client"
            );
        }
        // Plain http is unaffected.
        assert!("http://127.0.0.1:1/api".parse::<HttpUpstream>().is_ok());
    }

    #[test]
    fn from_client_takes_https_whatever_the_features() {
        // The client brings the TLS, so the base is not refused for it.
        let client: Client<_, ClientBody> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let upstream =
            HttpUpstream::from_client(client.clone(), "https://127.0.0.1:1/api".parse().unwrap())
                .unwrap();
        assert_eq!(upstream.base(), "https://127.0.0.1:1/api");
        let err = HttpUpstream::from_client(client, "ftp://h".parse().unwrap()).unwrap_err();
        assert!(err.is_invalid_url(), "{err:?}");
    }
}
