//! `istio::Config::from_yaml` on arbitrary input: never panics, whether it accepts the
//! input (the rules are walked) or refuses it (the error is displayed and located).
//!
//! Needs the `istio` feature (`cargo fuzz run --features istio istio_config`, as
//! `fuzz/run.sh` does). Uses only the public API (`Config::from_yaml`,
//! `ConfigError::{line, column, path}`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_mirror::istio::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_yaml(yaml) {
        Ok(config) => {
            // Walk what was built: accessors must not panic on any accepted input.
            for rule in config.rules() {
                let _ = (&rule.name, &rule.destination, rule.precedence);
                let _ = (rule.matches.len(), rule.splits.len(), rule.mirrors.len());
            }
        }
        Err(error) => {
            // Every error can be shown and located without panicking.
            let _ = (
                error.line(),
                error.column(),
                error.path(),
                error.to_string(),
            );
        }
    }
});
