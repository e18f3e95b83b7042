//! TLS at test time: a private CA and the identities it signs ([`Ca`], [`Leaf`]), and a
//! loopback TLS server that echoes, records what it saw and counts handshakes
//! ([`TlsServer`]).

mod pki;
mod server;

pub use pki::{Ca, Identity, LOOPBACK, Leaf};
pub use server::{H2_AND_HTTP1, HTTP1_ONLY, Seen, TlsServer, server_config};
