//! Clients to upstreams (primary, shadows, endpoints): built from the flags, each with its
//! connect timeout, idle pool, TLS settings and cap on requests in flight.

#[cfg(feature = "rustls")]
use std::path::Path;
use std::time::Duration;

use tower_mirror::upstream::{Builder, HttpUpstream};

use crate::cli::Args;
use crate::decision::DecisionScope;
use crate::limits::UpstreamLimit;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// An upstream instance as the proxy calls it (as a primary, a shadow, or a rule's backend).
pub(crate) type Backend = DecisionScope<UpstreamLimit<HttpUpstream>>;

/// What every upstream is built with.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamSettings {
    builder: Builder,
    max_connections: usize,
    shadow_http2: bool,
}

impl UpstreamSettings {
    /// From the flags; fails when a TLS file cannot be read or used.
    pub(crate) fn from_args(args: &Args) -> Result<Self, String> {
        let builder = HttpUpstream::builder()
            .connect_timeout(args.connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(args.upstream_max_idle);
        Ok(Self {
            builder: with_tls(builder, args)?,
            max_connections: args.upstream_max_connections,
            shadow_http2: args.shadow_http2,
        })
    }

    /// The backend for `url`; `what` names it in errors (`--primary`, `httpbin[1].url`).
    pub(crate) fn backend(&self, what: &str, url: &str) -> Result<Backend, String> {
        self.build(self.builder.clone(), what, url)
    }

    /// The backend for a `--shadow`: over HTTP/2 with `--shadow-http2`.
    pub(crate) fn shadow_backend(&self, url: &str) -> Result<Backend, String> {
        let mut builder = self.builder.clone();
        if self.shadow_http2 {
            builder = builder.http2_prior_knowledge();
        }
        self.build(builder, "--shadow", url)
    }

    fn build(&self, builder: Builder, what: &str, url: &str) -> Result<Backend, String> {
        let uri = url
            .parse()
            .map_err(|e| format!("{what} {url:?}: not a URL ({e})"))?;
        let upstream = builder
            .build(uri)
            .map_err(|e| format!("{what} {url:?}: {e}"))?;
        Ok(DecisionScope::new(UpstreamLimit::new(
            upstream,
            self.max_connections,
        )))
    }
}

#[cfg(feature = "rustls")]
fn with_tls(mut builder: Builder, args: &Args) -> Result<Builder, String> {
    if let Some(path) = &args.ca_file {
        builder = builder
            .add_root_certificates_pem(read("--ca-file", path)?)
            .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
    }
    // clap makes sure the two come together.
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        builder = builder
            .client_identity_pem(read("--client-cert", cert)?, read("--client-key", key)?)
            .map_err(|e| format!("--client-cert/--client-key: {e}"))?;
    }
    Ok(builder)
}

#[cfg(not(feature = "rustls"))]
fn with_tls(builder: Builder, args: &Args) -> Result<Builder, String> {
    if args.ca_file.is_some() || args.client_cert.is_some() {
        return Err(
            "--ca-file and --client-cert/--client-key need the `rustls` feature \
                    (cargo install tower-mirror-proxy --features rustls)"
                .into(),
        );
    }
    Ok(builder)
}

/// Reads a file named by a flag, saying which flag when it cannot.
#[cfg(feature = "rustls")]
pub(crate) fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: cannot read it: {e}", path.display()))
}
