//! `Backends` and `Subset`: selection by labels and round robin over the matching instances.

use std::convert::Infallible;

use http::{Request, Response};
use tower::{Service, ServiceExt, service_fn};
use tower_mirror::route::{Backends, Labels, RouteError, Subset};

type Req = Request<()>;

fn instance(
    name: &'static str,
) -> impl Service<Req, Response = Response<&'static str>, Error = Infallible> + Clone {
    service_fn(move |_req: Req| async move { Ok::<_, Infallible>(Response::new(name)) })
}

async fn served_by<S>(svc: &mut S) -> &'static str
where
    S: Service<Req, Response = Response<&'static str>, Error = Infallible>,
{
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    *res.body()
}

fn three_v1_and_a_v2()
-> Backends<impl Service<Req, Response = Response<&'static str>, Error = Infallible> + Clone> {
    Backends::new("httpbin")
        .with(
            Labels::from([("version", "v1"), ("zone", "a")]),
            instance("v1-a"),
        )
        .with(
            Labels::from([("version", "v1"), ("zone", "b")]),
            instance("v1-b"),
        )
        .with(
            Labels::from([("version", "v2"), ("zone", "a")]),
            instance("v2-a"),
        )
        .with(
            Labels::from([("version", "v1"), ("zone", "c")]),
            instance("v1-c"),
        )
}

#[tokio::test]
async fn round_robin_over_three_instances() {
    let mut v1 = three_v1_and_a_v2()
        .select(&Labels::from([("version", "v1")]))
        .unwrap();
    assert_eq!(v1.len(), 3);
    let mut served = Vec::new();
    for _ in 0..9 {
        served.push(served_by(&mut v1).await);
    }
    assert_eq!(
        served,
        [
            "v1-a", "v1-b", "v1-c", "v1-a", "v1-b", "v1-c", "v1-a", "v1-b", "v1-c"
        ]
    );
}

#[tokio::test]
async fn clones_share_the_round_robin_position() {
    let v1 = three_v1_and_a_v2()
        .select(&Labels::from([("version", "v1")]))
        .unwrap();
    // As axum and `Mirror` do: a fresh clone per request.
    let mut served = Vec::new();
    for _ in 0..6 {
        served.push(*v1.clone().oneshot(Request::new(())).await.unwrap().body());
    }
    assert_eq!(served, ["v1-a", "v1-b", "v1-c", "v1-a", "v1-b", "v1-c"]);
}

#[tokio::test]
async fn selection_uses_subset_matching() {
    let backends = three_v1_and_a_v2();

    let mut zone_a = backends.select(&Labels::from([("zone", "a")])).unwrap();
    let mut served = vec![served_by(&mut zone_a).await, served_by(&mut zone_a).await];
    served.sort_unstable();
    assert_eq!(served, ["v1-a", "v2-a"]);

    let mut exact = backends
        .select(&Labels::from([("version", "v1"), ("zone", "b")]))
        .unwrap();
    assert_eq!(exact.len(), 1);
    assert_eq!(served_by(&mut exact).await, "v1-b");

    let all = backends.select(&Labels::new()).unwrap();
    assert_eq!(all.len(), 4);

    let labels: Vec<String> = all.instances().map(|(l, _)| l.to_string()).collect();
    assert_eq!(
        labels,
        [
            "version=v1,zone=a",
            "version=v1,zone=b",
            "version=v2,zone=a",
            "version=v1,zone=c"
        ]
    );
}

#[test]
fn a_selector_matching_nothing_is_an_error() {
    let backends = three_v1_and_a_v2();
    for selector in [
        Labels::from([("version", "v3")]),
        Labels::from([("version", "v2"), ("zone", "b")]),
        Labels::from([("region", "eu")]),
    ] {
        let err = backends.select(&selector).unwrap_err();
        assert_eq!(
            err,
            RouteError::NoMatchingBackend {
                destination: "httpbin".into(),
                selector: selector.clone(),
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "no backend of `httpbin` matches the selector `{selector}`: add one with \
                 `Backends::with` or fix the selector's labels"
            )
        );
    }

    let empty: Backends<()> = Backends::new("reviews");
    assert_eq!(
        empty.select(&Labels::new()).unwrap_err().to_string(),
        "destination `reviews` has no backends: add one with `Backends::with`"
    );
}

#[test]
fn accessors_and_debug_without_debug_services() {
    let backends = three_v1_and_a_v2();
    assert_eq!(backends.destination(), "httpbin");
    assert_eq!(backends.len(), 4);
    assert!(!backends.is_empty());

    let v2 = backends.select(&"version=v2".parse().unwrap()).unwrap();
    assert_eq!(v2.destination(), "httpbin");
    assert_eq!(v2.labels(), &Labels::from([("version", "v2")]));

    // service_fn closures are not Debug; the route types still are.
    let debug = format!("{backends:?} {v2:?}");
    assert!(debug.contains("httpbin"), "{debug}");
    assert!(debug.contains("\"v2\""), "{debug}");
}

#[test]
fn send_sync_clone_when_the_service_is() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    type Svc = tower::util::BoxCloneSyncService<Req, Response<()>, Infallible>;
    assert_traits::<Backends<Svc>>();
    assert_traits::<Subset<Svc>>();
    assert_traits::<tower_mirror::route::WeightedRoute<Svc>>();
    assert_traits::<tower_mirror::route::Labels>();

    fn assert_send_future<F: std::future::Future + Send>(_: &F) {}
    let subset = Backends::new("d")
        .with(
            Labels::new(),
            Svc::new(service_fn(|_req: Req| async {
                Ok::<_, Infallible>(Response::new(()))
            })),
        )
        .select(&Labels::new())
        .unwrap();
    let fut = subset.oneshot(Request::new(()));
    assert_send_future(&fut);
}
