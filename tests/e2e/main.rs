//! End to end over real sockets: the layer between real HTTP servers, under load and under
//! faults, in an axum app, and the `shadow_proxy` example run as a process.

mod axum_app;
mod fault_injection;
mod http_mirror;
mod memory_bounds;
// The example needs the `istio` feature (on by default).
#[cfg(feature = "istio")]
mod proxy_cli;
#[cfg(all(unix, feature = "istio"))]
mod proxy_rules;
