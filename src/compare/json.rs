//! JSON bodies compared structurally: each differing value reported at its path
//! (`$.items[3].price`), ignored paths skipped.

use bytes::Bytes;
use serde_json::Value;

use super::config::CompareConfig;
use crate::mirror::Difference;

/// The body as a JSON object or array, if it is one.
pub(crate) fn parse_json(body: &Bytes) -> Option<Value> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    // Only documents that can be JSON objects or arrays: "1" and "true" are not APIs.
    if *first != b'{' && *first != b'[' {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// Every difference between two JSON documents at or under `path`, in key order.
pub(crate) fn diff_json(
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
