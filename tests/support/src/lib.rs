//! Everything tower-mirror's integration tests share, written once: mock shadows and
//! primaries, scripted bodies, the event log, the stats invariants, bounded waits (all
//! re-exported here for `use support::*`), and, by module, loopback servers, generated
//! load, labelled versions, TLS certificates and servers, and the proxy binary run as a
//! process.
//!
//! A library rather than a module each test crate includes: it builds once, and its public
//! items never warn as unused in the crates that need only part of it.

#![forbid(unsafe_code)]

mod bodies;
mod events;
mod hash;
mod invariants;
mod primaries;
mod requests;
mod rng;
mod shadows;
mod streams;
mod wait;

pub mod load;
pub mod loopback;
pub mod proxy;
pub mod tls;
pub mod versions;

pub use bodies::*;
pub use events::*;
pub use hash::fnv1a64;
pub use invariants::*;
pub use primaries::*;
pub use requests::*;
pub use rng::Rng;
pub use shadows::*;
pub use streams::*;
pub use wait::*;
