//! What a route does besides routing, applied as Istio documents it: `rewrite` (uri,
//! uriRegexRewrite, authority), `headers` (request and response `set`/`add`/`remove`, per
//! route and per destination), `timeout` (504) and `fault` (delay, abort, percentages; an
//! aborted request is neither forwarded nor mirrored), and a `RouteRule`'s equivalents.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt};
use tower_mirror::istio::{Config, Router};
use tower_mirror::route::{Backends, Labels};

const COPY_HEADER: &str = "x-copy";

/// What one backend got.
#[derive(Clone, Debug)]
struct Seen {
    version: &'static str,
    /// Path and query.
    target: String,
    headers: HeaderMap,
    copy: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A backend that records what it gets; answers with its version, `server: mock` and
/// `x-version`, after `/slow` requests sleep for a minute.
#[derive(Clone)]
struct Version {
    version: &'static str,
    log: Log,
}

type VersionFuture =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for Version
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = VersionFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let target = req
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |pq| pq.to_string());
        self.log.lock().unwrap().push(Seen {
            version: self.version,
            target: target.clone(),
            headers: req.headers().clone(),
            copy: req.headers().contains_key(COPY_HEADER),
        });
        let version = self.version;
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            if target.starts_with("/slow") {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            let mut response = Response::new(Full::from(version));
            response
                .headers_mut()
                .insert("server", "mock".parse().unwrap());
            response
                .headers_mut()
                .insert("x-version", version.parse().unwrap());
            Ok(response)
        })
    }
}

fn router(yaml: &str, destination: &str, versions: &[&'static str], log: &Log) -> Router {
    let config = Config::from_yaml(yaml).unwrap();
    let backends = versions
        .iter()
        .fold(Backends::new(destination), |b, &version| {
            b.with(
                Labels::from([("version", version)]),
                Version {
                    version,
                    log: log.clone(),
                },
            )
        });
    Router::builder(&config)
        .backends(backends)
        .configure_mirrors(|layer| layer.header(COPY_HEADER, "1").max_in_flight(1 << 20))
        .seed(11)
        .build()
        .unwrap()
}

async fn send(router: &Router, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String) {
    let response = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn get(target: &str) -> Request<Full<Bytes>> {
    Request::get(target).body(Full::default()).unwrap()
}

fn seen(log: &Log) -> Vec<Seen> {
    std::mem::take(&mut *log.lock().unwrap())
}

const SUBSETS: &str = "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
";

fn virtual_service(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ratings}}
spec:
  hosts: [ratings]
  http:
{http}{SUBSETS}"
    )
}

#[tokio::test]
async fn rewrite_uri_replaces_what_the_match_took() {
    let yaml = virtual_service(
        "  - match: [{uri: {prefix: /ratings}}]
    rewrite: {uri: /v1/bookRatings}
    route: [{destination: {host: ratings, subset: v1}}]
    mirror: {host: ratings, subset: v2}
  - match: [{uri: {exact: /old}}, {uri: {regex: '/legacy/[0-9]+'}}]
    rewrite: {uri: /new}
    route: [{destination: {host: ratings, subset: v1}}]
  - match: [{uri: {prefix: /CASE}, ignoreUriCase: true}]
    rewrite: {uri: /lower}
    route: [{destination: {host: ratings, subset: v1}}]
  - rewrite: {uri: /v2}
    route: [{destination: {host: ratings, subset: v1}}]
",
    );
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1", "v2"], &log);
    let cases = [
        // The matched prefix is replaced; the query is kept.
        ("/ratings/5?user=7", "/v1/bookRatings/5?user=7"),
        ("/ratings", "/v1/bookRatings"),
        // Exact and regex matches: the whole path.
        ("/old?x=1", "/new?x=1"),
        ("/legacy/42", "/new"),
        ("/case/A", "/lower/A"),
        // No uri condition: the prefix `/` (Envoy's prefix_rewrite, trailing slash and all).
        ("/other", "/v2other"),
    ];
    for (sent, expected) in cases {
        send(&router, get(sent)).await;
        router.wait_idle().await;
        let got = seen(&log);
        let primary: Vec<&str> = got
            .iter()
            .filter(|s| !s.copy)
            .map(|s| s.target.as_str())
            .collect();
        assert_eq!(primary, [expected], "{sent}");
        // The copy is made from the rewritten request, as Envoy shadows it.
        if sent.starts_with("/ratings") {
            let copy: Vec<&str> = got
                .iter()
                .filter(|s| s.copy)
                .map(|s| s.target.as_str())
                .collect();
            assert_eq!(copy, [expected], "copy of {sent}");
        }
    }
}

