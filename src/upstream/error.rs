use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::BoxError;

/// The error of [`HttpUpstream`](super::HttpUpstream): a refused base URL or TLS setting,
/// or a call that failed.
///
/// Its `Display` names the upstream's base URL and what went wrong, for example
/// `upstream http://127.0.0.1:9: connection refused`. [`source`](StdError::source) is the
/// underlying `hyper_util` client error (whose own chain reaches the `hyper` or I/O error),
/// when there is one. Use the `is_*` methods to tell the cases apart.
///
/// # Example
///
/// ```
/// use tower_mirror::upstream::HttpUpstream;
///
/// let err = "ftp://files.example".parse::<HttpUpstream>().unwrap_err();
/// assert!(err.is_invalid_url());
/// assert_eq!(
///     err.to_string(),
///     "upstream `ftp://files.example`: invalid base URL: the scheme must be `http` or `https`, not `ftp`",
/// );
/// ```
pub struct UpstreamError {
    // Boxed so `Result<Response, UpstreamError>` stays small on the hot path.
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    base: Arc<str>,
    source: Option<BoxError>,
}

#[derive(Debug)]
pub(super) enum Kind {
    /// The base URL was refused; the text says why.
    InvalidUrl(String),
    /// An `https` base, and this build has no TLS (feature `rustls` off).
    #[cfg_attr(feature = "rustls", allow(dead_code))]
    TlsUnsupported,
    /// The TLS settings given to the builder were refused; the text says why.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    TlsSettings(String),
    /// The TLS handshake or the TLS session failed; the text says why.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    Tls(String),
    /// `call` ran outside a Tokio runtime.
    NoRuntime,
    /// The request could not be rebuilt against the base URL.
    InvalidRequest,
    /// The TCP connection could not be made.
    Connect,
    /// Sending the request or reading the response head failed.
    Request,
}

impl UpstreamError {
    pub(super) fn new(kind: Kind, base: Arc<str>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                base,
                source: None,
            }),
        }
    }

    pub(super) fn invalid_url(input: &str, why: impl Into<String>) -> Self {
        Self::new(Kind::InvalidUrl(why.into()), format!("`{input}`").into())
    }

    #[cfg_attr(feature = "rustls", allow(dead_code))]
    pub(super) fn tls_unsupported(base: Arc<str>) -> Self {
        Self::new(Kind::TlsUnsupported, base)
    }

    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(super) fn tls_settings(why: String) -> Self {
        Self::new(Kind::TlsSettings(why), "".into())
    }

    pub(super) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(super) fn from_client(err: hyper_util::client::legacy::Error, base: Arc<str>) -> Self {
        #[cfg(feature = "rustls")]
        if let Some(why) = super::tls::describe_failure(&err) {
            return Self::new(Kind::Tls(why), base).with_source(err);
        }
        let kind = if err.is_connect() {
            Kind::Connect
        } else {
            Kind::Request
        };
        Self::new(kind, base).with_source(err)
    }

    /// The base URL was refused (by [`HttpUpstream::try_new`](super::HttpUpstream::try_new),
    /// [`FromStr`](std::str::FromStr) or [`Builder::build`](super::Builder::build)).
    pub fn is_invalid_url(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidUrl(_))
    }

    /// The base URL is `https` and this build has no TLS: the upstream was refused when
    /// built or parsed. Enable the `rustls` feature, or bring a TLS-capable client with
    /// [`HttpUpstream::from_client`](super::HttpUpstream::from_client).
    pub fn is_tls_unsupported(&self) -> bool {
        matches!(self.inner.kind, Kind::TlsUnsupported)
    }

    /// TLS failed: the server's certificate is not trusted (unknown issuer), is for
    /// another host (name mismatch) or has expired, the server refused this client's
    /// certificate, or the handshake failed otherwise; the message says which. Needs the
    /// `rustls` feature (which also recognises rustls' errors from a connector given to
    /// [`HttpUpstream::from_client`](super::HttpUpstream::from_client)).
    pub fn is_tls(&self) -> bool {
        matches!(self.inner.kind, Kind::Tls(_))
    }

    /// The call was made outside a Tokio runtime.
    pub fn is_no_runtime(&self) -> bool {
        matches!(self.inner.kind, Kind::NoRuntime)
    }

    /// The connection to the upstream could not be made (refused, unreachable, timed out).
    pub fn is_connect(&self) -> bool {
        matches!(self.inner.kind, Kind::Connect)
    }

    /// Something timed out: the connect timeout (then [`is_connect`](Self::is_connect) is
    /// true too) or a `hyper` timeout.
    pub fn is_timeout(&self) -> bool {
        self.io_kind() == Some(io::ErrorKind::TimedOut)
            || self.chain().any(|e| {
                e.downcast_ref::<hyper::Error>()
                    .is_some_and(|e| e.is_timeout())
            })
    }

    /// The base URL this error is about, as written in the `Display` text.
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// The errors below this one, outermost first.
    fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        let mut next = self.source();
        std::iter::from_fn(move || {
            let current = next?;
            next = current.source();
            Some(current)
        })
    }

    /// The innermost I/O error's kind, if the failure came from a socket.
    fn io_kind(&self) -> Option<io::ErrorKind> {
        self.chain()
            .filter_map(|e| e.downcast_ref::<io::Error>())
            .last()
            .map(io::Error::kind)
    }

    /// The source chain as one line, skipping `hyper_util`'s terse outer wrapper
    /// ("client error (Connect)"), whose cause says more.
    fn write_causes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for cause in self.chain().skip(1) {
            write!(f, "{sep}{cause}")?;
            sep = ": ";
        }
        if sep.is_empty()
            && let Some(source) = self.source()
        {
            write!(f, "{source}")?;
        }
        Ok(())
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            // Refused by the builder, before there is a base URL.
            Kind::TlsSettings(_) => f.write_str("upstream TLS settings: ")?,
            _ => write!(f, "upstream {}: ", self.inner.base)?,
        }
        match &self.inner.kind {
            Kind::InvalidUrl(why) => write!(f, "invalid base URL: {why}"),
            Kind::TlsUnsupported => f.write_str(
                "https needs TLS, which this build of tower-mirror leaves out: enable its \
                 `rustls` feature, or bring a TLS-capable client with \
                 HttpUpstream::from_client",
            ),
            Kind::TlsSettings(why) => f.write_str(why),
            Kind::Tls(why) => write!(f, "TLS failed: {why}"),
            Kind::NoRuntime => f.write_str(
                "no Tokio runtime is running; call HttpUpstream from within a Tokio runtime",
            ),
            Kind::InvalidRequest => f.write_str("cannot rebuild the request URI on the base URL"),
            Kind::Connect => match self.io_kind() {
                Some(io::ErrorKind::ConnectionRefused) => f.write_str("connection refused"),
                Some(io::ErrorKind::TimedOut) => f.write_str("connect timed out"),
                _ => {
                    f.write_str("cannot connect: ")?;
                    self.write_causes(f)
                }
            },
            Kind::Request => {
                f.write_str("request failed: ")?;
                self.write_causes(f)
            }
        }
    }
}

impl fmt::Debug for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UpstreamError");
        d.field("kind", &self.inner.kind)
            .field("base", &self.inner.base);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for UpstreamError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
