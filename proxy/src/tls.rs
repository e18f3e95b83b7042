//! `--tls-cert`/`--tls-key`: TLS on the listening address (ALPN `h2`, `http/1.1`).

use crate::cli::Args;

/// What accepts TLS connections, when the flags ask for it.
#[cfg(feature = "rustls")]
pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;

/// Without the `rustls` feature nothing is accepted over TLS.
#[cfg(not(feature = "rustls"))]
#[derive(Clone, Debug)]
pub(crate) enum Acceptor {}

/// The acceptor for `--tls-cert`/`--tls-key`, if given.
#[cfg(feature = "rustls")]
pub(crate) fn acceptor(args: &Args) -> Result<Option<Acceptor>, String> {
    use std::sync::Arc;

    use tokio_rustls::rustls::{self, pki_types::pem::PemObject};

    use crate::upstreams::read;

    // clap makes sure the two come together.
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let chain = rustls::pki_types::CertificateDer::pem_slice_iter(&read("--tls-cert", cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no CERTIFICATE block in it",
            cert.display()
        ));
    }
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&read("--tls-key", key)?)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Acceptor::from(Arc::new(config))))
}

#[cfg(not(feature = "rustls"))]
pub(crate) fn acceptor(args: &Args) -> Result<Option<Acceptor>, String> {
    if args.tls_cert.is_some() {
        return Err("--tls-cert/--tls-key need the `rustls` feature \
                    (cargo install tower-mirror-proxy --features rustls)"
            .into());
    }
    Ok(None)
}