#[tokio::test]
async fn uri_regex_rewrite_and_authority() {
    let yaml = virtual_service(
        "  - match: [{uri: {prefix: /service}}]
    rewrite:
      uriRegexRewrite: {match: '^/service/([^/]+)/(.*)$', rewrite: '/customprefix/\\2/\\1'}
      authority: ratings.internal:9080
    route: [{destination: {host: ratings, subset: v1}}]
  - headers:
      request:
        set: {host: from-headers.example}
    route: [{destination: {host: ratings, subset: v1}}]
",
    );
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1", "v2"], &log);
    let req = Request::get("/service/update/v1/api?q=1")
        .header("host", "ratings")
        .body(Full::default())
        .unwrap();
    send(&router, req).await;
    let got = seen(&log);
    assert_eq!(got[0].target, "/customprefix/v1/api/update?q=1");
    assert_eq!(got[0].headers["host"], "ratings.internal:9080");

    // A `host` set through headers is an authority rewrite, as in Istio.
    send(&router, get("http://ratings/x")).await;
    let got = seen(&log);
    assert_eq!(got[0].headers["host"], "from-headers.example");
}

#[tokio::test]
async fn headers_change_requests_copies_and_responses() {
    // After Istio's own example (VirtualService reference, "Headers").
    let yaml = virtual_service(
        "  - headers:
      request:
        set: {test: 'true', x-env: staging}
        add: {x-trace: added}
        remove: [cookie]
      response:
        set: {x-route: route}
        add: {x-served-by: tower-mirror}
        remove: [x-version]
    route:
    - destination: {host: ratings, subset: v1}
      weight: 1
      headers:
        request: {set: {x-subset: v1, x-env: v1-env}}
        response: {set: {x-from: v1, x-route: destination}}
    - destination: {host: ratings, subset: v2}
      weight: 1
      headers:
        response: {remove: [server]}
",
    );
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1", "v2"], &log);
    let mut by_version = std::collections::HashMap::new();
    for i in 0..40 {
        let req = Request::get(format!("/r/{i}"))
            .header("x-env", "prod")
            .header("x-trace", "original")
            .header("cookie", "session=1")
            .body(Full::default())
            .unwrap();
        let (status, headers, body) = send(&router, req).await;
        assert_eq!(status, StatusCode::OK);
        by_version.entry(body).or_insert(headers);
    }
    let v1 = &by_version["v1"];
    let v2 = &by_version["v2"];
    assert_eq!(v1["x-from"], "v1");
    assert_eq!(v1["server"], "mock");
    // Among several destinations, the destination's changes come first, the route's last.
    assert_eq!(v1["x-route"], "route");
    assert_eq!(v1["x-served-by"], "tower-mirror");
    assert!(!v1.contains_key("x-version"));
    assert!(!v2.contains_key("server"), "v2's destination removes it");
    assert!(!v2.contains_key("x-from"));
    assert_eq!(v2["x-route"], "route");

    for request in seen(&log) {
        let h = &request.headers;
        assert_eq!(h["test"], "true");
        assert_eq!(h["x-env"], "staging", "the route's set comes last");
        let traces: Vec<_> = h.get_all("x-trace").iter().collect();
        assert_eq!(traces, ["original", "added"]);
        assert!(!h.contains_key("cookie"));
        assert_eq!(
            h.get("x-subset").is_some(),
            request.version == "v1",
            "only v1's destination sets x-subset"
        );
    }
}

#[tokio::test]
async fn destination_headers_reach_the_copy_of_the_request() {
    // Envoy applies the chosen destination's request headers before shadowing; with one
    // destination, Istio puts them after the route's.
    let yaml = virtual_service(
        "  - route:
    - destination: {host: ratings, subset: v1}
      headers: {request: {add: {x-destination: v1}, set: {x-level: destination}}}
    headers: {request: {set: {x-level: route}}}
    mirror: {host: ratings, subset: v2}
",
    );
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1", "v2"], &log);
    send(&router, get("/")).await;
    router.wait_idle().await;
    let got = seen(&log);
    assert_eq!(got.len(), 2);
    for request in got {
        assert_eq!(request.headers["x-destination"], "v1", "{request:?}");
        assert_eq!(request.headers["x-level"], "destination", "{request:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn timeout_answers_504_when_the_destination_is_late() {
    let yaml = virtual_service(
        "  - timeout: 1.5s
    route: [{destination: {host: ratings, subset: v1}}]
    mirror: {host: ratings, subset: v2}
",
    );
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1", "v2"], &log);
    let start = tokio::time::Instant::now();
    let (status, _, body) = send(&router, get("/slow")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::GATEWAY_TIMEOUT, "upstream request timeout")
    );
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    // In time, the answer is the backend's.
    let (status, _, body) = send(&router, get("/fast")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "v1"));
}

