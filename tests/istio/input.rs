//! What the Istio reader accepts as text: YAML's characters only (a control character is
//! refused where it stands, never taken for the end of the input), and at least one Istio
//! resource.

use tower_mirror::istio::{Config, Endpoints};

const ADMIN_ONLY: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: admin}
spec:
  hosts: [admin]
  http:
  - route: [{destination: {host: admin}}]
    match:
    - uri: {prefix: /admin}
";

#[test]
fn control_characters_are_refused_with_their_line_and_column() {
    for (input, line, column, code) in [
        ("\0\x01\x02 control", 1, 1, "U+0000 (NUL)"),
        ("\0", 1, 1, "U+0000 (NUL)"),
        ("kind: Virtual\x07Service\n", 1, 14, "U+0007 (BEL)"),
        (
            "# a comment with an escape \x1b[0m\n",
            1,
            28,
            "U+001B (ESC)",
        ),
        ("a: b\r\nc: \u{7f}", 2, 4, "U+007F (DEL)"),
        ("a: \"\u{9b}\"", 1, 5, "U+009B"),
    ] {
        let err = Config::from_yaml(input).unwrap_err();
        assert_eq!(
            (err.line(), err.column()),
            (Some(line), Some(column)),
            "{input:?}: {err}"
        );
        assert!(
            err.message()
                .starts_with(&format!("control character {code} is not allowed in YAML")),
            "{input:?}: {err}"
        );
    }
}

#[test]
fn a_nul_never_cuts_a_match_off() {
    // Everything after the NUL used to be dropped: the route lost its `match` and caught
    // every request.
    let cut = ADMIN_ONLY.replace("    match:", "\0    match:");
    let err = Config::from_yaml(&cut).unwrap_err();
    assert_eq!(
        err.to_string(),
        "document 1 at line 8, column 1: control character U+0000 (NUL) is not allowed in YAML; \
         remove it (in a double-quoted string, write it as the escape \"\\u0000\")"
    );
    // In a later document, the error names it.
    let two = format!("{ADMIN_ONLY}---\n{cut}");
    let err = Config::from_yaml(&two).unwrap_err();
    assert_eq!(
        (err.document(), err.line(), err.column()),
        (Some(2), Some(18), Some(1))
    );
}

#[test]
fn yaml_s_own_characters_are_accepted() {
    // Tabs, CRLF, NEL and non-ASCII text are all YAML.
    let text = ADMIN_ONLY.replace('\n', "\r\n").replace(
        "{name: admin}",
        "{name: admin, annotations: {note: \"caf\u{e9} \u{2713}\t\u{85}\"}}",
    );
    let config = Config::from_yaml(&text).unwrap();
    assert_eq!(config.rules().len(), 1);
    assert_eq!(config.rules()[0].matches.len(), 1);
}

#[test]
fn an_input_without_an_istio_resource_is_an_error() {
    for input in [
        "",
        "\n\n",
        "# only a comment\n",
        "---\n---\n...\n",
        "\u{feff}",
        "~\n",
    ] {
        let err = Config::from_yaml(input).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no Istio resource in the input; supported: RouteRule (config.istio.io/v1alpha2); \
             VirtualService and DestinationRule (networking.istio.io/v1alpha3, v1beta1 or v1)",
            "{input:?}"
        );
        assert_eq!((err.document(), err.line()), (None, None));
    }
}

#[test]
fn endpoints_refuse_control_characters_too() {
    let err = Endpoints::from_yaml("httpbin:\n- url: http://127.0.0.1:9001\0\n").unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(2), Some(29)), "{err}");
    assert!(err.message().contains("U+0000 (NUL)"), "{err}");
}

#[test]
fn text_is_read_as_written_without_properties_or_includes() {
    // The YAML parser can interpolate `${...}` properties and follow `!include`; neither
    // is YAML Kubernetes or Istio reads, so neither may happen here.
    let yaml = ADMIN_ONLY.replace("{prefix: /admin}", "{prefix: \"/${HOME}\"}");
    let config = Config::from_yaml(&yaml).unwrap();
    assert_eq!(
        config.rules()[0].matches[0].uri,
        Some(tower_mirror::istio::StringMatch::Prefix("/${HOME}".into()))
    );
    let included = ADMIN_ONLY.replace("{prefix: /admin}", "!include /etc/hostname");
    match Config::from_yaml(&included) {
        Ok(config) => panic!("an include was followed: {:?}", config.rules()[0].matches),
        Err(err) => assert_eq!(err.path(), "spec.http[0].match[0].uri", "{err}"),
    }
}
