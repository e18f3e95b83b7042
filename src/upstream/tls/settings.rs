//! Which servers an `https` upstream trusts, who it says it is, and the connector built
//! from that.

use std::fmt;
use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, WantsVerifier};

/// Roots to trust beyond (or instead of) the public web's, and an optional client identity.
#[derive(Clone)]
pub(in crate::upstream) struct TlsSettings {
    custom_roots: RootCertStore,
    only_custom_roots: bool,
    identity: Option<Identity>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            custom_roots: RootCertStore::empty(),
            only_custom_roots: false,
            identity: None,
        }
    }
}

/// A client certificate chain and its private key, for mutual TLS.
#[derive(Clone)]
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    // `PrivateKeyDer` is not `Clone` (it zeroes itself on drop); the builder is.
    key: Arc<PrivateKeyDer<'static>>,
}

impl TlsSettings {
    /// Adds every certificate in `pem` as a trust root; refuses PEM without one.
    pub(in crate::upstream) fn add_roots_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let certs = certificates(pem, "root certificate PEM")?;
        for (n, cert) in certs.into_iter().enumerate() {
            self.custom_roots.add(cert).map_err(|e| {
                format!(
                    "root certificate {} in the PEM is not a usable trust root: {e}",
                    n + 1
                )
            })?;
        }
        Ok(())
    }

    pub(in crate::upstream) fn only_custom_roots(&mut self) {
        self.only_custom_roots = true;
    }

    /// Sets the client identity; the certificate and key must belong together, which is
    /// checked now rather than at each handshake.
    pub(in crate::upstream) fn set_identity_pem(
        &mut self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<(), String> {
        let chain = certificates(cert_pem, "client certificate PEM")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            pem::Error::NoItemsFound => "the client key PEM has no PRIVATE KEY block".to_owned(),
            e => format!("cannot read the client key PEM: {e}"),
        })?;
        config_builder()?
            .with_root_certificates(RootCertStore::empty())
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("the client certificate and key do not go together: {e}"))?;
        self.identity = Some(Identity {
            chain,
            key: Arc::new(key),
        });
        Ok(())
    }

    /// A connector that speaks TLS over `http`'s connections, offering `alpn` (in order of
    /// preference). The server's name is checked against the request's host.
    pub(in crate::upstream) fn connector(
        &self,
        mut http: HttpConnector,
        alpn: &[&[u8]],
    ) -> Result<HttpsConnector<HttpConnector>, String> {
        let mut roots = self.custom_roots.clone();
        if !self.only_custom_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if roots.is_empty() {
            return Err("only_custom_roots() is set but no root was added with \
                 add_root_certificates_pem: no server could be trusted"
                .into());
        }
        let builder = config_builder()?.with_root_certificates(roots);
        let mut config = match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| format!("the client identity is refused: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // The TLS connector hands `https` URIs to the TCP connector, which refuses them by
        // default.
        http.enforce_http(false);
        let mut connector = HttpsConnector::from((http, config));
        connector.enforce_https();
        Ok(connector)
    }
}

/// rustls with the `ring` provider named explicitly: with only the process default, a
/// build that also links another provider would have to pick one at run time.
fn config_builder() -> Result<ConfigBuilder<ClientConfig, WantsVerifier>, String> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up rustls: {e}"))
}

/// Every certificate in `pem`; an error when it holds none or cannot be read.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read the {what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("the {what} has no CERTIFICATE block"));
    }
    Ok(certs)
}

impl fmt::Debug for TlsSettings {
    // Counts only: neither certificates nor the key belong in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("custom_roots", &self.custom_roots.len())
            .field("only_custom_roots", &self.only_custom_roots)
            .field(
                "client_identity",
                &self.identity.as_ref().map(|i| i.chain.len()),
            )
            .finish()
    }
}
