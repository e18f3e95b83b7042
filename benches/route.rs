//! Cost of routing: `WeightedRoute::pick` over 2 and 16 splits (seeded random, and sticky
//! by header), and a call through `Subset` and `WeightedRoute` against calling the
//! instance directly.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Request, Response};
use tower::{Service, ServiceExt, service_fn};
use tower_mirror::route::{Backends, Labels, WeightedRoute};

/// `splits` versions `v0..`, one instance each, weighted 1, 2, 3, ...
fn route<S: Clone>(splits: usize, instance: S) -> WeightedRoute<S> {
    let version = |i: usize| Labels::from([("version", format!("v{i}"))]);
    let backends = (0..splits).fold(Backends::new("httpbin"), |b, i| {
        b.with(version(i), instance.clone())
    });
    (0..splits)
        .fold(WeightedRoute::builder(), |r, i| {
            r.split(version(i), u32::try_from(i + 1).expect("few splits"))
        })
        .seed(7)
        .sticky_by_header("x-user")
        .build(&backends)
        .expect("valid route")
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("weighted_pick");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    let mut sticky = HeaderMap::new();
    sticky.insert("x-user", "alice@example.com".parse().expect("header value"));
    let anonymous = HeaderMap::new();
    for splits in [2, 16] {
        let route = route(splits, ());
        group.bench_with_input(BenchmarkId::new("random", splits), &route, |b, route| {
            b.iter(|| route.pick(black_box(&anonymous)));
        });
        group.bench_with_input(BenchmarkId::new("sticky", splits), &route, |b, route| {
            b.iter(|| route.pick(black_box(&sticky)));
        });
    }
    group.finish();
}

async fn answer(_req: Request<()>) -> Result<Response<&'static str>, Infallible> {
    Ok(Response::new("ok"))
}

fn call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("route_call");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    let instance = service_fn(answer);
    let backends = (0..4).fold(Backends::new("httpbin"), |b, i| {
        b.with(
            Labels::from([("version", "v2"), ("pod", &*format!("p{i}"))]),
            instance,
        )
    });
    let subset = backends
        .select(&Labels::from([("version", "v2")]))
        .expect("v2 exists");
    let weighted = route(2, instance);

    group.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| async {
            let mut svc = instance;
            svc.ready().await?.call(Request::new(())).await
        });
    });
    group.bench_function("subset_4_instances", |b| {
        b.to_async(&rt).iter(|| {
            let mut svc = subset.clone();
            async move { svc.ready().await?.call(Request::new(())).await }
        });
    });
    group.bench_function("weighted_2_splits", |b| {
        b.to_async(&rt).iter(|| {
            let mut svc = weighted.clone();
            async move { svc.ready().await?.call(Request::new(())).await }
        });
    });
    group.finish();
}

criterion_group!(benches, pick, call);
criterion_main!(benches);
