//! `istio::Endpoints`: the endpoints file format, and every way it can be wrong, with the
//! field path, line and column of the mistake.

use tower_mirror::istio::{ConfigError, Endpoints};
use tower_mirror::route::Labels;

const TWO_VERSIONS: &str = "\
httpbin:
- labels: {version: v1}
  url: http://127.0.0.1:9001
- labels:
    version: v2
    zone: a
  url: http://127.0.0.1:9002/api
reviews:
- url: http://localhost:9100
";

#[test]
fn parses_destinations_in_file_order_with_labels_and_urls() {
    let endpoints = Endpoints::from_yaml(TWO_VERSIONS).unwrap();
    assert_eq!(endpoints.len(), 2);
    assert!(!endpoints.is_empty());

    let all: Vec<(&str, Vec<(Labels, String)>)> = endpoints
        .iter()
        .map(|(name, instances)| {
            let instances = instances
                .iter()
                .map(|e| (e.labels.clone(), e.upstream.base().to_owned()))
                .collect();
            (name, instances)
        })
        .collect();
    assert_eq!(
        all,
        [
            (
                "httpbin",
                vec![
                    (
                        Labels::from([("version", "v1")]),
                        "http://127.0.0.1:9001".to_owned()
                    ),
                    (
                        Labels::from([("version", "v2"), ("zone", "a")]),
                        "http://127.0.0.1:9002/api".to_owned()
                    ),
                ]
            ),
            (
                "reviews",
                vec![(Labels::default(), "http://localhost:9100".to_owned())]
            ),
        ]
    );
    assert_eq!(endpoints.get("reviews").map(<[_]>::len), Some(1));
    assert!(endpoints.get("ratings").is_none());
}

#[test]
fn backends_hold_every_instance_under_its_labels() {
    let endpoints: Endpoints = TWO_VERSIONS.parse().unwrap();
    let backends = endpoints.backends();
    assert_eq!(backends.len(), 2);
    assert_eq!(backends[0].destination(), "httpbin");
    let instances: Vec<(String, String)> = backends[0]
        .instances()
        .map(|(labels, upstream)| (labels.to_string(), upstream.base().to_owned()))
        .collect();
    assert_eq!(
        instances,
        [
            ("version=v1".to_owned(), "http://127.0.0.1:9001".to_owned()),
            (
                "version=v2,zone=a".to_owned(),
                "http://127.0.0.1:9002/api".to_owned()
            ),
        ]
    );
    // The selector the httpbin mirroring rule's mirror uses finds v2 only.
    let v2 = backends[0]
        .select(&Labels::from([("version", "v2")]))
        .unwrap();
    assert_eq!(v2.len(), 1);
    assert_eq!(backends[1].destination(), "reviews");
    assert_eq!(backends[1].len(), 1);
}

#[test]
fn comments_a_document_marker_and_a_byte_order_mark_are_fine() {
    let yaml = "\u{feff}# where httpbin runs\n---\nhttpbin:\n- url: http://127.0.0.1:1 # v1\n";
    let endpoints = Endpoints::from_yaml(yaml).unwrap();
    assert_eq!(
        endpoints.get("httpbin").unwrap()[0].labels,
        Labels::default()
    );
}

/// Parses `yaml`, which must fail, and returns the error with its location checked.
#[track_caller]
fn error(yaml: &str, path: &str, line: usize, column: usize) -> ConfigError {
    let err = Endpoints::from_yaml(yaml).unwrap_err();
    assert_eq!(
        (err.path(), err.line(), err.column()),
        (path, Some(line), Some(column)),
        "location of: {err}"
    );
    assert_eq!(err.document(), None, "one document: no number in {err}");
    err
}

#[test]
fn empty_file_is_refused() {
    for yaml in ["", "# nothing\n", "---\n", "~\n"] {
        let err = Endpoints::from_yaml(yaml).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the endpoints file is empty; expected a mapping"),
            "{yaml:?}: {err}"
        );
        assert_eq!((err.line(), err.column()), (None, None));
    }
}

#[test]
fn not_a_mapping() {
    let err = error("- url: http://127.0.0.1:1\n", "", 1, 1);
    assert!(
        err.to_string()
            .starts_with("line 1, column 1: expected a mapping of destination names"),
        "{err}"
    );
}

#[test]
fn destination_not_a_list() {
    let err = error("httpbin:\n  url: http://127.0.0.1:1\n", "httpbin", 2, 3);
    assert_eq!(
        err.to_string(),
        "httpbin at line 2, column 3: expected a list, got a mapping"
    );
    let err = error("httpbin:\n", "httpbin", 1, 8);
    assert_eq!(err.message(), "expected a list, got null");
}

