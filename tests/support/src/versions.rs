//! The httpbin mirroring rule (Istio's `mirror-traffic-to-httbin-v2`, the example config):
//! its YAML, and labelled versions of a service, as its `version: v1` and `version: v2`,
//! usable as a primary and as a mirror's shadow, with no network.

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::Service;
use tower_mirror::route::Labels;

/// The httpbin mirroring rule's YAML: `examples/config/mirror-httpbin-v2.yaml`.
pub const HTTPBIN_RULE: &str = include_str!("../../../examples/config/mirror-httpbin-v2.yaml");

/// Where [`HTTPBIN_RULE`] lives, for a program that reads it from a file.
pub fn httpbin_rule_path() -> PathBuf {
    // This crate lives in <repository>/tests/support.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config/mirror-httpbin-v2.yaml")
}

/// The labels `version: <v>`.
pub fn version(v: &str) -> Labels {
    Labels::from([("version", v)])
}

/// What the versions received, in arrival order: the version's name, the request path, and
/// whether it was a mirror's copy (it carried [`COPY_HEADER`]).
pub type VersionLog = Arc<Mutex<Vec<(&'static str, String, bool)>>>;

/// A header a test sets on a mirror's copies, so a version can tell a copy from a primary
/// request.
pub const COPY_HEADER: &str = "x-copy";

/// A backend usable both as a primary (any body) and as a shadow (`Full<Bytes>`), as
/// `HttpUpstream` is: it reads the request body (a copy is only sent once the primary has
/// read the whole body), records what it got and answers with its own name.
#[derive(Clone)]
pub struct Version {
    pub name: &'static str,
    pub log: VersionLog,
}

type VersionFuture =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for Version
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = VersionFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let copy = req.headers().contains_key(COPY_HEADER);
        let path = req.uri().path().to_owned();
        self.log.lock().unwrap().push((self.name, path, copy));
        let name = self.name;
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            Ok(Response::new(Full::from(name)))
        })
    }
}

/// How many primary requests (`copy == false`) or copies version `name` got.
pub fn count(log: &VersionLog, name: &str, copy: bool) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(n, _, c)| *n == name && *c == copy)
        .count()
}
