//! Credentials never reach a report: a value whose name (header, query parameter, form or
//! JSON key) looks like a secret is replaced, on top of what the layer already removed
//! from the copy (`remove_header`, `strip_credentials`).

use serde_json::Value;

/// What a report shows instead of a secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// Names that are secrets when they are the whole name (`?key=`, `?sig=`).
const SECRET_NAMES: [&str; 7] = ["key", "sig", "auth", "pwd", "pass", "jwt", "otp"];

/// Names that are secrets when they contain one of these (`x-auth-token`, `set-cookie`,
/// `client_secret`).
const SECRET_PARTS: [&str; 13] = [
    "authorization",
    "cookie",
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api-key",
    "api_key",
    "session",
    "credential",
    "signature",
    "private",
];

/// Whether a header, query parameter or JSON key called `name` may carry a credential.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&name.as_str()) || SECRET_PARTS.iter().any(|part| name.contains(part))
}

/// `a=1&token=x` → `a=1&token=[redacted]`: a query string or a form body.
pub(crate) fn redact_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(&percent_decoded(name)) => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Replaces the value of every secret-named key, at any depth.
pub(crate) fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_name(key) {
                    *value = Value::String(REDACTED.to_owned());
                } else {
                    redact_json(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// Whether a JSON path (`$.session.id`, `$["api key"]`) goes through a secret-named key.
pub(crate) fn path_is_secret(path: &str) -> bool {
    path.split(['.', '['])
        .map(|segment| segment.trim_end_matches(']').trim_matches('"'))
        .filter(|name| {
            !name.is_empty() && *name != "$" && !name.bytes().all(|b| b.is_ascii_digit())
        })
        .any(is_secret_name)
}

/// `api%5Fkey` → `api_key`, so an encoded name is recognised too (lossy: names only).
fn percent_decoded(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                // Both digits checked just above.
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "Authorization",
            "cookie",
            "set-cookie",
            "x-auth-token",
            "access_token",
            "client_secret",
            "key",
            "X-API-Key",
            "sessionid",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["accept", "content-type", "id", "keyword", "price", "monkey"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn pairs_keep_order_and_hide_secrets() {
        assert_eq!(
            redact_pairs("q=shoes&access_token=abc&api%5Fkey=k&page=2"),
            "q=shoes&access_token=[redacted]&api%5Fkey=[redacted]&page=2"
        );
        assert_eq!(redact_pairs("flag&x=1"), "flag&x=1");
    }

    #[test]
    fn json_secrets_at_any_depth() {
        let mut value: Value =
            serde_json::from_str(r#"{"user":{"name":"a","password":"p"},"items":[{"token":1}]}"#)
                .unwrap();
        redact_json(&mut value);
        assert_eq!(
            value.to_string(),
            r#"{"items":[{"token":"[redacted]"}],"user":{"name":"a","password":"[redacted]"}}"#
        );
    }

    #[test]
    fn secret_paths() {
        assert!(path_is_secret("$.session.id"));
        assert!(path_is_secret(r#"$.auth["refresh_token"]"#));
        assert!(!path_is_secret("$.items[3].price"));
    }
}
