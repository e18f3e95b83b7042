//! Sampling: random at a percentage (seedable), or deterministic by a header value with
//! FNV-1a 64 (`hash % 1_000_000 < round(percent * 10_000)`), falling back to random without it.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use support::*;
use tower::Layer;
use tower_mirror::{MirrorHandle, MirrorLayer};

#[test]
fn the_tests_fnv1a64_is_the_published_hash() {
    // Vectors from the FNV reference (http://www.isthe.com/chongo/tech/comp/fnv/): the
    // sampling and sticky-routing tests predict the crate's decisions with this hash.
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

fn header_decision(value: &str, percent: f64) -> bool {
    fnv1a64(value.as_bytes()) % 1_000_000 < (percent * 10_000.0).round() as u64
}

fn tagged(n: usize, header: Option<(&str, &str)>) -> Request<Full<Bytes>> {
    let mut req = Request::get(format!("/n/{n}"));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

/// Sends the requests; returns which indexes were mirrored, and the handle.
async fn mirrored_set(
    layer: MirrorLayer<Shadow>,
    rec: &Recorder,
    requests: Vec<Request<Full<Bytes>>>,
) -> (BTreeSet<usize>, MirrorHandle) {
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for (i, req) in requests.into_iter().enumerate() {
        send(&mut svc, req).await.unwrap();
        if i % 100 == 99 {
            // Let copies finish so `max_in_flight` never drops any: only sampling decides.
            let_tasks_run().await;
        }
    }
    idle(&handle).await;
    assert_idle(&handle);
    assert_eq!(handle.stats().dropped_overload, 0);
    let set = rec
        .all()
        .iter()
        .map(|c| c.parts.uri.path()["/n/".len()..].parse().unwrap())
        .collect();
    (set, handle)
}

#[tokio::test]
async fn zero_percent_mirrors_nothing() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).sample_percent(0.0);
    let (set, handle) =
        mirrored_set(layer, &rec, (0..200).map(|i| tagged(i, None)).collect()).await;
    assert!(set.is_empty());
    let stats = handle.stats();
    assert_eq!(
        (stats.seen, stats.skipped_sampling, stats.mirrored),
        (200, 200, 0)
    );
}

#[tokio::test]
async fn hundred_percent_and_the_default_mirror_everything() {
    let makers: [fn(Shadow) -> MirrorLayer<Shadow>; 2] = [
        |s| MirrorLayer::new(s).sample_percent(100.0),
        |s| MirrorLayer::new(s),
    ];
    for layer_of in makers {
        let rec = Recorder::new();
        let layer: MirrorLayer<Shadow> = layer_of(recording_shadow(&rec));
        let (set, handle) =
            mirrored_set(layer, &rec, (0..200).map(|i| tagged(i, None)).collect()).await;
        assert_eq!(set.len(), 200);
        assert_eq!(handle.stats().skipped_sampling, 0);
    }
}

#[tokio::test]
async fn fifty_percent_is_binomial() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(50.0)
        .seed(42);
    let n = 10_000u64;
    let (set, handle) = mirrored_set(
        layer,
        &rec,
        (0..n as usize).map(|i| tagged(i, None)).collect(),
    )
    .await;
    let stats = handle.stats();
    assert_eq!(stats.mirrored + stats.skipped_sampling, n);
    assert_eq!(set.len() as u64, stats.mirrored);
    // mean 5000, sigma 50: allow 5 sigma.
    assert!(
        (4750..=5250).contains(&stats.mirrored),
        "mirrored {} of {n} at 50%",
        stats.mirrored
    );
}

#[tokio::test]
async fn same_seed_same_decisions() {
    let run = |seed: u64| async move {
        let rec = Recorder::new();
        let layer = MirrorLayer::new(recording_shadow(&rec))
            .sample_percent(50.0)
            .seed(seed);
        mirrored_set(layer, &rec, (0..300).map(|i| tagged(i, None)).collect())
            .await
            .0
    };
    let a = run(7).await;
    let b = run(7).await;
    let c = run(8).await;
    assert_eq!(a, b, "the same seed gives the same sequence of decisions");
    assert_ne!(a, c, "another seed gives other decisions");
    assert!(!a.is_empty() && a.len() < 300);
}

#[tokio::test]
async fn by_header_follows_fnv1a64_and_agrees_across_instances() {
    let percent = 30.0;
    let ids: Vec<String> = (0..400)
        .map(|i| format!("req-{i:04}-{}", i * 7919))
        .collect();
    let expected: BTreeSet<usize> = (0..ids.len())
        .filter(|&i| header_decision(&ids[i], percent))
        .collect();
    assert!(
        expected.len() > 60 && expected.len() < 200,
        "sanity: {}",
        expected.len()
    );

    let mut sets = Vec::new();
    for seed in [1, 2] {
        // Independently built layers with different random seeds.
        let rec = Recorder::new();
        let layer = MirrorLayer::new(recording_shadow(&rec))
            .sample_percent(percent)
            .sample_by_header("x-request-id")
            .seed(seed);
        let requests = ids
            .iter()
            .enumerate()
            .map(|(i, id)| tagged(i, Some(("x-request-id", id))))
            .collect();
        let (set, handle) = mirrored_set(layer, &rec, requests).await;
        assert_eq!(
            handle.stats().skipped_sampling as usize,
            ids.len() - set.len()
        );
        sets.push(set);
    }
    assert_eq!(sets[0], expected);
    assert_eq!(sets[1], expected);
}

