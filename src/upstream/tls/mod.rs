//! TLS for `https` bases (feature `rustls`): the trust and identity settings a
//! [`Builder`](super::Builder) collects, and what a failed handshake is called in errors.

mod failure;
mod settings;

pub(super) use self::failure::describe_failure;
pub(super) use self::settings::TlsSettings;
