//! `Labels::from_str` on arbitrary input: never panics, and what it accepts prints back
//! (`Display`) to a string that parses to the same labels.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_mirror::route::Labels;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(labels) = text.parse::<Labels>() else {
        return;
    };
    let shown = labels.to_string();
    let again: Labels = shown
        .parse()
        .unwrap_or_else(|e| panic!("{shown:?} (from {text:?}) does not parse back: {e}"));
    assert_eq!(again, labels, "{text:?} -> {shown:?}");
});