#[tokio::test(start_paused = true)]
async fn fault_delay_waits_before_forwarding() {
    let yaml = virtual_service(
        "  - match: [{headers: {end-user: {exact: jason}}}]
    fault:
      delay: {fixedDelay: 7s, percentage: {value: 100.0}}
    timeout: 2s
    route: [{destination: {host: ratings, subset: v1}}]
  - fault:
      delay: {fixedDelay: 7s}
    route: [{destination: {host: ratings, subset: v1}}]
",
    );
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1", "v2"], &log);
    let jason = Request::get("/")
        .header("end-user", "jason")
        .body(Full::default())
        .unwrap();
    let start = tokio::time::Instant::now();
    let (status, _, _) = send(&router, jason).await;
    // The delay does not count against the timeout (it happens before the route).
    assert_eq!(status, StatusCode::OK);
    assert_eq!(start.elapsed(), Duration::from_secs(7));

    // Without a percentage, no request is delayed (as Istio documents).
    let start = tokio::time::Instant::now();
    send(&router, get("/")).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn an_aborted_request_is_neither_forwarded_nor_mirrored() {
    let yaml = virtual_service(
        "  - match: [{uri: {prefix: /all}}]
    fault:
      abort: {httpStatus: 555, percentage: {value: 100}}
    route: [{destination: {host: ratings, subset: v1}}]
    mirror: {host: ratings, subset: v2}
  - fault:
      abort: {httpStatus: 503, percentage: {value: 25}}
    route: [{destination: {host: ratings, subset: v1}}]
    mirror: {host: ratings, subset: v2}
",
    );
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1", "v2"], &log);
    for _ in 0..20 {
        let (status, _, body) = send(&router, get("/all")).await;
        assert_eq!(
            (status.as_u16(), body.as_str()),
            (555, "fault filter abort")
        );
    }
    router.wait_idle().await;
    assert!(seen(&log).is_empty(), "no backend, no mirror");
    assert_eq!(router.mirrors()[0].handle.stats().seen, 0);

    const N: usize = 2000;
    let mut aborted = 0;
    for _ in 0..N {
        if send(&router, get("/some")).await.0 == StatusCode::SERVICE_UNAVAILABLE {
            aborted += 1;
        }
    }
    router.wait_idle().await;
    // 25% of 2000; five standard deviations are about 97.
    assert!((aborted as f64 - 500.0).abs() < 97.0, "{aborted} aborted");
    let got = seen(&log);
    assert_eq!(got.iter().filter(|s| !s.copy).count(), N - aborted);
    assert_eq!(got.iter().filter(|s| s.copy).count(), N - aborted);
    assert_eq!(
        router.mirrors()[1].handle.stats().seen,
        (N - aborted) as u64
    );
}

/// Istio 0.5's spellings: `rewrite`, `appendHeaders`, `httpReqTimeout`, `httpFault`.
#[tokio::test(start_paused = true)]
async fn route_rule_equivalents_apply_too() {
    let rule = |name: &str, precedence: i32, body: &str| {
        format!(
            "apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {{name: {name}}}
spec:
  destination: {{name: ratings}}
  precedence: {precedence}
{body}---
"
        )
    };
    let yaml = [
        rule(
            "aborted",
            3,
            "  match: {request: {headers: {x-abort: {exact: '1'}}}}
  httpFault:
    abort: {percent: 100, httpStatus: 418}
",
        ),
        rule(
            "slow",
            2,
            "  match: {request: {headers: {uri: {prefix: /slow}}}}
  httpReqTimeout: {simpleTimeout: {timeout: 3s}}
",
        ),
        rule(
            "rest",
            1,
            "  rewrite: {uri: /v1, authority: ratings.v1}
  appendHeaders: {x-appended: 'yes'}
  route: [{labels: {version: v1}}]
",
        ),
    ]
    .concat();
    let log = Log::default();
    let router = router(&yaml, "ratings", &["v1"], &log);

    let req = Request::get("/")
        .header("x-abort", "1")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&router, req).await.0.as_u16(), 418);
    assert_eq!(
        send(&router, get("/slow")).await.0,
        StatusCode::GATEWAY_TIMEOUT
    );
    seen(&log);

    assert_eq!(send(&router, get("/ratings/1")).await.0, StatusCode::OK);
    let got = seen(&log);
    // No uri match: the leading `/` is replaced.
    assert_eq!(got[0].target, "/v1ratings/1");
    assert_eq!(got[0].headers["host"], "ratings.v1");
    assert_eq!(got[0].headers["x-appended"], "yes");
}

