//! The mirror's cost on the primary path as ratios against a baseline, checked against
//! the targets in BENCHMARKS.md. Criterion reports each variant alone; this runs each
//! baseline and its variant in alternating rounds (baseline first in even rounds, variant
//! first in odd ones, after an untimed warm-up) and compares the medians of 5 rounds, so
//! drift from other load on the machine hits both alike.
//!
//! What is timed is described in `benches/mirror.rs` and `common::Copies`: by default the
//! primary path only, with the spawned copies run outside the clock every 500 requests.
//!
//! Run: `cargo bench --bench ratios`. `RATIOS_SCALE` (default 1.0) scales the requests per
//! round; `RATIOS_ONLY=<case>` runs one case (for profiling); the case names are the first
//! column of the table printed at the end. `RATIOS_SIDE=baseline` (or `variant`) runs only
//! that side, for counting instructions per request under
//! `valgrind --tool=callgrind` (deterministic, unlike the clock on a shared machine).

#[path = "common/mod.rs"]
mod common;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use tokio::runtime::Runtime;
use tower::{Layer, service_fn};
use tower_mirror::{MirrorBody, MirrorLayer};

use common::{BATCH, Copies, FramedBody, Requests, SMALL_BATCH};

const ROUNDS: usize = 5;

/// Nanoseconds per request, per round, of a baseline and a variant.
struct Pair {
    baseline: Vec<f64>,
    variant: Vec<f64>,
}

impl Pair {
    fn baseline(&self) -> f64 {
        median(&self.baseline)
    }

    fn variant(&self) -> f64 {
        median(&self.variant)
    }

    fn ratio(&self) -> f64 {
        self.variant() / self.baseline()
    }

    fn added_ns(&self) -> f64 {
        self.variant() - self.baseline()
    }
}

fn fastest(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `baseline` and `variant` (each returning the time for `n` requests) in
/// alternating order, `ROUNDS` times after a warm-up round each.
fn compare<B, V, FB, FV>(rt: &Runtime, n: u64, mut baseline: B, mut variant: V) -> Pair
where
    B: FnMut(u64) -> FB,
    V: FnMut(u64) -> FV,
    FB: Future<Output = Duration>,
    FV: Future<Output = Duration>,
{
    let side = std::env::var("RATIOS_SIDE").ok();
    let (run_baseline, run_variant) = match side.as_deref() {
        Some("baseline") => (true, false),
        Some("variant") => (false, true),
        _ => (true, true),
    };
    let per_request = |d: Duration| d.as_nanos() as f64 / n as f64;
    let mut pair = Pair {
        baseline: Vec::new(),
        variant: Vec::new(),
    };
    let mut time_baseline = |pair: &mut Pair| {
        if run_baseline {
            pair.baseline.push(per_request(rt.block_on(baseline(n))));
        }
    };
    let mut time_variant = |pair: &mut Pair| {
        if run_variant {
            pair.variant.push(per_request(rt.block_on(variant(n))));
        }
    };
    // Warm-up round, discarded.
    time_baseline(&mut pair);
    time_variant(&mut pair);
    pair.baseline.clear();
    pair.variant.clear();
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            time_baseline(&mut pair);
            time_variant(&mut pair);
        } else {
            time_variant(&mut pair);
            time_baseline(&mut pair);
        }
    }
    for side in [&mut pair.baseline, &mut pair.variant] {
        if side.is_empty() {
            side.push(f64::NAN);
        }
    }
    pair
}

/// How a case is judged: by ratio or by nanoseconds added, against an optional target.
#[derive(Clone, Copy)]
enum Judge {
    Ratio(Option<f64>),
    AddedNs(Option<f64>),
}

struct Case {
    name: &'static str,
    what: &'static str,
    judge: Judge,
    pair: Pair,
}

impl Case {
    fn overhead(&self) -> String {
        match self.judge {
            Judge::Ratio(_) => format!("{:.2}x", self.pair.ratio()),
            Judge::AddedNs(_) => format!("{:+.0} ns", self.pair.added_ns()),
        }
    }

    fn target(&self) -> String {
        match self.judge {
            Judge::Ratio(Some(max)) => format!("<= {max}x"),
            Judge::AddedNs(Some(max)) => format!("<= +{max} ns"),
            _ => "-".to_owned(),
        }
    }

    fn met(&self) -> Option<bool> {
        match self.judge {
            Judge::Ratio(max) => max.map(|max| self.pair.ratio() <= max),
            Judge::AddedNs(max) => max.map(|max| self.pair.added_ns() <= max),
        }
    }

    fn verdict(&self) -> &'static str {
        match self.met() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "information",
        }
    }
}

