//! Loopback HTTP on 127.0.0.1, port 0, everything stopped on drop: one [`Server`] for any
//! Tower service (HTTP/1.1 and HTTP/2, or HTTP/2 only), a [`RawServer`] for peers that
//! misbehave below HTTP, backends that record what they receive, an echo of the request
//! head, and a client.

mod backend;
mod echo;
mod raw;
mod server;

pub use backend::{Answer, Backend, Recorded, Reply, client, fetch};
pub use echo::Echoed;
pub use raw::{RawMode, RawServer, closed_addr};
pub use server::{Proto, Server};
