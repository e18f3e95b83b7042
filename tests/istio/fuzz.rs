//! No input panics the parser: arbitrary text, arbitrary bytes, and valid configs with
//! random edits. Every outcome is a config or an error that can be displayed.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use support::versions::HTTPBIN_RULE;
use tower_mirror::istio::Config;

const VS: &str = r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers: {end-user: {exact: jason}, x-debug: {}}
      uri: {regex: "/r/[0-9]+"}
      ignoreUriCase: true
    route:
    - destination: {host: reviews, subset: v1}
      weight: 75
    - destination: {host: reviews, subset: v2}
      weight: 25
    mirrors:
    - destination: {host: reviews, subset: v3}
      percentage: {value: 12.5}
    timeout: 1s
  - route: [{destination: {host: reviews}}]
    mirror: {host: reviews, subset: v2}
    mirrorPercent: 5
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"#;

/// Characters that change YAML structure, plus a few ordinary ones.
const YAML_CHARS: &[char] = &[
    ':', '-', ' ', '\n', '{', '}', '[', ']', '\'', '"', '#', '&', '*', '!', '|', '>', '0', '9',
    'a', '\t', '%', '@', '?', ',', '.', '\\', '~', '\r', '\u{feff}', 'é', '\0',
];

fn check(yaml: &str) {
    match Config::from_yaml(yaml) {
        Ok(config) => {
            for rule in config.rules() {
                // Weights are relative: they must leave something to pick.
                assert!(rule.splits.iter().map(|s| u64::from(s.weight)).sum::<u64>() > 0);
                assert!(
                    rule.mirrors
                        .iter()
                        .all(|m| (0.0..=100.0).contains(&m.percent))
                );
            }
        }
        Err(err) => {
            let shown = err.to_string();
            assert!(!shown.is_empty());
            let lines = yaml.matches(['\n', '\r']).count() + 1;
            assert!(err.line().is_none_or(|l| l >= 1 && l <= lines), "{shown}");
        }
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
}

fn edit_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::sample::select(YAML_CHARS),
        1 => any::<char>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), edit_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), edit_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

fn apply(base: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for edit in edits {
        match *edit {
            Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Edit::Delete(i) if !chars.is_empty() => {
                let i = i % chars.len();
                chars.remove(i);
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let i = i % chars.len();
                chars[i] = c;
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x5eed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_shaped_text(chars in proptest::collection::vec(proptest::sample::select(YAML_CHARS), 0..200)) {
        check(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn edited_seed(edits in proptest::collection::vec(edit(), 1..8)) {
        check(&apply(HTTPBIN_RULE, &edits));
    }

    #[test]
    fn edited_virtual_service(edits in proptest::collection::vec(edit(), 1..8)) {
        check(&apply(VS, &edits));
    }

    #[test]
    fn spliced_documents(a in 0usize..2000, b in 0usize..2000, copies in 1usize..4) {
        // Cut-and-paste accidents: pieces of valid documents glued together.
        let both = format!("{HTTPBIN_RULE}---\n{VS}");
        let (a, b) = (a.min(b), a.max(b));
        let cut = |i: usize| both.char_indices().nth(i).map_or(both.len(), |(at, _)| at);
        let piece = &both[cut(a)..cut(b)];
        check(&format!("{}{}", piece.repeat(copies), HTTPBIN_RULE));
    }
}

#[test]
fn the_unedited_inputs_are_valid() {
    Config::from_yaml(HTTPBIN_RULE).unwrap();
    let config = Config::from_yaml(VS).unwrap();
    assert_eq!(config.rules().len(), 2);
    // The deprecated `mirrorPercent` (`timeout` is applied).
    assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
}
