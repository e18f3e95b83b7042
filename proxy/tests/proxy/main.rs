//! `tower-mirror-proxy` driven as a user drives it: the binary Cargo built for this test,
//! started with flags, talked to over loopback (port 0 everywhere), signalled by pid, and
//! killed by pid when a test ends.

mod access_log;
mod admin;
mod cli;
mod controls;
mod drain;
mod forwarding;
mod hardening;
#[cfg(feature = "metrics")]
mod metrics;
mod mirroring;
mod reload;
mod streaming;
#[cfg(feature = "rustls")]
mod tls;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Request;
use http_body_util::Full;
use serde_json::Value;
use support::loopback::{Answer, client, fetch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::proxy::Proxy;

/// The binary under test.
fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tower-mirror-proxy"))
}

/// Starts the proxy with `args`.
fn start<I>(args: I) -> Proxy
where
    I: IntoIterator,
    I::Item: AsRef<OsStr>,
{
    Proxy::start(binary(), args)
}

/// An endpoints file for `httpbin` with a `version: v1` and a `version: v2` instance.
fn httpbin_endpoints(v1: &str, v2: &str) -> String {
    format!(
        "httpbin:\n- {{labels: {{version: v1}}, url: {v1}}}\n- {{labels: {{version: v2}}, url: {v2}}}\n"
    )
}

/// A directory of its own under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tower-mirror-proxy-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `contents` to `name` in the directory; returns its path.
    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `http://127.0.0.1:PORT` -> `127.0.0.1:PORT`.
fn authority(url: &str) -> &str {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
}

/// Sends raw bytes on a fresh connection and reads until the peer closes or `limit`
/// passes; returns what was read.
async fn raw_exchange(url: &str, request: &[u8], limit: Duration) -> String {
    let mut stream = TcpStream::connect(authority(url)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw HTTP/1.1 answer (0 when there is none).
fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The admin address, from the line after `listening on`.
pub(crate) async fn admin_url(proxy: &mut support::proxy::Proxy) -> String {
    let line = proxy.line().await;
    line.strip_prefix("admin on ")
        .unwrap_or_else(|| panic!("unexpected line: {line}"))
        .to_owned()
}

pub(crate) async fn admin(url: &str, method: &str, path: &str) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(format!("{url}{path}"))
        .body(Full::default())
        .unwrap();
    fetch(&client(), req).await
}

pub(crate) async fn get_json(url: &str, path: &str) -> Value {
    let answer = admin(url, "GET", path).await;
    assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    serde_json::from_slice(&answer.body).unwrap()
}
