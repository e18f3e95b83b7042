//! Values checked as they are read, so derived structs refuse them where they stand: a
//! non-empty [`Name`], and [`LabelSet`], a mapping of labels.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::route::Labels;

/// A required, non-empty string (a resource, host or subset name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Name(pub(crate) String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(Name(text))
    }
}

/// A `key: value` mapping of labels, every value a string (`""` when empty).
#[derive(Clone, Debug, Default)]
pub(crate) struct LabelSet(pub(crate) Labels);

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(LabelsVisitor)
    }
}

struct LabelsVisitor;

impl<'de> Visitor<'de> for LabelsVisitor {
    type Value = LabelSet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of labels")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LabelSet, A::Error> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        while let Some(LabelName(name)) = map.next_key()? {
            let LabelValue(value) = map.next_value()?;
            pairs.push((name, value));
        }
        Ok(LabelSet(pairs.into_iter().collect()))
    }
}

struct LabelName(String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.trim().is_empty() {
            return Err(de::Error::custom("label names must not be empty"));
        }
        Ok(LabelName(name))
    }
}

/// A label's value: a string; null is refused rather than read as absent.
struct LabelValue(String);

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(LabelValueVisitor)
    }
}

struct LabelValueVisitor;

impl<'de> Visitor<'de> for LabelValueVisitor {
    type Value = LabelValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a label value")
    }

    fn visit_none<E: de::Error>(self) -> Result<LabelValue, E> {
        Err(E::custom(
            "a label needs a value; write \"\" for an empty one",
        ))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<LabelValue, D::Error> {
        String::deserialize(deserializer).map(LabelValue)
    }
}