#[test]
fn retries_and_cors_stay_warnings_and_nothing_else_does() {
    let config = Config::from_yaml(&virtual_service(
        "  - retries: {attempts: 3, perTryTimeout: 2s}
    corsPolicy: {allowOrigins: [{exact: 'https://example.com'}]}
    timeout: 10s
    fault: {abort: {httpStatus: 500, percentage: {value: 1}}}
    headers: {request: {set: {x-a: b}}}
    rewrite: {uri: /}
    route: [{destination: {host: ratings, subset: v1}}]
",
    ))
    .unwrap();
    let warned: Vec<&str> = config
        .warnings()
        .iter()
        .map(|w| {
            w.split(" at line")
                .next()
                .unwrap()
                .rsplit(", ")
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(warned, ["spec.http[0].retries", "spec.http[0].corsPolicy"]);
    let rule = &config.rules()[0];
    assert_eq!(rule.timeout, Some(Duration::from_secs(10)));
    assert!(rule.fault.is_some() && rule.rewrite.is_some() && !rule.headers.is_empty());
}

#[test]
fn what_cannot_be_applied_is_refused_where_it_is() {
    let cases = [
        (
            "    fault: {abort: {grpcStatus: UNAVAILABLE}}\n",
            "spec.http[0].fault.abort.grpcStatus",
            "`grpcStatus` is not supported",
        ),
        (
            "    fault: {abort: {httpStatus: 700}}\n",
            "spec.http[0].fault.abort.httpStatus",
            "HTTP status 700 is not in range 200-599",
        ),
        (
            "    fault: {}\n",
            "spec.http[0].fault",
            "needs a `delay`, an `abort` or both",
        ),
        (
            "    fault: {delay: {fixedDelay: 1h, percentage: {value: 101}}}\n",
            "spec.http[0].fault.delay.percentage.value",
            "must be between 0 and 100, got 101",
        ),
        (
            "    timeout: 0s\n",
            "spec.http[0].timeout",
            "must be at least 1ms",
        ),
        (
            "    timeout: 1.0005s\n",
            "spec.http[0].timeout",
            "only durations to the millisecond are supported",
        ),
        (
            "    timeout: soon\n",
            "spec.http[0].timeout",
            "`soon` is not a duration",
        ),
        (
            "    headers: {request: {set: {x-client: '%DOWNSTREAM_REMOTE_ADDRESS%'}}}\n",
            "spec.http[0].headers.request.set.x-client",
            "`%...%` is a variable Envoy expands",
        ),
        (
            "    headers: {request: {remove: [':path']}}\n",
            "spec.http[0].headers.request.remove[0]",
            "a pseudo-header cannot be changed",
        ),
        (
            "    headers: {response: {set: {host: x}}}\n",
            "spec.http[0].headers.response.set.host",
            "the `Host` header can only be set on requests",
        ),
        (
            "    rewrite: {authority: a.example}\n    headers: {request: {set: {host: b.example}}}\n",
            "spec.http[0].headers.request.set.host",
            "the authority is already set by `rewrite.authority`",
        ),
        (
            "    rewrite: {uri: v2}\n",
            "spec.http[0].rewrite.uri",
            "must start with `/`",
        ),
        (
            "    rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}\n",
            "spec.http[0].rewrite.uriRegexRewrite",
            "set only one of `uri` or `uriRegexRewrite`",
        ),
    ];
    for (fields, path, message) in cases {
        let yaml = virtual_service(&format!(
            "  - route: [{{destination: {{host: ratings, subset: v1}}}}]\n{fields}"
        ));
        let err = Config::from_yaml(&yaml).unwrap_err();
        assert_eq!(err.path(), path, "{fields}: {err}");
        assert!(err.message().contains(message), "{fields}: {err}");
        assert!(err.line().is_some(), "{err}");
    }
}
