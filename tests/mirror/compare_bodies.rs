//! Bodies that are not both JSON: text by line (the first differing line, with context),
//! anything else by length and hash.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use support::fnv1a64;
use tower_mirror::compare::{CompareConfig, Difference};

use crate::compare::{Body, answer, compared, drive, response};

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Full::default()).unwrap()
}

const PRIMARY_PAGE: &str =
    "<html>\n<head>\n<title>Shop</title>\n<body>\n<p>Total: 10</p>\n</body>\n";
const SHADOW_PAGE: &str =
    "<html>\n<head>\n<title>Shop</title>\n<body>\n<p>Total: 11</p>\n</body>\n";

#[tokio::test]
async fn a_text_diff_shows_the_first_differing_line() {
    let (handle, events) = drive(
        answer(|_, _| response(200, &[("content-type", "text/html")], PRIMARY_PAGE)),
        answer(|_, _| response(200, &[("content-type", "text/html")], SHADOW_PAGE)),
        |layer| layer,
        CompareConfig::new(),
        [get("/cart")],
    )
    .await;
    let differences = &compared(&events)[0];
    assert_eq!(differences.len(), 1, "{differences:?}");
    match &differences[0] {
        Difference::TextLine {
            line,
            context,
            primary,
            shadow,
            ..
        } => {
            assert_eq!(*line, 5);
            assert_eq!(context, &["<title>Shop</title>", "<body>"]);
            assert_eq!(primary.as_deref(), Some("<p>Total: 10</p>"));
            assert_eq!(shadow.as_deref(), Some("<p>Total: 11</p>"));
        }
        other => panic!("not a line difference: {other:?}"),
    }
    assert_eq!(differences[0].field(), "body");
    assert_eq!(
        differences[0].to_string(),
        r#"body line 5: "<p>Total: 10</p>" != "<p>Total: 11</p>""#
    );
    let report = handle.compare_report();
    let example = &report.routes[0].fields[0].examples[0];
    assert_eq!(
        example.primary.as_deref(),
        Some("3  <title>Shop</title>\n4  <body>\n5  <p>Total: 10</p>")
    );
    assert_eq!(
        example.shadow.as_deref(),
        Some("3  <title>Shop</title>\n4  <body>\n5  <p>Total: 11</p>")
    );
}

#[tokio::test]
async fn a_text_body_cut_short_differs_where_it_ends() {
    let (_, events) = drive(
        answer(|_, _| response(200, &[], "one\ntwo\nthree")),
        answer(|_, _| response(200, &[], "one\ntwo")),
        |layer| layer,
        CompareConfig::new(),
        [get("/")],
    )
    .await;
    assert_eq!(
        compared(&events)[0][0].to_string(),
        r#"body line 3: "three" != (absent)"#
    );
}

#[tokio::test]
async fn binary_bodies_differ_by_length_and_hash() {
    let png = Bytes::from_static(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01");
    let other = Bytes::from_static(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00");
    let (p, s) = (png.clone(), other.clone());
    let (handle, events) = drive(
        answer(move |_, _| response(200, &[("content-type", "image/png")], p.clone())),
        answer(move |_, _| response(200, &[("content-type", "image/png")], s.clone())),
        |layer| layer,
        CompareConfig::new(),
        [get("/logo.png")],
    )
    .await;
    match &compared(&events)[0][0] {
        Difference::Binary {
            primary_len,
            shadow_len,
            primary_hash,
            shadow_hash,
            ..
        } => {
            assert_eq!((*primary_len, *shadow_len), (png.len(), other.len()));
            assert_eq!(*primary_hash, fnv1a64(&png));
            assert_eq!(*shadow_hash, fnv1a64(&other));
        }
        other => panic!("not a binary difference: {other:?}"),
    }
    let report = handle.compare_report();
    let example = &report.routes[0].fields[0].examples[0];
    assert_eq!(
        example.primary,
        Some(format!("{} bytes, fnv {:016x}", png.len(), fnv1a64(&png)))
    );
}

#[tokio::test]
async fn equal_bodies_match_whatever_they_hold() {
    let png = Bytes::from_static(b"\x89PNG\r\n\x1a\n\x00\x01");
    let (p, s) = (png.clone(), png.clone());
    let (handle, _) = drive(
        answer(move |_, _| response(200, &[], p.clone())),
        answer(move |_, _| response(200, &[], s.clone())),
        |layer| layer,
        CompareConfig::new(),
        [get("/")],
    )
    .await;
    assert_eq!(handle.stats().matched, 1);
}
