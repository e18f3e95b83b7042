//! The Istio kinds read: `RouteRule`, `VirtualService` and `DestinationRule`.
//!
//! [`object`] reads each document's `apiVersion`, `kind` and `metadata` and hands the
//! `spec` to its kind's module; each kind yields a [`Resource`](super::resource::Resource).
//! `spec` holds the values the route kinds share (string matches, weights, percentages).

mod actions;
mod destination_rule;
mod metadata;
mod object;
mod route_rule;
mod spec;
mod unapplied;
mod virtual_service;

pub(crate) use object::{SUPPORTED, parse};
