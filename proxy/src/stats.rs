//! A mirror's counters, in one order for every reader: the JSON of `GET /stats` and the
//! `key=value` line printed per mirror at exit.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use tower_mirror::MirrorStats;

use crate::routing::MirrorEntry;

/// Every counter, by the name of its field.
pub(crate) fn counters(s: &MirrorStats) -> [(&'static str, u64); 23] {
    [
        ("seen", s.seen),
        ("mirrored", s.mirrored),
        ("completed", s.completed),
        ("failed", s.failed),
        ("timed_out", s.timed_out),
        ("dropped_overload", s.dropped_overload),
        ("dropped_in_flight", s.dropped_in_flight),
        ("dropped_bytes", s.dropped_bytes),
        ("dropped_breaker", s.dropped_breaker),
        ("skipped_sampling", s.skipped_sampling),
        ("skipped_filter", s.skipped_filter),
        ("skipped_body_too_large", s.skipped_body_too_large),
        ("skipped_body_incomplete", s.skipped_body_incomplete),
        ("skipped_upgrade", s.skipped_upgrade),
        ("skipped_no_runtime", s.skipped_no_runtime),
        ("skipped_shutdown", s.skipped_shutdown),
        ("skipped_paused", s.skipped_paused),
        ("truncated", s.truncated),
        ("shadow_body_bytes_drained", s.shadow_body_bytes_drained),
        ("compared", s.compared),
        ("matched", s.matched),
        ("differed", s.differed),
        ("compare_skipped", s.compare_skipped),
    ]
}

/// `seen=3 mirrored=3 ...`, every counter.
pub(crate) fn line(stats: &MirrorStats) -> String {
    let pairs: Vec<String> = counters(stats)
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    pairs.join(" ")
}

/// One mirror as `GET /stats` shows it.
#[derive(Serialize)]
pub(crate) struct MirrorReport<'a> {
    name: &'a str,
    paused: bool,
    sample_percent: f64,
    in_flight: usize,
    buffered_bytes: usize,
    stats: Counters,
}

impl<'a> MirrorReport<'a> {
    pub(crate) fn new(mirror: &'a MirrorEntry) -> Self {
        Self {
            name: &mirror.name,
            paused: mirror.handle.is_paused(),
            sample_percent: mirror.handle.sample_percent(),
            in_flight: mirror.handle.in_flight(),
            buffered_bytes: mirror.handle.buffered_bytes(),
            stats: Counters(mirror.handle.stats()),
        }
    }
}

/// The counters as a JSON object, in [`counters`] order.
struct Counters(MirrorStats);

impl Serialize for Counters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let counters = counters(&self.0);
        let mut map = serializer.serialize_map(Some(counters.len()))?;
        for (name, value) in counters {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_and_the_json_name_every_counter_in_one_order() {
        let stats = MirrorStats::default();
        let line = line(&stats);
        let json = serde_json::to_string(&Counters(stats)).unwrap();
        let from_line: Vec<&str> = line
            .split(' ')
            .map(|kv| kv.split('=').next().unwrap())
            .collect();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut from_json: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(from_line.len(), 23);
        assert!(line.starts_with("seen=0 mirrored=0 completed=0 failed=0 timed_out=0 "));
        from_json.sort_unstable();
        let mut sorted = from_line.clone();
        sorted.sort_unstable();
        assert_eq!(from_json, sorted);
        assert!(from_line.contains(&"skipped_no_runtime"));
        assert!(from_line.contains(&"skipped_paused"));
        assert!(from_line.contains(&"dropped_breaker"));
        assert!(from_line.contains(&"compare_skipped"));
    }
}
