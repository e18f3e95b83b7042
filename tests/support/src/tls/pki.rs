//! Certificates made at test time: a private CA and the identities it signs.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A private certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, the trust root clients add.
    pub pem: String,
    pub cert: CertificateDer<'static>,
}

/// A certificate (signed by a [`Ca`]) and its private key.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Identity {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_der.clone()).into()
    }
}

/// What a certificate is for, and how it is broken (if it is).
pub enum Leaf<'a> {
    /// A server certificate for these names (DNS names or IP addresses).
    Server(&'a [&'a str]),
    /// A server certificate for `localhost` and 127.0.0.1 that expired in 2001.
    ExpiredServer,
    /// A client certificate with this common name.
    Client(&'a str),
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn issue(&self, leaf: Leaf<'_>) -> Identity {
        let (names, usage): (&[&str], _) = match leaf {
            Leaf::Server(names) => (names, ExtendedKeyUsagePurpose::ServerAuth),
            Leaf::ExpiredServer => (LOOPBACK, ExtendedKeyUsagePurpose::ServerAuth),
            Leaf::Client(_) => (&[], ExtendedKeyUsagePurpose::ClientAuth),
        };
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let common_name = match leaf {
            Leaf::Client(name) => name,
            _ => names[0],
        };
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        if let Leaf::ExpiredServer = leaf {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

/// The names loopback servers are reached by.
pub const LOOPBACK: &[&str] = &["localhost", "127.0.0.1"];
