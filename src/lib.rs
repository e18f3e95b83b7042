//! Traffic mirroring ("shadowing") and label-based weighted routing for Tower HTTP services.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod mirror;
pub mod route;
pub mod upstream;

#[cfg(feature = "istio")]
pub mod istio;

mod hop_by_hop;
mod rng;

pub use mirror::{
    Mirror, MirrorBody, MirrorEvent, MirrorHandle, MirrorLayer, MirrorStats, Oversize, SkipReason,
};
pub use tower::BoxError;
