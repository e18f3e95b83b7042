//! The Istio kinds read: `RouteRule`, `VirtualService` and `DestinationRule`.
//!
//! [`object`] reads each document's `apiVersion`, `kind` and `metadata` and hands the
//! `spec` to its kind's module; each kind yields a [`Resource`](super::resource::Resource).
//! `spec` holds the values the route kinds share (string matches, weights, percentages).
//!
//! Each kind is a set of derived structs read through the YAML tree deserializer, which
//! refuses wrong types, missing and unknown fields with their place; the kind's code then
//! makes the checks serde cannot (a duplicate subset, weights that sum wrong) and warns
//! about or refuses the [`unapplied`] fields Istio applies and tower-mirror does not.

mod actions;
mod destination_rule;
mod metadata;
mod object;
mod route_rule;
mod spec;
mod unapplied;
mod virtual_service;

pub(crate) use object::{SUPPORTED, parse};