#[tokio::test]
async fn by_header_is_stable_for_repeated_values() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(50.0)
        .sample_by_header("x-request-id");
    let ids = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let requests = (0..60)
        .map(|i| tagged(i, Some(("x-request-id", ids[i % ids.len()]))))
        .collect();
    let (set, _) = mirrored_set(layer, &rec, requests).await;
    for i in 0..60 {
        assert_eq!(
            set.contains(&i),
            header_decision(ids[i % ids.len()], 50.0),
            "request {i} with id {}",
            ids[i % ids.len()]
        );
    }
}

/// For each bucket, a header value whose `fnv1a64 % 1_000_000` falls in it.
fn values_in_buckets(buckets: &[u64]) -> Vec<String> {
    use std::fmt::Write;
    let mut found: Vec<Option<String>> = vec![None; buckets.len()];
    let mut v = String::new();
    for i in 0u64.. {
        v.clear();
        write!(v, "id{i}").unwrap();
        let bucket = fnv1a64(v.as_bytes()) % 1_000_000;
        if let Some(k) = buckets.iter().position(|&b| b == bucket) {
            found[k].get_or_insert_with(|| v.clone());
            if found.iter().all(Option::is_some) {
                break;
            }
        }
    }
    found.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn by_header_threshold_is_an_integer_comparison_with_rounding() {
    // 12.34567 % -> round(123456.7) = 123457: buckets 123456 (and below) in, 123457 out.
    let percent = 12.34567;
    let cases = [
        (123_455, true),
        (123_456, true),
        (123_457, false),
        (123_458, false),
    ];
    let buckets: Vec<u64> = cases.iter().map(|c| c.0).collect();
    let values: Vec<(String, bool)> = values_in_buckets(&buckets)
        .into_iter()
        .zip(cases.iter().map(|c| c.1))
        .collect();
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(percent)
        .sample_by_header("x-request-id");
    let requests = values
        .iter()
        .enumerate()
        .map(|(i, (v, _))| tagged(i, Some(("x-request-id", v))))
        .collect();
    let (set, _) = mirrored_set(layer, &rec, requests).await;
    for (i, (value, inside)) in values.iter().enumerate() {
        assert_eq!(
            set.contains(&i),
            *inside,
            "value {value} bucket {}",
            cases[i].0
        );
    }
}

#[tokio::test]
async fn by_header_without_the_header_samples_randomly_at_the_same_rate() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(25.0)
        .sample_by_header("x-request-id")
        .seed(3);
    let n = 4000usize;
    let (set, _) = mirrored_set(layer, &rec, (0..n).map(|i| tagged(i, None)).collect()).await;
    // mean 1000, sigma ~27.4: allow 5 sigma.
    assert!(
        (863..=1137).contains(&set.len()),
        "mirrored {} of {n} at 25% without the header",
        set.len()
    );
}

#[tokio::test]
async fn by_header_and_without_header_mixed() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .sample_percent(50.0)
        .sample_by_header("x-request-id")
        .seed(9);
    let ids: Vec<String> = (0..200).map(|i| format!("mixed-{i}")).collect();
    let requests = (0..400)
        .map(|i| {
            if i % 2 == 0 {
                tagged(i, Some(("x-request-id", &ids[i / 2])))
            } else {
                tagged(i, None)
            }
        })
        .collect();
    let (set, _) = mirrored_set(layer, &rec, requests).await;
    for i in (0..400).step_by(2) {
        assert_eq!(
            set.contains(&i),
            header_decision(&ids[i / 2], 50.0),
            "request {i}"
        );
    }
}

fn any_layer() -> MirrorLayer<Shadow> {
    MirrorLayer::new(recording_shadow(&Recorder::new()))
}

#[test]
#[should_panic]
fn sample_percent_nan_panics() {
    let _ = any_layer().sample_percent(f64::NAN);
}

#[test]
#[should_panic]
fn sample_percent_negative_panics() {
    let _ = any_layer().sample_percent(-1.0);
}

#[test]
#[should_panic]
fn sample_percent_over_hundred_panics() {
    let _ = any_layer().sample_percent(100.1);
}

#[test]
#[should_panic]
fn sample_percent_infinite_panics() {
    let _ = any_layer().sample_percent(f64::INFINITY);
}

#[test]
fn sample_percent_bounds_are_accepted() {
    let _ = any_layer().sample_percent(0.0);
    let _ = any_layer().sample_percent(100.0);
    let _ = any_layer().sample_percent(0.0001);
}
