//! Cost of `Mirror` on the primary's path.
//!
//! - `mirror_get`: a bodiless GET through a bare primary, through `Mirror` sampling 0 %,
//!   and through `Mirror` copying every request to a shadow that answers at once.
//! - `mirror_post_64k`: a 64 KiB POST in 4 frames of 16 KiB, read whole by the primary,
//!   without the layer and with it copying every request (the tee).
//!
//! What is timed: `ready().await` + `call(request).await` on a current-thread runtime,
//! building the request included. Copies are spawned tasks; they run only when the loop
//! yields, in the `wait_idle` every `BATCH` (500) requests, which is outside the clock
//! (the `*_with_shadow` variants keep the clock running: the whole CPU cost per request).
//! Ratios against the baselines: `cargo bench --bench ratios`.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Empty;
use tower::{Layer, service_fn};
use tower_mirror::{MirrorBody, MirrorLayer};

use common::{BATCH, Copies, FramedBody, Requests};

fn get(c: &mut Criterion) {
    let rt = common::runtime();
    let requests = Requests::new();
    let mut group = c.benchmark_group("mirror_get");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);

    let bare = service_fn(common::canned::<Empty<Bytes>>);
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (mut svc, requests) = (bare, requests.clone());
            async move { common::timed(&mut svc, iters, || requests.get(), Copies::None).await }
        });
    });

    let primary = service_fn(common::canned::<MirrorBody<Empty<Bytes>>>);
    let layer = MirrorLayer::new(service_fn(common::shadow)).sample_percent(0.0);
    let handle = layer.handle();
    let sampled_out = layer.layer(primary);
    group.bench_function("sample_0pct", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (mut svc, requests) = (sampled_out.clone(), requests.clone());
            let copies = Copies::Excluded(&handle, BATCH);
            async move { common::timed(&mut svc, iters, || requests.get(), copies).await }
        });
    });
    assert_eq!(handle.stats().mirrored, 0);

    let layer = MirrorLayer::new(service_fn(common::shadow));
    let handle = layer.handle();
    let mirrored = layer.layer(primary);
    let variants = [
        ("mirror_100pct", Copies::Excluded(&handle, BATCH)),
        (
            "mirror_100pct_with_shadow",
            Copies::Included(&handle, BATCH),
        ),
    ];
    for (name, copies) in variants {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (mut svc, requests) = (mirrored.clone(), requests.clone());
                async move { common::timed(&mut svc, iters, || requests.get(), copies).await }
            });
        });
    }
    common::assert_all_mirrored(&handle);
    group.finish();
}

fn post(c: &mut Criterion) {
    let rt = common::runtime();
    let requests = Requests::new();
    let mut group = c.benchmark_group("mirror_post_64k");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30)
        .throughput(criterion::Throughput::Bytes(common::POST_LEN as u64));

    let plain = service_fn(common::collect::<FramedBody>);
    group.bench_function("passthrough", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (mut svc, requests) = (plain, requests.clone());
            async move { common::timed(&mut svc, iters, || requests.post(), Copies::None).await }
        });
    });

    let layer = MirrorLayer::new(service_fn(common::shadow));
    let handle = layer.handle();
    let teed = layer.layer(service_fn(common::collect::<MirrorBody<FramedBody>>));
    let variants = [
        ("tee", Copies::Excluded(&handle, BATCH)),
        ("tee_with_shadow", Copies::Included(&handle, BATCH)),
    ];
    for (name, copies) in variants {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (mut svc, requests) = (teed.clone(), requests.clone());
                async move { common::timed(&mut svc, iters, || requests.post(), copies).await }
            });
        });
    }
    common::assert_all_mirrored(&handle);
    group.finish();
}

criterion_group!(benches, get, post);
criterion_main!(benches);
