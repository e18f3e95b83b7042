//! `tower_mirror::istio`: parsing Istio's routing YAML, its errors, its match semantics,
//! the endpoints file, and the router built from them.
#![cfg(feature = "istio")]

mod actions;
mod corpus;
mod destination_rules;
mod endpoints;
mod errors;
mod files;
mod fuzz;
mod hosts;
mod input;
mod kinds;
mod matching;
mod messages;
mod mirror_names;
mod parse;
mod reload;
mod router;
mod validation;
