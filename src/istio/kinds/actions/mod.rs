//! What a route does to requests besides routing and mirroring them: `rewrite`,
//! `headers`, `timeout` and `fault` of a `VirtualService`; `rewrite`, `appendHeaders`,
//! `httpReqTimeout` and `httpFault` of a `RouteRule`. Validated as Istio validates them.
//!
//! One file per action; `headers` reads an authority the way `rewrite` does.

mod fault;
mod headers;
mod rewrite;
mod timeout;

pub(super) use fault::{FaultSpec, RuleFaultSpec, fault, rule_fault};
pub(super) use headers::{Authority, HeadersSpec, append_headers, headers};
pub(super) use rewrite::{RewriteSpec, RuleRewriteSpec, rewrite};
pub(super) use timeout::{HttpReqTimeoutSpec, http_req_timeout, timeout};
