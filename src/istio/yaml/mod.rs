//! YAML as the Istio reader sees it: a spanned tree, documents, and a serde `Deserializer`
//! over that tree.
//!
//! Parsing into a generic tree first (rather than straight into typed structs) keeps each
//! value's line and column. The tree deserializer then reads it into the kinds' derived
//! structs: every error, including a derived struct's missing or unknown field, names its
//! field path, line and column, and scalars are strict (`name: 7` is not read as `"7"`).
//! [`Located`] keeps a value's place for checks made after reading, [`Entries`] the keys of
//! a free-form mapping, [`Leftover`] an unknown field for a reader to refuse after its own
//! checks; [`Name`] and [`LabelSet`] are checked as they are read.
//!
//! Imports run `deserializer` -> `leftover` -> `located` -> `ctx` -> `documents` ->
//! `characters`, `tree`, with `site`, `field_names` and `read_error` below; `entries` and
//! `checked` stand on `located` and serde alone.

mod characters;
mod checked;
mod ctx;
mod deserializer;
mod documents;
mod entries;
mod field_names;
mod leftover;
mod located;
mod read_error;
mod site;
mod tree;

pub(crate) use checked::{LabelSet, Name};
pub(crate) use ctx::{Ctx, Result};
pub(crate) use deserializer::read;
pub(crate) use documents::{check_characters, parse_document, split_documents};
pub(crate) use entries::Entries;
pub(crate) use leftover::Leftover;
pub(crate) use located::Located;
pub(crate) use site::{Site, Warning};
pub(crate) use tree::{Node, Value};
