//! Document splitting: a multi-document YAML stream cut at its markers, each document
//! parsed on its own with errors on the file's lines.

use std::path::PathBuf;
use std::sync::Arc;

use serde_saphyr::budget::BudgetBreach;

use super::characters::first_forbidden;
use super::tree::{Node, Value};
use crate::istio::error::ConfigError;

/// Configs are shallow (about ten levels, a dozen inside a `List`); the cap keeps the
/// parser's recursion well inside a 2 MiB thread stack, even in a debug build.
const MAX_DEPTH: usize = 32;
/// Values (mappings, lists, scalars) in one document: a large VirtualService has a few
/// thousand; the cap bounds the memory a hostile input can take.
const MAX_NODES: usize = 250_000;

/// One YAML document of a multi-document file.
#[derive(Debug)]
pub(crate) struct Document<'a> {
    /// The file the text came from, when it came from one.
    pub(crate) file: Option<Arc<PathBuf>>,
    /// Position of that text among the inputs read together, from 0.
    pub(crate) input: usize,
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
pub(crate) fn split_documents(
    input: &str,
    file: Option<Arc<PathBuf>>,
    order: usize,
) -> Vec<Document<'_>> {
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
    for doc in &mut docs {
        doc.file = file.clone();
        doc.input = order;
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
        file: None,
        input: 0,
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

/// Refuses a character YAML forbids (a NUL, another control character) with its line,
/// column and document, before anything is parsed: a parser may take a NUL for the end
/// of the text and silently drop what follows.
pub(crate) fn check_characters(
    input: &str,
    file: Option<&Arc<PathBuf>>,
    docs: &[Document<'_>],
) -> Result<(), ConfigError> {
    let Some(forbidden) = first_forbidden(input) else {
        return Ok(());
    };
    let document = docs
        .iter()
        .find(|doc| {
            forbidden.line > doc.line_offset
                && forbidden.line <= doc.line_offset + lines(doc.text).count()
        })
        .map(|doc| doc.index);
    Err(ConfigError {
        file: file.cloned(),
        document,
        resource: None,
        path: String::new(),
        line: Some(forbidden.line),
        column: Some(forbidden.column),
        message: forbidden.message().into(),
    })
}

/// What a parser limit that was reached means, in words.
fn budget_message(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => format!("nested deeper than {MAX_DEPTH} levels"),
        BudgetBreach::Nodes { .. } => format!(
            "the document has more than {MAX_NODES} values (mappings, lists and scalars); \
             split it into several documents"
        ),
        BudgetBreach::Events { events } => format!(
            "the document is too large for the YAML parser ({events} parser events); split it \
             into several documents"
        ),
        BudgetBreach::Aliases { aliases } => {
            format!("the document uses too many aliases (`*name`): {aliases}")
        }
        BudgetBreach::Anchors { anchors } => {
            format!("the document defines too many anchors (`&name`): {anchors}")
        }
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => format!(
            "the document uses {aliases} aliases for {anchors} anchors, which could expand \
             without bound; write the values out"
        ),
        BudgetBreach::MergeKeys { merge_keys } => {
            format!("the document uses too many merge keys (`<<`): {merge_keys}")
        }
        BudgetBreach::ScalarBytes { total_scalar_bytes } => format!(
            "the document's text values are too large ({total_scalar_bytes} bytes); split it \
             into several documents"
        ),
        BudgetBreach::Documents { documents } => {
            format!("too many YAML documents in one piece of input: {documents}")
        }
        _ => "the document is too large for the YAML parser; split it into several documents"
            .to_owned(),
    }
}

/// Parses one document; `None` when it is empty or null.
pub(crate) fn parse_document(doc: &Document<'_>) -> Result<Option<Node>, ConfigError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH, max_nodes: MAX_NODES },
        // YAML 1.2: only `true`/`false` are booleans, so `canary: yes` stays a string.
        strict_booleans: true,
        // `.nan` and `.inf` are no number to Istio: kept as text, refused where a number
        // is expected, with the field's path.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::AsString,
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
            // Advice to the parser's caller, not to the person who wrote the YAML.
            if let Some(start) = message.find(", set DuplicateKeyPolicy") {
                message.truncate(start);
            }
            if let serde_saphyr::Error::Budget { breach, .. } = &err {
                message = budget_message(breach);
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
                file: doc.file.clone(),
                document: Some(doc.index),
                resource: None,
                path: String::new(),
                line: line.map(|l| l + doc.line_offset),
                column,
                message: format!("invalid YAML: {message}").into(),
            })
        }
    }
}
