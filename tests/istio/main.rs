//! `tower_mirror::istio`: parsing Istio's routing YAML, its errors, its match semantics,
//! the endpoints file, and the router built from them.
#![cfg(feature = "istio")]

mod endpoints;
mod errors;
mod fuzz;
mod matching;
mod parse;
mod router;