/// A mirror layer; built with `--features metrics` it also records its metrics (to no
/// recorder: the facade's no-op), so the two builds side by side show what the feature
/// costs.
fn mirror_layer<M>(shadow: M) -> MirrorLayer<M> {
    let layer = MirrorLayer::new(shadow);
    #[cfg(feature = "metrics")]
    let layer = layer.metrics("bench");
    layer
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) run one small
    // batch per side, as a smoke test, like criterion's test mode.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let scale: f64 = std::env::var("RATIOS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|_| measuring)
        .unwrap_or(if measuring { 1.0 } else { 0.0 });
    let only = std::env::var("RATIOS_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let get_n = ((200_000.0 * scale) as u64).max(BATCH);
    let post_n = ((20_000.0 * scale) as u64).max(BATCH);
    let rt = common::runtime();
    let requests = Requests::new();
    let mut cases = Vec::new();

    // GET: bare primary vs Mirror sampling 0 % vs Mirror copying everything.
    let bare = service_fn(common::canned::<Empty<Bytes>>);
    let primary = service_fn(common::canned::<MirrorBody<Empty<Bytes>>>);
    let layer = mirror_layer(service_fn(common::shadow)).sample_percent(0.0);
    let idle_handle = layer.handle();
    let sampled_out = layer.layer(primary);
    let layer = mirror_layer(service_fn(common::shadow));
    let handle = layer.handle();
    let mirrored = layer.layer(primary);

    let bare_run = |n| {
        let (mut svc, requests) = (bare, requests.clone());
        async move { common::timed(&mut svc, n, || requests.get(), Copies::None).await }
    };
    let mirror_run = |copies| {
        let (requests, mirrored) = (&requests, &mirrored);
        move |n| {
            let (mut svc, requests) = (mirrored.clone(), requests.clone());
            async move { common::timed(&mut svc, n, || requests.get(), copies).await }
        }
    };
    if wanted("sampling") {
        let pair = compare(&rt, get_n, bare_run, |n| {
            let (mut svc, requests) = (sampled_out.clone(), requests.clone());
            let copies = Copies::Excluded(&idle_handle, BATCH);
            async move { common::timed(&mut svc, n, || requests.get(), copies).await }
        });
        cases.push(Case {
            name: "sampling",
            what: "GET, `sample_percent(0.0)` vs bare",
            judge: Judge::Ratio(Some(1.05)),
            pair,
        });
    }
    if wanted("get") {
        cases.push(Case {
            name: "get",
            what: "GET, mirrored 100 % vs bare (primary path)",
            judge: Judge::AddedNs(Some(1500.0)),
            pair: compare(
                &rt,
                get_n,
                bare_run,
                mirror_run(Copies::Excluded(&handle, BATCH)),
            ),
        });
    }
    if wanted("get_whole") {
        cases.push(Case {
            name: "get_whole",
            what: "GET, mirrored 100 % vs bare (incl. running the shadow's task)",
            judge: Judge::AddedNs(None),
            pair: compare(
                &rt,
                get_n,
                bare_run,
                mirror_run(Copies::Included(&handle, BATCH)),
            ),
        });
    }
    if wanted("get_mt") {
        // The loop runs on a worker of a 2-worker runtime, as a server's handlers do; the
        // copies run on the other worker, concurrently.
        let mt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let on_worker = |copies: bool| {
            let (requests, mirrored, handle) = (&requests, &mirrored, &handle);
            move |n| {
                let (mut mirrored, requests, handle) =
                    (mirrored.clone(), requests.clone(), handle.clone());
                let task = async move {
                    if copies {
                        let copies = Copies::Excluded(&handle, BATCH);
                        common::timed(&mut mirrored, n, || requests.get(), copies).await
                    } else {
                        let mut svc = bare;
                        common::timed(&mut svc, n, || requests.get(), Copies::None).await
                    }
                };
                async move { tokio::spawn(task).await.expect("bench task") }
            }
        };
        cases.push(Case {
            name: "get_mt",
            what: "GET, mirrored 100 % vs bare, on a multi-thread runtime worker (primary path)",
            judge: Judge::AddedNs(None),
            pair: compare(&mt, get_n, on_worker(false), on_worker(true)),
        });
    }
    #[cfg(feature = "metrics")]
    if wanted("metrics") {
        // Both sides mirror every GET; the variant also records its metrics (no recorder
        // installed: what an application pays before it installs an exporter).
        let quiet = MirrorLayer::new(service_fn(common::shadow));
        let quiet_handle = quiet.handle();
        let quiet = quiet.layer(primary);
        let recording = |n| {
            let (mut svc, requests) = (mirrored.clone(), requests.clone());
            let copies = Copies::Excluded(&handle, BATCH);
            async move { common::timed(&mut svc, n, || requests.get(), copies).await }
        };
        let pair = compare(
            &rt,
            get_n,
            |n| {
                let (mut svc, requests) = (quiet.clone(), requests.clone());
                let copies = Copies::Excluded(&quiet_handle, BATCH);
                async move { common::timed(&mut svc, n, || requests.get(), copies).await }
            },
            recording,
        );
        common::assert_all_mirrored(&quiet_handle);
        cases.push(Case {
            name: "metrics",
            what: "GET, mirrored 100 %, `metrics(name)` (no recorder) vs without",
            judge: Judge::Ratio(Some(1.05)),
            pair,
        });
    }
    assert_eq!(idle_handle.stats().mirrored, 0);
    common::assert_all_mirrored(&handle);

    // POST 64 KiB in 4 frames: no layer vs the tee.
    let layer = mirror_layer(service_fn(common::shadow));
    let tee_handle = layer.handle();
    let teed_collect = layer.layer(service_fn(common::collect::<MirrorBody<FramedBody>>));
    let teed_drain = layer.layer(service_fn(common::drain::<MirrorBody<FramedBody>>));
    let collect_run = |n| {
        let (mut svc, requests) = (service_fn(common::collect::<FramedBody>), requests.clone());
        async move { common::timed(&mut svc, n, || requests.post(), Copies::None).await }
    };
    let tee_run = |batch| {
        let (requests, teed, handle) = (&requests, &teed_collect, &tee_handle);
        move |n| {
            let (mut svc, requests) = (teed.clone(), requests.clone());
            let copies = Copies::Excluded(handle, batch);
            async move { common::timed(&mut svc, n, || requests.post(), copies).await }
        }
    };
    if wanted("tee") {
        cases.push(Case {
            name: "tee",
            what: "POST 64 KiB in 4 frames, tee vs no layer (primary collects; 500 copies alive)",
            judge: Judge::Ratio(Some(1.2)),
            pair: compare(&rt, post_n, collect_run, tee_run(BATCH)),
        });
    }
    if wanted("tee_few") {
        cases.push(Case {
            name: "tee_few",
            what: "POST 64 KiB in 4 frames, tee vs no layer (primary collects; 16 copies alive)",
            judge: Judge::Ratio(None),
            pair: compare(&rt, post_n, collect_run, tee_run(SMALL_BATCH)),
        });
    }
    if wanted("tee_walk") {
        let pair = compare(
            &rt,
            post_n,
            |n| {
                let (mut svc, requests) =
                    (service_fn(common::drain::<FramedBody>), requests.clone());
                async move { common::timed(&mut svc, n, || requests.post(), Copies::None).await }
            },
            |n| {
                let (mut svc, requests) = (teed_drain.clone(), requests.clone());
                let copies = Copies::Excluded(&tee_handle, BATCH);
                async move { common::timed(&mut svc, n, || requests.post(), copies).await }
            },
        );
        cases.push(Case {
            name: "tee_walk",
            what: "POST 64 KiB in 4 frames, tee vs no layer (primary only walks the frames)",
            judge: Judge::Ratio(None),
            pair,
        });
    }
    common::assert_all_mirrored(&tee_handle);

    println!();
    if !measuring {
        println!("(smoke run without --bench: the numbers below mean nothing; use cargo bench)");
    }
    for case in &cases {
        let headline = match case.name {
            "sampling" => format!("sampling 0%: {:.2}x bare", case.pair.ratio()),
            "get" => format!(
                "mirror 100% GET: {:+.0} ns per request over bare",
                case.pair.added_ns()
            ),
            "tee" => format!("tee 64 KiB: {:.2}x pass-through", case.pair.ratio()),
            _ => format!("{}: {}", case.name, case.overhead()),
        };
        println!(
            "{headline} (medians {:.0} ns vs {:.0} ns, fastest rounds {:.0} ns vs {:.0} ns; \
             target {}: {})",
            case.pair.variant(),
            case.pair.baseline(),
            fastest(&case.pair.variant),
            fastest(&case.pair.baseline),
            case.target(),
            case.verdict()
        );
    }
    println!();
    println!("| case | what | baseline | with mirror | overhead | target | met |");
    println!("|---|---|---|---|---|---|---|");
    for case in &cases {
        println!(
            "| `{}` | {} | {:.0} ns | {:.0} ns | {} | {} | {} |",
            case.name,
            case.what,
            case.pair.baseline(),
            case.pair.variant(),
            case.overhead(),
            case.target(),
            case.met().map_or("-", |met| if met { "yes" } else { "no" })
        );
    }
}
