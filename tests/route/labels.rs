//! `Labels`: subset matching, the `key=value,...` text form and its errors.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use tower_mirror::route::{Labels, LabelsParseError};

fn hash(labels: &Labels) -> u64 {
    let mut h = DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

#[test]
fn extra_labels_on_the_backend_still_match() {
    let backend = Labels::from([("version", "v1"), ("zone", "a"), ("tier", "gold")]);
    assert!(backend.matches(&Labels::from([("version", "v1")])));
    assert!(backend.matches(&Labels::from([("zone", "a"), ("version", "v1")])));
    assert!(backend.matches(&backend.clone()));
}

#[test]
fn a_missing_or_different_label_does_not_match() {
    let backend = Labels::from([("version", "v1"), ("zone", "a")]);
    assert!(!backend.matches(&Labels::from([("version", "v2")])));
    assert!(!backend.matches(&Labels::from([("version", "v1"), ("region", "eu")])));
    assert!(!backend.matches(&Labels::from([("version", "")])));
    // Matching is one-way: the selector's labels must be on the backend, not vice versa.
    assert!(!Labels::from([("version", "v1")]).matches(&backend));
}

#[test]
fn the_empty_selector_matches_everything() {
    assert!(Labels::from([("version", "v1")]).matches(&Labels::new()));
    assert!(Labels::new().matches(&Labels::default()));
}

#[test]
fn order_of_construction_does_not_matter() {
    let a = Labels::from([("zone", "a"), ("version", "v1")]);
    let b: Labels = vec![
        ("version".to_owned(), "v1".to_owned()),
        ("zone".into(), "a".into()),
    ]
    .into_iter()
    .collect();
    assert_eq!(a, b);
    assert_eq!(hash(&a), hash(&b));
    assert_eq!(a.to_string(), "version=v1,zone=a");
}

#[test]
fn accessors() {
    let mut labels = Labels::from([("version", "v1"), ("version", "v2")]);
    assert_eq!(
        labels.get("version"),
        Some("v2"),
        "the last value of a key wins"
    );
    assert_eq!(labels.len(), 1);
    assert!(!labels.is_empty());
    assert_eq!(labels.insert("zone", "a"), None);
    let pairs: Vec<_> = labels.iter().collect();
    assert_eq!(pairs, [("version", "v2"), ("zone", "a")]);
    assert_eq!((&labels).into_iter().len(), 2);
    assert!(Labels::new().is_empty());
    assert_eq!(Labels::new().to_string(), "");
}

#[test]
fn parses_the_display_form() {
    let labels: Labels = "version=v1,zone=a".parse().unwrap();
    assert_eq!(labels, Labels::from([("version", "v1"), ("zone", "a")]));
    assert_eq!(labels.to_string().parse::<Labels>().unwrap(), labels);
}

#[test]
fn parsing_is_lenient_about_whitespace_empty_values_and_equals_in_values() {
    let labels: Labels = " zone = a , version=v1 ".parse().unwrap();
    assert_eq!(labels, Labels::from([("version", "v1"), ("zone", "a")]));
    assert_eq!(
        "canary=".parse::<Labels>().unwrap(),
        Labels::from([("canary", "")])
    );
    assert_eq!(
        "expr=a=b".parse::<Labels>().unwrap(),
        Labels::from([("expr", "a=b")])
    );
    assert_eq!("".parse::<Labels>().unwrap(), Labels::new());
    assert_eq!("  ".parse::<Labels>().unwrap(), Labels::new());
}

#[test]
fn parse_errors_say_what_to_fix() {
    let err = "version".parse::<Labels>().unwrap_err();
    assert_eq!(
        err,
        LabelsParseError::MissingEquals {
            pair: "version".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "label `version` has no `=`: write labels as `key=value` pairs separated by commas, \
         e.g. `version=v1,zone=a`"
    );

    let err = "zone=a,=v1".parse::<Labels>().unwrap_err();
    assert_eq!(err, LabelsParseError::EmptyKey { pair: "=v1".into() });
    assert_eq!(
        err.to_string(),
        "label `=v1` has an empty key: write it as `key=value`, e.g. `version=v1`"
    );

    let err = "version=v1,zone=a,version=v2"
        .parse::<Labels>()
        .unwrap_err();
    assert_eq!(
        err,
        LabelsParseError::DuplicateKey {
            key: "version".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "label key `version` appears more than once: give each key a single value"
    );

    for input in ["a=1,,b=2", "a=1,", ",a=1", ","] {
        let err = input.parse::<Labels>().unwrap_err();
        assert_eq!(
            err,
            LabelsParseError::EmptyPair {
                input: input.into()
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "labels `{input}` contain an empty pair: remove the extra comma (an empty \
                 string means no labels)"
            )
        );
    }
}

#[test]
fn parse_error_is_a_std_error() {
    let err: Box<dyn std::error::Error + Send + Sync> = "x".parse::<Labels>().unwrap_err().into();
    assert!(err.to_string().contains("`x`"));
}

fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    // The roundtrip holds for keys without `=`/`,` and values without `,`, neither with
    // surrounding whitespace; Kubernetes' label charset is well inside that.
    proptest::collection::btree_map(
        "[a-zA-Z0-9][a-zA-Z0-9._/-]{0,12}",
        "[a-zA-Z0-9._=-]{0,12}",
        0..8,
    )
}

proptest! {
    #[test]
    fn display_then_from_str_roundtrips(map in label_map()) {
        let labels: Labels = map.clone().into_iter().collect();
        let text = labels.to_string();
        let parsed: Labels = text.parse().unwrap();
        prop_assert_eq!(&parsed, &labels);
        prop_assert_eq!(parsed.len(), map.len());
    }

    #[test]
    fn from_str_never_panics(input in any::<String>()) {
        let _ = input.parse::<Labels>();
    }

    #[test]
    fn from_str_never_panics_on_label_like_input(input in "[a=, \t]{0,24}") {
        if let Ok(labels) = input.parse::<Labels>() {
            // Whatever parses prints back to something that parses to the same labels.
            prop_assert_eq!(labels.to_string().parse::<Labels>().unwrap(), labels);
        }
    }
}
