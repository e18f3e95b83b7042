//! What differs between two responses: status, headers, body (bytes or JSON structure).

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::config::CompareConfig;
use crate::frames::join;
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

impl CapturedFrames {
    pub(crate) fn join(self) -> Captured {
        Captured {
            status: self.status,
            headers: self.headers,
            body: join(self.frames),
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
            _ => out.push(Difference::Body {
                primary_len: primary.body.len(),
                shadow_len: shadow.body.len(),
            }),
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

fn parse_json(body: &Bytes) -> Option<Value> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    // Only documents that can be JSON objects or arrays: "1" and "true" are not APIs.
    if *first != b'{' && *first != b'[' {
        return None;
    }
    serde_json::from_slice(body).ok()
}

fn diff_json(
    primary: &Value,
    shadow: &Value,
    path: &mut String,
    config: &CompareConfig,
    out: &mut Vec<Difference>,
) {
    if out.len() >= config.max_differences || config.ignores_path(path) {
        return;
    }
    let len = path.len();
    match (primary, shadow) {
        (Value::Object(p), Value::Object(s)) => {
            let mut keys: Vec<&String> = p.keys().chain(s.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                push_key(path, key);
                match (p.get(key), s.get(key)) {
                    (Some(pv), Some(sv)) => diff_json(pv, sv, path, config, out),
                    (pv, sv) => one_sided(path, pv, sv, config, out),
                }
                path.truncate(len);
            }
        }
        (Value::Array(p), Value::Array(s)) => {
            for i in 0..p.len().max(s.len()) {
                path.push_str(&format!("[{i}]"));
                match (p.get(i), s.get(i)) {
                    (Some(pv), Some(sv)) => diff_json(pv, sv, path, config, out),
                    (pv, sv) => one_sided(path, pv, sv, config, out),
                }
                path.truncate(len);
            }
        }
        (Value::Number(p), Value::Number(s)) if p.as_f64() == s.as_f64() => {}
        (p, s) if p == s => {}
        (p, s) => out.push(Difference::JsonField {
            path: path.clone(),
            primary: Some(p.to_string()),
            shadow: Some(s.to_string()),
        }),
    }
}

fn one_sided(
    path: &str,
    primary: Option<&Value>,
    shadow: Option<&Value>,
    config: &CompareConfig,
    out: &mut Vec<Difference>,
) {
    if out.len() < config.max_differences && !config.ignores_path(path) {
        out.push(Difference::JsonField {
            path: path.to_owned(),
            primary: primary.map(Value::to_string),
            shadow: shadow.map(Value::to_string),
        });
    }
}

/// `$.name` for plain keys, `$["odd key"]` otherwise, so paths stay unambiguous.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
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
    fn non_json_bodies_compare_as_bytes() {
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
        assert_eq!(
            d[1],
            Difference::Body {
                primary_len: 1,
                shadow_len: 2
            }
        );
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
