//! A DestinationRule's refusals and warnings name their place: a missing field at the key
//! of its mapping, a wrong value where it stands, an unknown field at its key with the
//! known ones, an ignored field at its key.

use tower_mirror::istio::Config;

const VS: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
---
";

fn rule(spec: &str) -> String {
    format!(
        "{VS}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  \
         name: reviews\nspec:\n{spec}"
    )
}

/// (path, line, column, message) of the refusal.
fn refusal(spec: &str) -> (String, usize, usize, String) {
    let err = Config::from_yaml(&rule(spec)).expect_err("refused");
    assert_eq!(err.document(), Some(2), "{err}");
    assert_eq!(err.resource(), Some("DestinationRule \"reviews\""), "{err}");
    (
        err.path().to_owned(),
        err.line().unwrap_or(0),
        err.column().unwrap_or(0),
        err.message().to_owned(),
    )
}

#[test]
fn refusals_point_at_the_field() {
    // Lines 1-8 are the VirtualService; `spec:` of the DestinationRule is line 13.
    let missing = refusal("  subsets:\n  - {name: v1, labels: {version: v1}}\n");
    assert_eq!(
        missing,
        (
            "spec.host".to_owned(),
            13,
            1,
            "missing required field `host`".to_owned()
        )
    );
    let number = refusal("  host: reviews\n  subsets:\n  - name: 1\n");
    assert_eq!(
        number,
        (
            "spec.subsets[0].name".to_owned(),
            16,
            11,
            "expected a string, got the integer 1; quote it to make it a string".to_owned()
        )
    );
    let twice = refusal("  host: reviews\n  subsets:\n  - name: v1\n  - name: v1\n");
    assert_eq!(
        twice,
        (
            "spec.subsets[1].name".to_owned(),
            17,
            11,
            "duplicate subset `v1`".to_owned()
        )
    );
    let unknown = refusal("  host: reviews\n  subsets:\n  - name: v1\n    lables: {}\n");
    assert_eq!(
        unknown,
        (
            "spec.subsets[0].lables".to_owned(),
            17,
            5,
            "unknown field `lables`; expected one of: labels, name, trafficPolicy".to_owned()
        )
    );
    let label = refusal("  host: reviews\n  subsets:\n  - name: v1\n    labels: {version: }\n");
    assert_eq!(
        label.3,
        "a label needs a value; write \"\" for an empty one"
    );
    assert_eq!(label.0, "spec.subsets[0].labels.version");
}

#[test]
fn ignored_policies_warn_at_their_keys_in_file_order() {
    let config = Config::from_yaml(&rule(
        "  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n  host: reviews\n  subsets:\n  \
         - name: v1\n    traffic_policy: {}\n  exportTo: ['.']\n",
    ))
    .expect("accepted");
    let warnings: Vec<&str> = config.warnings().iter().map(String::as_str).collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("document 2 (DestinationRule \"reviews\"), spec.trafficPolicy at line 14, column 3: ignored: tower-mirror does not apply traffic policies"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].starts_with("document 2 (DestinationRule \"reviews\"), spec.subsets[0].traffic_policy at line 18, column 5: ignored:"),
        "{}",
        warnings[1]
    );
}
