//! What a route does to requests besides routing and mirroring them: `rewrite`,
//! `headers`, `timeout` and `fault` of a `VirtualService`; `rewrite`, `appendHeaders`,
//! `httpReqTimeout` and `httpFault` of a `RouteRule`. Validated as Istio validates them.
//!
//! One file per action; `headers` reads an authority the way `rewrite` does.

mod fault;
mod headers;
mod rewrite;
mod timeout;

pub(super) use fault::{FaultSpelling, fault};
pub(super) use headers::{append_headers, headers};
pub(super) use rewrite::rewrite;
pub(super) use timeout::{http_req_timeout, timeout};
