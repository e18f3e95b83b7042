//! How fields are named: their paths (`spec.http[0].route`), and the snake_case spelling
//! Istio's protobuf JSON accepts beside camelCase.

/// `spec` + `hosts` -> `spec.hosts`; a field of the document itself has no prefix.
pub(super) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// `mirrorPercent` -> `mirror_percent`: Istio's protobuf JSON accepts both spellings.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `key` as written names field `name` (camelCase) in either spelling.
fn same_field(key: &str, name: &str) -> bool {
    key == name || key == snake_case(name)
}

/// The field of `fields` that `key` names in either spelling, else `key` itself.
pub(super) fn canonical<'a>(key: &'a str, fields: &[&'static str]) -> &'a str {
    if fields.contains(&key) {
        return key;
    }
    fields
        .iter()
        .copied()
        .find(|name| same_field(key, name))
        .unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_spellings_name_the_camel_case_field() {
        let fields = ["mirrorPercent", "mirror"];
        assert_eq!(canonical("mirror_percent", &fields), "mirrorPercent");
        assert_eq!(canonical("mirrorPercent", &fields), "mirrorPercent");
        assert_eq!(canonical("mirror", &fields), "mirror");
        assert_eq!(canonical("mirror_Percent", &fields), "mirror_Percent");
        assert_eq!(join("", "spec"), "spec");
        assert_eq!(join("spec", "hosts"), "spec.hosts");
    }
}
