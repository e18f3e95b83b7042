//! Building one Tower service from a [`Config`](super::Config): hosts, matches, weighted
//! routes, mirrors.
//!
//! Imports run `builder` -> `service` -> `hosts`, with `backend` and `error` below them
//! all; the rules in force sit in a [`Reloadable`](crate::istio::reload::Reloadable). Each rule's stack is made of small layers, each in its
//! file: `splits` (the weighted pick), `timeout`, `headers`, `fault`; the `rewrite` is
//! applied by `service`, which knows the match entry that took the request.

mod backend;
mod builder;
mod error;
mod fault;
mod headers;
mod hosts;
mod service;
mod splits;
mod timeout;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use tower::BoxError;
use tower::util::BoxCloneSyncService;

pub use backend::RouterBackend;
pub use builder::RouterBuilder;
pub use error::BuildError;
pub use service::{Router, RouterFuture};

/// The request and response body of a [`Router`]: any body, boxed once at the edge.
pub type RouterBody = UnsyncBoxBody<Bytes, BoxError>;

/// One rule's stack, boxed so every rule has the same type.
type RuleService = BoxCloneSyncService<Request<RouterBody>, Response<RouterBody>, BoxError>;
