//! An answer that reports the request as the server saw it, for the tests of what an
//! upstream sends.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

/// Answers with what the server saw: a text head (`method`, `uri`, `version`, one
/// `header name: value` line per header), a blank line, then the request body.
pub async fn echo_request(req: Request<Incoming>) -> Response<BoxBody<Bytes, Infallible>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let mut out = format!(
        "method {}\nuri {}\nversion {:?}\n",
        parts.method, parts.uri, parts.version
    );
    for (name, value) in &parts.headers {
        out.push_str(&format!("header {}: {}\n", name, value.to_str().unwrap()));
    }
    out.push('\n');
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Response::new(Full::new(Bytes::from(bytes)).boxed())
}

/// What `echo_request` reported.
#[derive(Debug)]
pub struct Echoed {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Echoed {
    pub async fn read(res: Response<Incoming>) -> Self {
        assert_eq!(res.status(), 200);
        let all = res.into_body().collect().await.unwrap().to_bytes();
        let split = all
            .windows(2)
            .position(|w| w == b"\n\n")
            .expect("echo head ends with a blank line");
        let head = std::str::from_utf8(&all[..split]).unwrap();
        let mut echoed = Echoed {
            method: String::new(),
            uri: String::new(),
            version: String::new(),
            headers: Vec::new(),
            body: all.slice(split + 2..),
        };
        for line in head.lines() {
            let (key, rest) = line.split_once(' ').unwrap();
            match key {
                "method" => echoed.method = rest.to_owned(),
                "uri" => echoed.uri = rest.to_owned(),
                "version" => echoed.version = rest.to_owned(),
                "header" => {
                    let (name, value) = rest.split_once(": ").unwrap();
                    echoed.headers.push((name.to_owned(), value.to_owned()));
                }
                other => panic!("unexpected echo line {other}"),
            }
        }
        echoed
    }

    /// All values of header `name`.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}
