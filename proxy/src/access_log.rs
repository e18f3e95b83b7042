//! `--access-log`: one JSON line per request on stdout, written when the response has been
//! sent (or the client went away before its end).

use std::io::Write;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use http::Method;
use serde::Serialize;

use crate::decision::{Decision, Decisions};

/// A request on its way: what the line will say about it.
#[derive(Debug)]
pub(crate) struct Entry {
    time: SystemTime,
    started: Instant,
    client: IpAddr,
    method: Method,
    path: String,
    status: u16,
    bytes: u64,
    decisions: Decisions,
}

impl Entry {
    pub(crate) fn start(client: IpAddr, method: &Method, path: &str) -> Self {
        Self {
            time: SystemTime::now(),
            started: Instant::now(),
            client,
            method: method.clone(),
            path: path.to_owned(),
            status: 0,
            bytes: 0,
            decisions: Decisions::default(),
        }
    }

    /// Where the mirrors record their decisions on this request.
    pub(crate) fn decisions(&self) -> Decisions {
        self.decisions.clone()
    }

    pub(crate) fn answered(&mut self, status: u16) {
        self.status = status;
    }

    /// Response body bytes sent.
    pub(crate) fn sent(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }

    /// Writes the line: the response has ended, `complete` or cut short.
    pub(crate) fn finish(self, complete: bool) {
        let line = Line {
            time: humantime::format_rfc3339_millis(self.time).to_string(),
            client: self.client,
            method: self.method.as_str(),
            path: &self.path,
            status: self.status,
            duration_ms: (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            bytes: self.bytes,
            complete,
            mirror: InOrder(self.decisions.taken()),
        };
        // Serializing these fields cannot fail.
        if let Ok(mut json) = serde_json::to_vec(&line) {
            json.push(b'\n');
            // One write per line, under the lock, so lines never interleave. A closed
            // stdout must not take the proxy down.
            let _ = std::io::stdout().lock().write_all(&json);
        }
    }
}

/// One access log line.
#[derive(Serialize)]
struct Line<'a> {
    /// When the request arrived, RFC 3339 in UTC.
    time: String,
    client: IpAddr,
    method: &'a str,
    /// The path as the client sent it, without the query (which may carry secrets).
    path: &'a str,
    status: u16,
    /// From arrival to the end of the response body.
    duration_ms: f64,
    /// Response body bytes sent.
    bytes: u64,
    /// Whether the response body was sent to its end.
    complete: bool,
    /// Each mirror's decision, by mirror name, in the order the mirrors saw the request.
    mirror: InOrder,
}

/// Mirror names and their decisions, as a JSON object in the order they came.
struct InOrder(Vec<Decision>);

impl Serialize for InOrder {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (mirror, decision) in &self.0 {
            map.serialize_entry(&**mirror, decision)?;
        }
        map.end()
    }
}
