use serde::Deserialize;
use serde::de::IgnoredAny;

use super::read;
use crate::istio::error::ConfigError;
use crate::istio::yaml::checked::{LabelSet, Name};
use crate::istio::yaml::ctx::Ctx;
use crate::istio::yaml::documents::{parse_document, split_documents};
use crate::istio::yaml::located::Located;

/// Reads the one document of `yaml` as a `T`, owning what it keeps.
fn read_yaml<T: for<'n> Deserialize<'n>>(yaml: &str) -> Result<T, ConfigError> {
    let docs = split_documents(yaml, None, 0);
    let doc = &docs[0];
    let node = parse_document(doc)?.expect("the test gives a document");
    let mut warnings = Vec::new();
    let ctx = Ctx::new(doc, &mut warnings);
    read(&ctx, &node, &node, "")
}

fn refusal<T: for<'n> Deserialize<'n> + std::fmt::Debug>(
    yaml: &str,
) -> (String, usize, usize, String) {
    let err = read_yaml::<T>(yaml).expect_err("the input is wrong");
    (
        err.path().to_owned(),
        err.line().unwrap_or(0),
        err.column().unwrap_or(0),
        err.message().to_owned(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    spec: Spec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    http: Vec<Route>,
    mirror_percent: Option<i128>,
    #[serde(rename = "exportTo")]
    _export_to: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    name: Option<Name>,
    weight: Option<Located<i128>>,
    enabled: Option<bool>,
    percent: Option<f64>,
    labels: Option<LabelSet>,
}

#[test]
fn an_error_names_the_path_and_the_value() {
    let yaml = "spec:\n  http:\n  - name: a\n  - name: b\n    weight: heavy\n";
    assert_eq!(
        refusal::<Doc>(yaml),
        (
            "spec.http[1].weight".to_owned(),
            5,
            13,
            "expected an integer, got the string \"heavy\"".to_owned()
        )
    );
}

#[test]
fn a_missing_field_points_at_the_key_of_its_mapping() {
    // The mapping below `spec:` starts on line 2; the error is about `spec`, on line 1.
    let yaml = "spec:\n  mirrorPercent: 5\n";
    assert_eq!(
        refusal::<Doc>(yaml),
        (
            "spec.http".to_owned(),
            1,
            1,
            "missing required field `http`".to_owned()
        )
    );
    // In a list, the item itself.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }
    assert_eq!(
        refusal::<Vec<Item>>("- name: a\n- {other: 1}\n"),
        (
            "[1].name".to_owned(),
            2,
            3,
            "missing required field `name`".to_owned()
        )
    );
}

#[test]
fn scalars_are_not_coerced() {
    let cases = [
        (
            "spec: {http: [{name: 7}]}",
            "expected a string, got the integer 7; quote it to make it a string",
        ),
        (
            "spec: {http: [{name: true}]}",
            "expected a string, got the boolean true; quote it to make it a string",
        ),
        (
            "spec: {http: [{name: [a]}]}",
            "expected a string, got a list",
        ),
        ("spec: {http: [{name: ' '}]}", "must not be empty"),
        (
            "spec: {http: [{enabled: 1}]}",
            "expected `true` or `false`, got the integer 1",
        ),
        (
            "spec: {http: [{enabled: 'true'}]}",
            "expected `true` or `false`, got the string \"true\"",
        ),
        (
            "spec: {http: [{weight: 1.5}]}",
            "expected an integer, got the number 1.5",
        ),
        (
            "spec: {http: [{percent: '5'}]}",
            "expected a number, got the string \"5\"",
        ),
        ("spec: {http: {}}", "expected a list, got a mapping"),
        ("spec: [1]", "expected a mapping, got a list"),
        (
            "spec: {http: [{labels: [a]}]}",
            "expected a mapping of labels, got a list",
        ),
    ];
    for (yaml, message) in cases {
        assert_eq!(refusal::<Doc>(yaml).3, message, "{yaml}");
    }
    // An integer is a number.
    let doc: Doc = read_yaml("spec: {http: [{percent: 5, enabled: false}]}").unwrap();
    assert_eq!(doc.spec.http[0].percent, Some(5.0));
    assert_eq!(doc.spec.http[0].enabled, Some(false));
}

#[test]
fn an_unknown_field_is_refused_at_its_key_with_the_known_ones_sorted() {
    let yaml = "spec:\n  http: []\n  mirror_percnt: 5\n";
    assert_eq!(
        refusal::<Doc>(yaml),
        (
            "spec.mirror_percnt".to_owned(),
            3,
            3,
            "unknown field `mirror_percnt`; expected one of: exportTo, http, mirrorPercent"
                .to_owned()
        )
    );
}

#[test]
fn snake_case_names_the_same_field_once() {
    let doc: Doc = read_yaml("spec: {http: [], mirror_percent: 5}").unwrap();
    assert_eq!(doc.spec.mirror_percent, Some(5));
    let yaml = "spec:\n  http: []\n  mirrorPercent: 5\n  mirror_percent: 5\n";
    assert_eq!(
        refusal::<Doc>(yaml),
        (
            "spec.mirror_percent".to_owned(),
            4,
            3,
            "`mirrorPercent` and `mirror_percent` are the same field; keep one".to_owned()
        )
    );
}

#[test]
fn null_is_absent() {
    let doc: Doc = read_yaml("spec: {http: [{name: null, weight: ~}], exportTo: null}").unwrap();
    assert!(doc.spec.http[0].name.is_none());
    assert!(doc.spec.http[0].weight.is_none());
    assert_eq!(
        refusal::<Doc>("spec: {http: null}").3,
        "missing required field `http`"
    );
    // An unknown field is refused whatever its value.
    assert_eq!(
        refusal::<Doc>("spec: {http: [], port: null}").0,
        "spec.port"
    );
}

#[test]
fn located_values_know_their_key_and_their_value() {
    let doc: Doc = read_yaml("spec:\n  http:\n  - weight:\n      7\n").unwrap();
    let weight = doc.spec.http[0].weight.as_ref().unwrap();
    assert_eq!(weight.value, 7);
    assert_eq!(weight.path, "spec.http[0].weight");
    assert_eq!((weight.key.line, weight.key.column), (3, 5));
    assert_eq!((weight.at.line, weight.at.column), (4, 7));
}

#[test]
fn labels_are_strings_with_names() {
    let doc: Doc = read_yaml("spec: {http: [{labels: {version: v1, app: ''}}]}").unwrap();
    let labels = &doc.spec.http[0].labels.as_ref().unwrap().0;
    assert_eq!(labels.get("version"), Some("v1"));
    assert_eq!(labels.get("app"), Some(""));
    assert_eq!(
        refusal::<Doc>("spec:\n  http:\n  - labels: {'': v1}\n"),
        (
            "spec.http[0].labels.".to_owned(),
            3,
            14,
            "label names must not be empty".to_owned()
        )
    );
    assert_eq!(
        refusal::<Doc>("spec:\n  http:\n  - labels: {version: }\n"),
        (
            "spec.http[0].labels.version".to_owned(),
            3,
            21,
            "a label needs a value; write \"\" for an empty one".to_owned()
        )
    );
    assert_eq!(
        refusal::<Doc>("spec: {http: [{labels: {version: 1}}]}").3,
        "expected a string, got the integer 1; quote it to make it a string"
    );
}
