//! Document splitting: a multi-document YAML stream cut at its markers, each document
//! parsed on its own with errors on the file's lines.

use serde_saphyr::budget::BudgetBreach;

use super::tree::{Node, Value};
use crate::istio::error::ConfigError;

/// Configs are shallow (about ten levels); the cap keeps recursion far from the stack limit.
const MAX_DEPTH: usize = 64;

/// One YAML document of a multi-document file.
#[derive(Debug)]
pub(crate) struct Document<'a> {
    /// 1-based position in the file, empty documents included.
    pub(crate) index: usize,
    text: &'a str,
    /// Lines before this document in the file.
    pub(crate) line_offset: usize,
}

/// Splits a YAML stream at its document markers, so each document parses on its own and
/// errors can name their document.
///
/// YAML forbids a line starting with `---` or `...` (then a blank or the line's end) inside
/// any content, so such a line is always a marker.
pub(crate) fn split_documents(input: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 0;
    // Whether the current piece holds a document (a `---` or content), not just comments.
    let mut has_doc = false;
    let mut offset = 0;
    for (line_no, line) in lines(input).enumerate() {
        let marker = marker(line);
        if marker == Some("---") && has_doc {
            push_doc(&mut docs, &input[start..offset], start_line);
            start = offset;
            start_line = line_no;
        }
        match marker {
            Some("---") => has_doc = true,
            Some(_) => {
                if has_doc {
                    push_doc(&mut docs, &input[start..offset + line.len()], start_line);
                }
                start = offset + line.len();
                start_line = line_no + 1;
                has_doc = false;
            }
            None => has_doc |= is_content(line),
        }
        offset += line.len();
    }
    if has_doc {
        push_doc(&mut docs, &input[start..], start_line);
    }
    docs
}

/// Lines with their breaks, where a break is `\n`, `\r\n` or a lone `\r`, as YAML counts.
fn lines(input: &str) -> impl Iterator<Item = &str> {
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = match rest.find(['\n', '\r']) {
            None => rest.len(),
            Some(i) if rest[i..].starts_with("\r\n") => i + 2,
            Some(i) => i + 1,
        };
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// The 1-based line and column just past the end of `text`.
fn end_of(text: &str) -> (usize, usize) {
    let mut end = (1, 1);
    for line in lines(text) {
        end = if line.ends_with(['\n', '\r']) {
            (end.0 + 1, 1)
        } else {
            (end.0, line.chars().count() + 1)
        };
    }
    end
}

fn push_doc<'a>(docs: &mut Vec<Document<'a>>, text: &'a str, line_offset: usize) {
    docs.push(Document {
        index: docs.len() + 1,
        text,
        line_offset,
    });
}

fn marker(line: &str) -> Option<&'static str> {
    let m = if line.starts_with("---") {
        "---"
    } else if line.starts_with("...") {
        "..."
    } else {
        return None;
    };
    match line.as_bytes().get(3) {
        None | Some(b' ' | b'\t' | b'\r' | b'\n') => Some(m),
        _ => None,
    }
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !(t.is_empty() || t.starts_with('#') || line.starts_with('%'))
}

/// Parses one document; `None` when it is empty or null.
pub(crate) fn parse_document(doc: &Document<'_>) -> Result<Option<Node>, ConfigError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH },
        // YAML 1.2: only `true`/`false` are booleans, so `canary: yes` stays a string.
        strict_booleans: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Node>(doc.text, options) {
        Ok(Node {
            value: Value::Null, ..
        }) => Ok(None),
        Ok(node) => Ok(Some(node)),
        Err(err) => {
            let err = err.without_snippet();
            let location = err.location();
            let mut message = err.to_string();
            if let serde_saphyr::Error::Budget {
                breach: BudgetBreach::Depth { .. },
                ..
            } = err
            {
                message = format!("nested deeper than {MAX_DEPTH} levels");
            } else if let Some(loc) = location {
                // The location is reported separately, shifted to the file's lines.
                let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_owned();
                }
            }
            let known = |n: u64| (n > 0).then_some(n as usize);
            let mut line = location.and_then(|l| known(l.line()));
            let mut column = location.and_then(|l| known(l.column()));
            // The parser may place an error at end of input one line past the text.
            let end = end_of(doc.text);
            if line.is_some_and(|l| l > end.0) {
                (line, column) = (Some(end.0), Some(end.1));
            }
            Err(ConfigError {
                document: Some(doc.index),
                resource: None,
                path: String::new(),
                line: line.map(|l| l + doc.line_offset),
                column,
                message: format!("invalid YAML: {message}"),
            })
        }
    }
}
