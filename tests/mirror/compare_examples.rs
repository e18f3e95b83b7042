//! Compare mode keeps examples: per route and field, the request and both values, bounded
//! in number and size, with credentials redacted; the report's memory does not grow with
//! traffic.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tower_mirror::compare::{CompareConfig, CompareReport, FieldReport};

use crate::compare::{Body, Harness, answer, drive, json};

fn field<'a>(report: &'a CompareReport, route: &str, field: &str) -> &'a FieldReport {
    report
        .routes
        .iter()
        .find(|r| r.route == route)
        .unwrap_or_else(|| panic!("no route {route} in {report:#?}"))
        .fields
        .iter()
        .find(|f| f.field == field)
        .unwrap_or_else(|| panic!("no field {field} on {route} in {report:#?}"))
}

fn product_request(id: u32) -> Request<Body> {
    Request::get(format!("/products/{id}?q=shoes&access_token=tok-{id}"))
        .header("authorization", "Bearer s3cr3t")
        .header("x-api-key", "k3y")
        .header("accept", "application/json")
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn examples_show_the_request_and_both_values_without_credentials() {
    let id_of = |path: &str| -> u32 {
        path.trim_start_matches("/products/")
            .split('?')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap()
    };
    let primary = answer(move |_, path| {
        let id = id_of(path);
        let mut res = json(format!(r#"{{"id":{id},"price":{id}.5,"token":"p-{id}"}}"#));
        res.headers_mut()
            .insert("set-cookie", format!("sid=primary-{id}").parse().unwrap());
        res
    });
    let shadow = answer(move |_, path| {
        let id = id_of(path);
        let mut res = json(format!(r#"{{"id":{id},"price":{id}.25,"token":"s-{id}"}}"#));
        res.headers_mut()
            .insert("set-cookie", format!("sid=shadow-{id}").parse().unwrap());
        res
    });
    let (handle, _) = drive(
        primary,
        shadow,
        |layer| layer.strip_credentials(),
        CompareConfig::new(),
        (1..=5).map(product_request),
    )
    .await;
    let report = handle.compare_report();

    let price = field(&report, "GET /products/{n}", "$.price");
    assert_eq!(price.differed, 5);
    assert_eq!(price.examples.len(), 3, "three examples by default");
    let first = &price.examples[0];
    assert_eq!(
        first.request,
        "GET /products/1?q=shoes&access_token=[redacted]"
    );
    assert_eq!(first.primary.as_deref(), Some("1.5"));
    assert_eq!(first.shadow.as_deref(), Some("1.25"));
    assert!(
        first
            .headers
            .contains(&("accept".to_owned(), "application/json".to_owned()))
    );
    assert!(
        first
            .headers
            .contains(&("x-api-key".to_owned(), "[redacted]".to_owned())),
        "{:?}",
        first.headers
    );
    assert!(
        !first
            .headers
            .iter()
            .any(|(name, _)| name == "authorization"),
        "the copy carried no Authorization, nor does its example"
    );
    // Later examples are other requests, in order.
    assert_eq!(price.examples[2].primary.as_deref(), Some("3.5"));

    let cookie = field(&report, "GET /products/{n}", "header:set-cookie");
    assert_eq!(cookie.examples[0].primary.as_deref(), Some("[redacted]"));
    let token = field(&report, "GET /products/{n}", "$.token");
    assert_eq!(token.examples[0].shadow.as_deref(), Some("[redacted]"));

    // No credential anywhere, in any form of the report.
    let forms = [report.to_json(), report.to_html(), report.to_string()];
    for form in &forms {
        for secret in [
            "s3cr3t",
            "k3y",
            "tok-",
            "primary-1",
            "shadow-1",
            "p-1",
            "s-1",
        ] {
            assert!(!form.contains(secret), "{secret:?} leaked into {form}");
        }
    }
    // The text report shows one example per differing field.
    assert!(
        forms[2].contains("e.g. GET /products/1?q=shoes"),
        "{}",
        forms[2]
    );
}

#[tokio::test]
async fn long_values_and_request_bodies_are_truncated() {
    let long = "x".repeat(10_000);
    let primary = {
        let long = long.clone();
        answer(move |_, _| json(format!(r#"{{"text":"a{long}"}}"#)))
    };
    let shadow = answer(move |_, _| json(format!(r#"{{"text":"b{long}"}}"#)));
    let body = Bytes::from(format!(
        r#"{{"password":"hunter2","text":"{}"}}"#,
        "n".repeat(5000)
    ));
    let req = Request::post("/notes")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    let (handle, _) = drive(
        primary,
        shadow,
        |layer| layer,
        CompareConfig::new().noise_methods([]),
        [req],
    )
    .await;
    let report = handle.compare_report();
    let example = &field(&report, "POST /notes", "$.text").examples[0];
    let primary = example.primary.as_deref().unwrap();
    assert!(primary.starts_with("\"axxx"));
    assert!(primary.ends_with('…'));
    assert_eq!(
        primary.chars().count(),
        513,
        "512 characters and the ellipsis"
    );
    let body = example.body.as_deref().unwrap();
    assert!(body.chars().count() <= 257, "{}", body.len());
    assert!(body.contains(r#""password":"[redacted]""#), "{body}");
    assert!(!report.to_json().contains("hunter2"));
}

/// Request `n` goes to one of 8 routes, and its answers differ in 64 fields no earlier
/// request had, with long values: 8 routes of at most 256 fields hold 2048 fields, more
/// than the 1024 examples a report keeps.
fn many_fields(n: u32) -> Request<Body> {
    Request::get(format!("/r{}/items?n={n}", n % 8))
        .body(Full::default())
        .unwrap()
}

fn fields_answer(side: &'static str) -> crate::compare::Answer {
    answer(move |_, path| {
        let n: u32 = path.rsplit('=').next().unwrap().parse().unwrap();
        let fields: Vec<String> = (0..64)
            .map(|j| format!(r#""k{n}_{j}":"{side}-{n}-{}""#, "v".repeat(600)))
            .collect();
        json(format!("{{{}}}", fields.join(",")))
    })
}

/// The text a report holds (routes, fields, noise, examples), counts aside: what grows if
/// anything does.
fn retained_text(report: &CompareReport) -> usize {
    let example = |e: &tower_mirror::compare::Example| {
        e.request.len()
            + e.headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
            + e.body.as_ref().map_or(0, String::len)
            + e.primary.as_ref().map_or(0, String::len)
            + e.shadow.as_ref().map_or(0, String::len)
    };
    report
        .routes
        .iter()
        .map(|r| {
            r.route.len()
                + r.noise_fields.iter().map(String::len).sum::<usize>()
                + r.fields
                    .iter()
                    .map(|f| f.field.len() + f.examples.iter().map(example).sum::<usize>())
                    .sum::<usize>()
        })
        .sum()
}

fn examples(report: &CompareReport) -> usize {
    report
        .routes
        .iter()
        .flat_map(|route| &route.fields)
        .map(|f| f.examples.len())
        .sum()
}

#[tokio::test]
async fn examples_and_fields_are_bounded_so_memory_does_not_grow_with_traffic() {
    let harness = Harness::new(
        fields_answer("p"),
        fields_answer("s"),
        |layer| layer,
        CompareConfig::new().max_differences(64).max_routes(8),
    );
    harness.send((0..40).map(many_fields)).await;
    let early = harness.handle.compare_report();
    assert_eq!(early.compared, 40);
    assert_eq!(
        examples(&early),
        1024,
        "a report keeps 1024 examples in all"
    );
    assert_eq!(early.routes.len(), 8);
    assert!(early.routes.iter().all(|r| r.fields.len() == 256));
    for f in early.routes.iter().flat_map(|r| &r.fields) {
        assert!(f.examples.len() <= 3);
        for e in &f.examples {
            assert!(e.primary.as_ref().unwrap().chars().count() <= 513);
        }
    }
    let early_text = retained_text(&early);
    assert!(
        early_text > 1024 * 1000,
        "{early_text}: the examples hold long values"
    );

    // Ten times the traffic, every request with new fields and values: only counts move.
    harness.send((40..440).map(many_fields)).await;
    let late = harness.handle.compare_report();
    assert_eq!(late.compared, 440);
    assert_eq!(examples(&late), 1024);
    assert!(late.routes.iter().all(|r| r.fields.len() == 256));
    assert_eq!(late.routes.len(), 8);
    assert_eq!(
        retained_text(&late),
        early_text,
        "the report holds the same text after ten times the traffic"
    );
}

#[tokio::test]
async fn max_examples_bounds_each_field() {
    let (handle, _) = drive(
        answer(|_, path| json(format!(r#"{{"v":"{path}"}}"#))),
        answer(|_, path| json(format!(r#"{{"v":"{path}!"}}"#))),
        |layer| layer,
        CompareConfig::new().max_examples(1),
        (0..10).map(|i| {
            Request::get(format!("/a/{i}"))
                .body(Full::default())
                .unwrap()
        }),
    )
    .await;
    let report = handle.compare_report();
    let v = field(&report, "GET /a/{n}", "$.v");
    assert_eq!(v.differed, 10);
    assert_eq!(v.examples.len(), 1);
    assert_eq!(v.examples[0].primary.as_deref(), Some(r#""/a/0""#));

    let (handle, _) = drive(
        answer(|_, _| json(r#"{"v":1}"#)),
        answer(|_, _| json(r#"{"v":2}"#)),
        |layer| layer,
        CompareConfig::new().max_examples(0),
        [Request::get("/b").body(Full::default()).unwrap()],
    )
    .await;
    assert!(
        field(&handle.compare_report(), "GET /b", "$.v")
            .examples
            .is_empty()
    );
}
