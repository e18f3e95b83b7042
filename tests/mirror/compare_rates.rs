//! Compare mode ranks: per route and field, how often the shadow differs (a rate), how
//! often two primaries do (the noise rate), routes and fields sorted by rate; routes
//! named by `route_from` (axum's `MatchedPath`) or guessed from the path.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::MatchedPath;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceExt, service_fn};
use tower_mirror::MirrorLayer;
use tower_mirror::compare::{CompareConfig, CompareReport};

use crate::compare::{Body, answer, drive, json, response};

fn get_req(path: String) -> Request<Body> {
    Request::get(path).body(Full::default()).unwrap()
}

fn number(path: &str) -> u64 {
    path.rsplit('/').next().unwrap().parse().unwrap()
}

/// `/z/{i}`: the shadow's status differs for one request in four, `$.x` for one in two
/// (the same even requests); `/a` never differs.
async fn ranked() -> CompareReport {
    let primary = answer(|_, path| json(format!(r#"{{"x":0,"path":"{path}"}}"#)));
    let shadow = answer(|_, path| {
        if path == "/a" {
            return json(r#"{"x":0,"path":"/a"}"#);
        }
        let i = number(path);
        let status = if i.is_multiple_of(4) { 500 } else { 200 };
        let x = if i.is_multiple_of(2) { 1 } else { 0 };
        response(
            status,
            &[("content-type", "application/json")],
            format!(r#"{{"x":{x},"path":"{path}"}}"#),
        )
    });
    let requests = (0..40)
        .map(|i| get_req(format!("/z/{i}")))
        .chain((0..10).map(|_| get_req("/a".to_owned())));
    let (handle, _) = drive(primary, shadow, |l| l, CompareConfig::new(), requests).await;
    handle.compare_report()
}

#[tokio::test]
async fn rates_add_up() {
    let report = ranked().await;
    assert_eq!(report.compared, 50);
    assert_eq!(report.matched + report.differed, report.compared);
    assert_eq!(
        report.routes.iter().map(|r| r.compared).sum::<u64>(),
        report.compared
    );
    assert_eq!(
        report.routes.iter().map(|r| r.differed).sum::<u64>(),
        report.differed
    );
    for route in &report.routes {
        assert_eq!(route.matched + route.differed, route.compared);
        for field in &route.fields {
            assert_eq!(field.compared, route.compared);
            assert!(field.differed <= route.differed);
            assert_eq!(field.rate(), field.differed as f64 / field.compared as f64);
        }
    }

    let z = &report.routes[0];
    assert_eq!(z.route, "GET /z/{n}");
    assert_eq!((z.compared, z.differed), (40, 20));
    assert_eq!(z.rate(), 0.5);
    let fields: Vec<(&str, u64, f64)> = z
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.differed, f.rate()))
        .collect();
    assert_eq!(fields, [("$.x", 20, 0.5), ("status", 10, 0.25)]);
    assert_eq!(
        z.top_fields,
        [("$.x".to_owned(), 20), ("status".to_owned(), 10)]
    );

    // Ranked by rate, not by name: `/a` never differs and comes last.
    let a = &report.routes[1];
    assert_eq!(
        (a.route.as_str(), a.rate(), a.fields.len()),
        ("GET /a", 0.0, 0)
    );

    // The JSON carries the same rates, in the same order.
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["routes"][0]["route"], "GET /z/{n}");
    assert_eq!(json["routes"][0]["rate"], 0.5);
    assert_eq!(json["routes"][0]["fields"][1]["field"], "status");
    assert_eq!(json["routes"][0]["fields"][1]["rate"], 0.25);
    assert_eq!(json["routes"][1]["rate"], 0.0);
}

#[tokio::test]
async fn the_text_report_is_ranked_with_rates() {
    let text = ranked().await.to_string();
    let z = text
        .find("GET /z/{n}: 20 of 40 differed (50.0%)")
        .expect(&text);
    let x = text.find("50.0%  $.x (20 of 40)").expect(&text);
    let status = text.find("25.0%  status (10 of 40)").expect(&text);
    let a = text.find("GET /a: 0 of 10 differed (0.0%)").expect(&text);
    assert!(z < x && x < status && status < a, "{text}");
}

#[tokio::test]
async fn noise_rates_come_from_two_primaries() {
    // Primary-version answers differ at `$.at` always and `$.seq` one time in two; the
    // shadow also differs at `$.price` one time in four.
    let clock = Arc::new(AtomicU64::new(0));
    let v1 = {
        let clock = Arc::clone(&clock);
        move |path: &str| {
            let t = clock.fetch_add(1, Ordering::Relaxed);
            let i = number(path);
            let seq = if i.is_multiple_of(2) { t } else { 0 };
            format!(r#"{{"at":{t},"seq":{seq},"price":10}}"#)
        }
    };
    let primary = {
        let v1 = v1.clone();
        answer(move |_, path| json(v1(path)))
    };
    let secondary = {
        let v1 = v1.clone();
        service_fn(move |req: Request<Body>| {
            let body = v1(req.uri().path());
            async move { Ok::<_, Infallible>(json(body)) }
        })
    };
    let shadow = {
        let clock = Arc::clone(&clock);
        answer(move |_, path| {
            let t = clock.fetch_add(1, Ordering::Relaxed);
            let price = if number(path).is_multiple_of(4) {
                11
            } else {
                10
            };
            json(format!(r#"{{"at":{t},"seq":0,"price":{price}}}"#))
        })
    };
    let (handle, _) = drive(
        primary,
        shadow,
        |l| l,
        CompareConfig::new().noise_from(secondary),
        (1..=8).map(|i| get_req(format!("/p/{i}"))),
    )
    .await;
    let report = handle.compare_report();
    let route = &report.routes[0];
    assert_eq!(route.noise_compared, 8);
    assert_eq!(route.noise_fields, ["$.at", "$.seq"]);
    let rates: Vec<(&str, bool, f64, f64)> = route
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.noise, f.rate(), f.noise_rate()))
        .collect();
    assert_eq!(
        rates,
        [
            ("$.price", false, 0.25, 0.0),
            ("$.at", true, 1.0, 1.0),
            ("$.seq", true, 0.5, 0.5),
        ]
    );
    // Noise does not make answers differ: only the price does.
    assert_eq!(route.differed, 2);
}

async fn axum_report(config: CompareConfig) -> CompareReport {
    let shadow = service_fn(|req: Request<Full<Bytes>>| async move {
        let body = format!(r#"{{"path":"{}","v":2}}"#, req.uri().path());
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body)))
    });
    let layer = MirrorLayer::new(shadow).compare(config);
    let handle = layer.handle();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(
                |axum::extract::Path(id): axum::extract::Path<String>| async move {
                    format!(r#"{{"path":"/users/{id}","v":1}}"#)
                },
            ),
        )
        .layer(layer);
    for id in ["7", "ada", "42"] {
        let req = Request::get(format!("/users/{id}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    handle.wait_idle().await;
    handle.compare_report()
}

#[tokio::test]
async fn routes_come_from_axum_matched_path_with_route_from() {
    let report = axum_report(CompareConfig::new().route_from(|parts| {
        parts
            .extensions
            .get::<MatchedPath>()
            .map(|path| path.as_str().to_owned())
    }))
    .await;
    let routes: Vec<(&str, u64)> = report
        .routes
        .iter()
        .map(|r| (r.route.as_str(), r.differed))
        .collect();
    assert_eq!(routes, [("GET /users/{id}", 3)]);

    // Without it, the template is guessed from the path: a name is not an id.
    let report = axum_report(CompareConfig::new()).await;
    let mut routes: Vec<&str> = report.routes.iter().map(|r| r.route.as_str()).collect();
    routes.sort_unstable();
    assert_eq!(routes, ["GET /users/ada", "GET /users/{n}"]);
}