#[test]
fn empty_list() {
    let err = error(
        "ok:\n- url: http://127.0.0.1:1\nhttpbin: []\n",
        "httpbin",
        3,
        10,
    );
    assert_eq!(
        err.message(),
        "`httpbin` lists no instances; give at least one `url`"
    );
}

#[test]
fn missing_url() {
    let err = error(
        "httpbin:\n- labels: {version: v1}\n",
        "httpbin[0].url",
        2,
        3,
    );
    assert_eq!(err.message(), "missing required field `url`");
}

#[test]
fn bad_urls_carry_the_upstream_error() {
    let yaml = "httpbin:\n- url: http://127.0.0.1:1\n- labels: {version: v2}\n  url: ftp://files.example\n";
    let err = error(yaml, "httpbin[1].url", 4, 8);
    assert_eq!(
        err.to_string(),
        "httpbin[1].url at line 4, column 8: upstream `ftp://files.example`: invalid base URL: \
         the scheme must be `http` or `https`, not `ftp`"
    );
    for url in [
        "127.0.0.1:9001",
        "not a url",
        "http://",
        "http://u:p@host:1",
    ] {
        let yaml = format!("httpbin:\n- url: \"{url}\"\n");
        let err = error(&yaml, "httpbin[0].url", 2, 8);
        assert!(err.message().contains("invalid base URL"), "{url}: {err}");
    }
}

#[test]
fn url_must_be_a_string() {
    let err = error("httpbin:\n- url: 9001\n", "httpbin[0].url", 2, 8);
    assert_eq!(
        err.message(),
        "expected a string, got the integer 9001; quote it to make it a string"
    );
    error("httpbin:\n- url: [a]\n", "httpbin[0].url", 2, 8);
}

#[test]
fn labels_must_be_a_mapping_of_strings() {
    let err = error(
        "httpbin:\n- labels: {version: 2}\n  url: http://127.0.0.1:1\n",
        "httpbin[0].labels.version",
        2,
        21,
    );
    assert_eq!(
        err.message(),
        "expected a string, got the integer 2; quote it to make it a string"
    );
    let err = error(
        "httpbin:\n- labels: [v1]\n  url: http://127.0.0.1:1\n",
        "httpbin[0].labels",
        2,
        11,
    );
    assert_eq!(err.message(), "expected a mapping of labels, got a list");
    let err = error(
        "httpbin:\n- labels: {version: }\n  url: http://127.0.0.1:1\n",
        "httpbin[0].labels.version",
        2,
        19,
    );
    assert!(err.message().starts_with("a label needs a value"), "{err}");
}

#[test]
fn unknown_fields_are_errors() {
    let err = error(
        "httpbin:\n- lables: {version: v1}\n  url: http://127.0.0.1:1\n",
        "httpbin[0].lables",
        2,
        3,
    );
    assert_eq!(
        err.message(),
        "unknown field `lables`; expected one of: labels, url"
    );
}

#[test]
fn an_instance_must_be_a_mapping() {
    let err = error("httpbin:\n- http://127.0.0.1:1\n", "httpbin[0]", 2, 3);
    assert_eq!(
        err.message(),
        "expected a mapping, got the string \"http://127.0.0.1:1\""
    );
}

#[test]
fn duplicate_destinations_are_errors() {
    let yaml = "httpbin:\n- url: http://127.0.0.1:1\nhttpbin:\n- url: http://127.0.0.1:2\n";
    // The YAML parser refuses the repeated key before any field is read.
    let err = error(yaml, "", 3, 1);
    assert_eq!(
        err.message(),
        "invalid YAML: duplicate mapping key: httpbin"
    );
}

#[test]
fn a_second_document_is_refused() {
    let yaml = "a:\n- url: http://127.0.0.1:1\n---\nb:\n- url: http://127.0.0.1:2\n";
    let err = error(yaml, "", 4, 1);
    assert!(
        err.message()
            .starts_with("an endpoints file holds one YAML document"),
        "{err}"
    );
}

#[test]
fn syntax_errors_have_a_location() {
    let err = Endpoints::from_yaml("httpbin:\n- url: [http://127.0.0.1:1\n").unwrap_err();
    assert!(err.message().starts_with("invalid YAML"), "{err}");
    assert!(err.line().is_some() && err.column().is_some(), "{err}");
}
