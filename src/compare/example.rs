//! `Example`: one request whose answers differed at a field, with both values, bounded in
//! size and with credentials redacted, so a report can show *how* answers differ.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::Request;
use http::header::CONTENT_TYPE;
use http_body::Body;
use http_body_util::Full;
use serde_json::Value;

use super::redact::{REDACTED, is_secret_name, path_is_secret, redact_json, redact_pairs};
use crate::mirror::Difference;

/// Longest request line kept, in characters.
const MAX_REQUEST_LINE: usize = 512;
/// Request headers kept per example.
const MAX_HEADERS: usize = 16;
/// Longest header value kept, in characters.
const MAX_HEADER_VALUE: usize = 128;
/// Longest request body excerpt kept, in characters.
const MAX_BODY: usize = 256;
/// Longest value (either side) kept, in characters.
const MAX_VALUE: usize = 512;

/// One request whose answers differed at a field, as
/// [`FieldReport::examples`](super::FieldReport::examples) keeps it: what was asked, and
/// what each side answered at that field.
///
/// Everything in it is bounded (request line 512 characters, 16 headers of at most 128,
/// body 256, values 512; a cut ends with `…`) and free of credentials: the headers are the
/// copy's, after the layer's `remove_header`/`strip_credentials`, and any header, query
/// parameter, form field or JSON key whose name looks like a secret (`authorization`,
/// `cookie`, `*token*`, `*secret*`, `*password*`, `*session*`, `api_key`, `key`, ...) shows
/// `[redacted]` instead of its value.
///
/// ```
/// # #[cfg(feature = "compare")]
/// # fn show(report: &tower_mirror::compare::CompareReport) {
/// for route in &report.routes {
///     for field in &route.fields {
///         if let Some(example) = field.examples.first() {
///             println!("{} {}: {:?} != {:?}", example.request, field.field, example.primary, example.shadow);
///         }
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Example {
    /// Method, path and query of the copy, e.g. `GET /products/7?sort=asc`.
    pub request: String,
    /// The copy's headers as sent, in order (lowercase names).
    pub headers: Vec<(String, String)>,
    /// The copy's body, if any: text (JSON and forms with secrets redacted), or its length
    /// when binary.
    pub body: Option<String>,
    /// The primary's value at the field: a status, a header value, JSON text, the first
    /// differing line (numbered, after up to two lines of context), or length and hash.
    /// `None` when the primary has no such field.
    pub primary: Option<String>,
    /// The shadow's value at the field, as for `primary`.
    pub shadow: Option<String>,
}

/// The request half of an example, made once per comparison and shared by its fields.
#[derive(Debug)]
pub(crate) struct RequestSample {
    request: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl RequestSample {
    /// The copy as the shadow received it, bounded and redacted.
    pub(crate) fn new(copy: &Request<Full<Bytes>>) -> Arc<Self> {
        let uri = copy.uri();
        let mut request = format!("{} {}", copy.method(), uri.path());
        if let Some(query) = uri.query() {
            request.push('?');
            request.push_str(&redact_pairs(query));
        }
        let headers = copy
            .headers()
            .iter()
            .take(MAX_HEADERS)
            .map(|(name, value)| {
                let shown = if value.is_sensitive() || is_secret_name(name.as_str()) {
                    REDACTED.to_owned()
                } else {
                    truncated(&String::from_utf8_lossy(value.as_bytes()), MAX_HEADER_VALUE)
                };
                (name.as_str().to_owned(), shown)
            })
            .collect();
        let content_type = copy
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let body = body_excerpt(&full_bytes(copy.body()), content_type);
        Arc::new(Self {
            request: truncated(&request, MAX_REQUEST_LINE),
            headers,
            body,
        })
    }
}

/// An example as the report state keeps it: the shared request and this field's values.
#[derive(Debug, Clone)]
pub(crate) struct StoredExample {
    request: Arc<RequestSample>,
    primary: Option<String>,
    shadow: Option<String>,
}

impl StoredExample {
    pub(crate) fn new(request: Arc<RequestSample>, difference: &Difference) -> Self {
        let (primary, shadow) = values(difference);
        Self {
            request,
            primary,
            shadow,
        }
    }

