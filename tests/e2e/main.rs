//! End to end over real sockets: the layer between real HTTP servers, under load and under
//! faults, and in an axum app (the proxy binary has its own tests, in `proxy/tests`).

mod axum_app;
mod fault_injection;
mod http_mirror;
mod memory_bounds;
mod streaming;
