//! What a failed TLS handshake is called in an [`UpstreamError`](super::super::UpstreamError).

use std::error::Error as StdError;
use std::io;

use rustls::{AlertDescription, CertificateError, Error as TlsError};

/// A sentence saying why TLS failed, when rustls' error is somewhere below `err`.
pub(in crate::upstream) fn describe_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    if let Some(found) = find_rustls_error(err) {
        return Some(describe(found));
    }
    find_alert_text(err)
}

/// The text rustls gives an alert from the peer.
const ALERT_PREFIX: &str = "received fatal alert: ";

/// The alerts a server sends when it refuses a client certificate.
const CLIENT_CERTIFICATE_ALERTS: [AlertDescription; 7] = [
    AlertDescription::CertificateRequired,
    AlertDescription::BadCertificate,
    AlertDescription::UnknownCA,
    AlertDescription::CertificateUnknown,
    AlertDescription::CertificateExpired,
    AlertDescription::CertificateRevoked,
    AlertDescription::AccessDenied,
];

/// An alert whose rustls error was turned into text on the way up: HTTP/2 shares one
/// connection error among its streams as a copy of the I/O error's message. With TLS 1.3
/// that is how a refused client certificate arrives, after the client's handshake ended.
fn find_alert_text(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(io) = current.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::InvalidData
        {
            let text = io.get_ref().map(ToString::to_string)?;
            let name = text.strip_prefix(ALERT_PREFIX)?;
            return Some(
                match CLIENT_CERTIFICATE_ALERTS
                    .into_iter()
                    .find(|alert| format!("{alert:?}") == name)
                {
                    Some(alert) => describe(&TlsError::AlertReceived(alert)),
                    None => text,
                },
            );
        }
        next = current.source();
    }
    None
}

fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a TlsError> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<TlsError>() {
            return Some(found);
        }
        // `io::Error::source` skips the error it wraps (it returns that error's source),
        // and the TLS stack wraps rustls' error in one or two of them.
        if let Some(wrapped) = current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            && let Some(found) = find_rustls_error(wrapped)
        {
            return Some(found);
        }
        next = current.source();
    }
    None
}

fn describe(err: &TlsError) -> String {
    match err {
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not trusted: unknown issuer (no trusted root signed \
             it; add its CA with add_root_certificates_pem)"
                .into()
        }
        TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!("the server's certificate is for another host: name mismatch ({err})"),
        TlsError::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => format!("the server's certificate has expired ({err})"),
        TlsError::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => format!("the server's certificate is not valid yet ({err})"),
        TlsError::InvalidCertificate(_) => {
            format!("the server's certificate is refused ({err})")
        }
        TlsError::AlertReceived(AlertDescription::CertificateRequired) => {
            "the server requires a client certificate (mutual TLS; set one with \
             client_identity_pem)"
                .into()
        }
        TlsError::AlertReceived(alert) if CLIENT_CERTIFICATE_ALERTS.contains(alert) => {
            format!("the server refused this client's certificate ({err})")
        }
        _ => err.to_string(),
    }
}
