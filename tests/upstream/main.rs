//! `HttpUpstream` against loopback servers.

mod pool;
mod requests;
