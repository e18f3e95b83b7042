//! What differs between two responses: status, headers, body (JSON structure, text lines
//! or bytes).

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::body_diff::diff_bodies;
use super::config::CompareConfig;
use super::decode::decode_body;
use super::json::{diff_json, parse_json};
use crate::frames::GatheredBody;
use crate::mirror::Difference;
use crate::mirror::observe::ShadowAnswer;

/// A response as far as comparison goes: head, and the body up to the cap.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The primary's answer as its body streamed to the client: frames not yet joined, so
/// the join happens on the copy's task, not on the client's path.
#[derive(Debug)]
pub(crate) struct CapturedFrames {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) frames: Vec<Bytes>,
}

/// What [`CompareBody`](super::CompareBody) sends the comparison: the primary's answer,
/// or why it has none to compare.
pub(crate) type PrimaryCapture = Result<CapturedFrames, &'static str>;

impl CapturedFrames {
    pub(crate) fn join(self) -> Captured {
        Captured {
            status: self.status,
            headers: self.headers,
            body: GatheredBody::Frames(self.frames).join(),
        }
    }
}

impl Captured {
    /// The shadow's answer, if its body was kept (it fit under the compare cap).
    pub(crate) fn from_shadow(answer: ShadowAnswer) -> Option<Self> {
        Some(Self {
            status: answer.status,
            headers: answer.headers,
            body: answer.body?,
        })
    }

    /// The answer with its content codings undone (see [`decode_body`]).
    pub(crate) fn decoded(mut self, max: usize) -> Result<Self, Cow<'static, str>> {
        self.body = decode_body(&mut self.headers, self.body, max)?;
        Ok(self)
    }
}

/// Every difference between `primary` and `shadow` that `config` does not ignore, up to
/// `config.max_differences`.
pub(crate) fn diff(
    primary: &Captured,
    shadow: &Captured,
    config: &CompareConfig,
) -> Vec<Difference> {
    let mut out = Vec::new();
    if primary.status != shadow.status {
        out.push(Difference::Status {
            primary: primary.status.as_u16(),
            shadow: shadow.status.as_u16(),
        });
    }
    diff_headers(&primary.headers, &shadow.headers, config, &mut out);
    if primary.body != shadow.body {
        match (parse_json(&primary.body), parse_json(&shadow.body)) {
            (Some(p), Some(s)) => {
                let mut path = String::from("$");
                diff_json(&p, &s, &mut path, config, &mut out);
            }
            _ => out.push(diff_bodies(&primary.body, &shadow.body)),
        }
    }
    out.truncate(config.max_differences);
    out
}

fn diff_headers(
    primary: &HeaderMap,
    shadow: &HeaderMap,
    config: &CompareConfig,
    out: &mut Vec<Difference>,
) {
    let joined = |headers: &HeaderMap, name| {
        let values: Vec<_> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let mut names: Vec<_> = primary.keys().chain(shadow.keys()).collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    for name in names {
        if config.ignored_headers.contains(name) {
            continue;
        }
        let (p, s) = (joined(primary, name), joined(shadow, name));
        if p != s {
            out.push(Difference::Header {
                name: name.as_str().to_owned(),
                primary: p,
                shadow: s,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(status: u16, body: &'static str) -> Captured {
        Captured {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn json_paths_name_the_field() {
        let p = captured(200, r#"{"items":[{"price":1},{"price":2}],"n":1}"#);
        let s = captured(200, r#"{"items":[{"price":1},{"price":3}],"n":1.0}"#);
        let d = diff(&p, &s, &CompareConfig::default());
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].field(), "$.items[1].price");
        assert_eq!(d[0].to_string(), "$.items[1].price: 2 != 3");
    }

    #[test]
    fn ignored_paths_with_wildcards() {
        let p = captured(200, r#"{"items":[{"at":1,"id":1}]}"#);
        let s = captured(200, r#"{"items":[{"at":2,"id":1}],"extra":true}"#);
        let config = CompareConfig::default()
            .ignore_json_path("$.items[*].at")
            .ignore_json_path("$.extra");
        assert!(diff(&p, &s, &config).is_empty());
    }

    #[test]
    fn non_json_bodies_compare_as_text() {
        let d = diff(
            &captured(200, "a"),
            &captured(500, "bb"),
            &CompareConfig::default(),
        );
        assert_eq!(
            d[0],
            Difference::Status {
                primary: 200,
                shadow: 500
            }
        );
        assert_eq!(d[1].to_string(), r#"body line 1: "a" != "bb""#);
    }

    #[test]
    fn odd_keys_are_quoted() {
        let p = captured(200, r#"{"a b":1}"#);
        let s = captured(200, r#"{"a b":2}"#);
        assert_eq!(
            diff(&p, &s, &CompareConfig::default())[0].field(),
            r#"$["a b"]"#
        );
    }
}
