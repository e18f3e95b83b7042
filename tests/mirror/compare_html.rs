//! `CompareReport::to_html`: one self-contained page that parses without a single HTML
//! error (html5ever, as a browser parses) and lists every route and field of the JSON
//! report, with markup in routes, fields and values escaped.

use std::collections::BTreeSet;
use std::convert::Infallible;

use http::Request;
use http_body_util::Full;
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;
use tower::service_fn;
use tower_mirror::compare::{CompareConfig, CompareReport};

use crate::compare::{Body, answer, drive, json, response};

const HOSTILE_ROUTE: &str = r#"/q/<script>alert("r")</script>&'"#;

/// A report with several routes, noise, skips, examples, and markup everywhere a user's
/// data reaches: a route template, a JSON key, values, a request header.
async fn busy_report() -> CompareReport {
    let primary = answer(|_, path| {
        if path.starts_with("/broken") {
            return json(r#"{"a":1}"#);
        }
        if path.starts_with("/page") {
            return response(200, &[], "<h1>title</h1>\n<p>one</p>");
        }
        json(format!(
            r#"{{"<img src=x onerror=alert(1)>":"</pre><b>p</b>","price":10,"path":"{path}"}}"#
        ))
    });
    let shadow = answer(|_, path| {
        if path.starts_with("/broken") {
            return response(200, &[("content-encoding", "gzip")], "not gzip");
        }
        if path.starts_with("/page") {
            return response(500, &[], "<h1>title</h1>\n<p>two & </p>");
        }
        json(format!(
            r#"{{"<img src=x onerror=alert(1)>":"<script>s</script>","price":12,"path":"{path}"}}"#
        ))
    });
    // A second primary: the primary's answers, plus a field of its own (noise).
    let noise = service_fn(|req: Request<Body>| async move {
        let path = req.uri().path();
        let answer = if path == "/page" {
            response(200, &[], "<h1>title</h1>\n<p>one</p>")
        } else {
            json(format!(
                r#"{{"<img src=x onerror=alert(1)>":"</pre><b>p</b>","price":10,"path":"{path}","at":1}}"#
            ))
        };
        Ok::<_, Infallible>(answer)
    });
    let config = CompareConfig::new().noise_from(noise).route_from(|parts| {
        parts
            .uri
            .path()
            .starts_with("/q/")
            .then(|| HOSTILE_ROUTE.to_owned())
    });
    let requests = ["/q/1", "/q/2", "/items/3", "/page", "/broken", "/healthz"]
        .into_iter()
        .map(|path| {
            Request::get(path)
                .header("x-note", "<i>hi</i>")
                .body(Full::default())
                .unwrap()
        });
    let (handle, _) = drive(primary, shadow, |layer| layer, config, requests).await;
    handle.compare_report()
}

fn select<'a>(scope: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    scope
        .select(&Selector::parse(css).unwrap())
        .collect::<Vec<_>>()
}

fn text(element: &ElementRef<'_>) -> String {
    element.text().collect()
}

#[test]
fn the_validator_sees_broken_markup() {
    // The check below can fail: misnested and unclosed markup is reported.
    let broken = Html::parse_document("<!DOCTYPE html><html><body><p>a</b><table><p>x</table>");
    assert!(!broken.errors.is_empty());
    let fine = Html::parse_document(
        "<!DOCTYPE html><html><head><title>t</title></head><body><p>a</p></body></html>",
    );
    assert!(fine.errors.is_empty(), "{:?}", fine.errors);
}

#[tokio::test]
async fn the_html_report_parses_cleanly_and_lists_every_route_and_field_of_the_json() {
    let report = busy_report().await;
    let html = report.to_html();
    let page = Html::parse_document(&html);
    assert!(page.errors.is_empty(), "{:?}\n{html}", page.errors);

    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    let routes = json["routes"].as_array().unwrap();
    assert!(routes.len() >= 4, "{json:#}");

    // Every route, in the index and as a section; in the report's (ranked) order.
    let json_routes: Vec<&str> = routes
        .iter()
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    let index: Vec<String> = select(&page, "table.routes td.route")
        .iter()
        .map(text)
        .collect();
    let sections = select(&page, "section.route");
    let headings: Vec<String> = sections
        .iter()
        .map(|s| text(&s.select(&Selector::parse("h2").unwrap()).next().unwrap()))
        .collect();
    assert_eq!(index, json_routes);
    assert_eq!(headings, json_routes);
    assert!(json_routes.contains(&format!("GET {HOSTILE_ROUTE}").as_str()));

    // Every field of every route, in its route's section.
    let mut fields_seen = 0;
    for (route, section) in routes.iter().zip(&sections) {
        let want: BTreeSet<&str> = route["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        let got: BTreeSet<String> = section
            .select(&Selector::parse("td.field code").unwrap())
            .map(|e| text(&e))
            .collect();
        assert_eq!(
            got.iter().map(String::as_str).collect::<BTreeSet<_>>(),
            want,
            "{}",
            route["route"]
        );
        fields_seen += want.len();
    }
    assert!(fields_seen >= 5, "{json:#}");

    // Skip reasons and examples are there too, as text.
    let skips: Vec<String> = select(&page, "table.skips td:first-child")
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        skips,
        json["skip_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    let shadows: BTreeSet<String> = select(&page, "pre.shadow").iter().map(text).collect();
    assert!(shadows.contains(r#""<script>s</script>""#), "{shadows:?}");
    assert!(
        shadows.iter().any(|s| s.contains("<p>two & </p>")),
        "{shadows:?}"
    );
    let headers: Vec<String> = select(&page, "pre.headers").iter().map(text).collect();
    assert!(headers.iter().any(|h| h.contains("x-note: <i>hi</i>")));
}

#[tokio::test]
async fn the_html_report_is_self_contained_and_inert() {
    let html = busy_report().await.to_html();
    let page = Html::parse_document(&html);
    // User data stayed text: none of it became an element.
    for tag in [
        "script", "img", "b", "i", "iframe", "link", "object", "embed",
    ] {
        assert!(
            select(&page, tag).is_empty(),
            "a <{tag}> element in\n{html}"
        );
    }
    // Nothing is loaded from anywhere: no `src`, no external link, no CSS `url(...)`.
    assert!(select(&page, "[src]").is_empty());
    for link in select(&page, "[href]") {
        let href = link.value().attr("href").unwrap();
        assert!(href.starts_with('#'), "{href}");
    }
    let style: String = select(&page, "style").iter().map(text).collect();
    assert!(!style.contains("url(") && !style.contains("@import"));
    assert_eq!(select(&page, "meta[charset=utf-8]").len(), 1);
}