    pub(crate) fn to_example(&self) -> Example {
        Example {
            request: self.request.request.clone(),
            headers: self.request.headers.clone(),
            body: self.request.body.clone(),
            primary: self.primary.clone(),
            shadow: self.shadow.clone(),
        }
    }
}

/// Both sides' values at a difference, bounded and redacted.
fn values(difference: &Difference) -> (Option<String>, Option<String>) {
    let both = |f: &dyn Fn(&Option<String>) -> Option<String>, p, s| (f(p), f(s));
    match difference {
        Difference::Status { primary, shadow } => {
            (Some(primary.to_string()), Some(shadow.to_string()))
        }
        Difference::Header {
            name,
            primary,
            shadow,
        } => {
            let secret = is_secret_name(name);
            let shown = move |v: &Option<String>| {
                v.as_deref().map(|v| {
                    if secret {
                        REDACTED.to_owned()
                    } else {
                        truncated(v, MAX_VALUE)
                    }
                })
            };
            both(&shown, primary, shadow)
        }
        Difference::JsonField {
            path,
            primary,
            shadow,
        } => {
            let secret = path_is_secret(path);
            let shown = move |v: &Option<String>| {
                v.as_deref().map(|v| {
                    if secret {
                        REDACTED.to_owned()
                    } else {
                        truncated(&redacted_json_text(v), MAX_VALUE)
                    }
                })
            };
            both(&shown, primary, shadow)
        }
        Difference::TextLine {
            line,
            context,
            primary,
            shadow,
        } => {
            let shown = |v: &Option<String>| {
                v.as_deref().map(|text| {
                    let first = line.saturating_sub(context.len());
                    let mut out = String::new();
                    for (n, context) in (first..).zip(context) {
                        out.push_str(&format!("{n}  {context}\n"));
                    }
                    out.push_str(&format!("{line}  {text}"));
                    truncated(&out, MAX_VALUE)
                })
            };
            both(&shown, primary, shadow)
        }
        Difference::Binary {
            primary_len,
            shadow_len,
            primary_hash,
            shadow_hash,
        } => (
            Some(format!("{primary_len} bytes, fnv {primary_hash:016x}")),
            Some(format!("{shadow_len} bytes, fnv {shadow_hash:016x}")),
        ),
        Difference::Body {
            primary_len,
            shadow_len,
        } => (
            Some(format!("{primary_len} bytes")),
            Some(format!("{shadow_len} bytes")),
        ),
    }
}

/// JSON text with its secret-named keys redacted (objects a difference holds whole).
fn redacted_json_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut value @ (Value::Object(_) | Value::Array(_))) => {
            redact_json(&mut value);
            value.to_string()
        }
        _ => text.to_owned(),
    }
}

/// A request body as an example shows it: text with secrets redacted, or its length.
fn body_excerpt(body: &Bytes, content_type: &str) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Some(format!("({} bytes, binary)", body.len()));
    };
    let shown = if content_type.starts_with("application/x-www-form-urlencoded") {
        redact_pairs(text)
    } else {
        redacted_json_text(text)
    };
    Some(truncated(&shown, MAX_BODY))
}

/// The copy's body: a `Full` yields its one frame at once, so a single poll reads it.
fn full_bytes(body: &Full<Bytes>) -> Bytes {
    let mut body = body.clone();
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// At most `max` characters of `text`, ending with `…` when cut.
pub(crate) fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncated("héllo", 2), "hé…");
        assert_eq!(truncated("héllo", 5), "héllo");
    }

    #[test]
    fn request_sample_is_redacted_and_bounded() {
        let copy = Request::post("/login?user=a&access_token=t")
            .header("content-type", "application/json")
            .header("x-api-key", "k")
            .header("accept", "a".repeat(1000))
            .body(Full::new(Bytes::from(r#"{"user":"a","password":"p"}"#)))
            .unwrap();
        let sample = RequestSample::new(&copy);
        assert_eq!(sample.request, "POST /login?user=a&access_token=[redacted]");
        assert_eq!(sample.headers[1], ("x-api-key".into(), "[redacted]".into()));
        assert_eq!(sample.headers[2].1.chars().count(), MAX_HEADER_VALUE + 1);
        assert_eq!(
            sample.body.as_deref(),
            Some(r#"{"password":"[redacted]","user":"a"}"#)
        );
    }

    #[test]
    fn text_values_are_numbered_with_context() {
        let d = Difference::TextLine {
            line: 3,
            context: vec!["a".into(), "b".into()],
            primary: Some("c".into()),
            shadow: None,
        };
        assert_eq!(values(&d), (Some("1  a\n2  b\n3  c".into()), None));
    }
}
