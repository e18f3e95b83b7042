//! YAML as the Istio reader sees it: a spanned tree, documents, and typed field access.
//!
//! Parsing into a generic tree first (rather than straight into typed structs) gives every
//! error a field path, a line and a column, and lets ignored Istio fields become warnings.
//!
//! Imports run `access` -> `documents` -> `characters`, `tree`, with `site` below
//! `access`.

mod access;
mod characters;
mod checked;
mod deserializer;
mod documents;
mod entries;
mod field_names;
mod leftover;
mod located;
mod read_error;
mod site;
mod tree;

pub(crate) use access::{Ctx, Field, Fields, Result};
pub(crate) use checked::{LabelSet, Name};
pub(crate) use deserializer::read;
pub(crate) use documents::{check_characters, parse_document, split_documents};
pub(crate) use entries::Entries;
pub(crate) use leftover::Leftover;
pub(crate) use located::Located;
pub(crate) use site::{Site, Warning};
pub(crate) use tree::{Node, Value};
