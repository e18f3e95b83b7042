//! Compare mode decodes `Content-Encoding` (gzip, deflate, br) on either side before the
//! diff, within the compare cap; a body that does not decode is skipped with its reason.

use std::io::Write;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_mirror::compare::{CompareConfig, Difference};
use tower_mirror::{MirrorBody, MirrorLayer};

use crate::compare::{Body, answer, compared, drive, response};

const DOC: &str = r#"{"id":7,"items":[{"price":10},{"price":12}]}"#;

fn gzip(data: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap().into()
}

fn deflate(data: &[u8]) -> Bytes {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap().into()
}

fn brotli(data: &[u8]) -> Bytes {
    let mut out = Vec::new();
    {
        let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        encoder.write_all(data).unwrap();
    }
    out.into()
}

fn encoded(coding: &'static str, body: Bytes) -> http::Response<Body> {
    response(
        200,
        &[
            ("content-type", "application/json"),
            ("content-encoding", coding),
        ],
        body,
    )
}

fn plain(body: &'static str) -> http::Response<Body> {
    response(200, &[("content-type", "application/json")], body)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Full::default()).unwrap()
}

#[tokio::test]
async fn gzip_on_one_side_only_still_matches_equal_json() {
    let (handle, events) = drive(
        answer(|_, _| encoded("gzip", gzip(DOC.as_bytes()))),
        answer(|_, _| plain(DOC)),
        |layer| layer,
        CompareConfig::new(),
        [get("/items/7")],
    )
    .await;
    let stats = handle.stats();
    assert_eq!(
        (stats.compared, stats.matched, stats.compare_skipped),
        (1, 1, 0),
        "{:#?}",
        handle.compare_report()
    );
    assert_eq!(compared(&events), vec![Vec::<Difference>::new()]);
}

#[tokio::test]
async fn every_coding_on_either_side_decodes() {
    type Encode = fn(&[u8]) -> Bytes;
    let codings: [(&str, Encode); 3] = [("gzip", gzip), ("deflate", deflate), ("br", brotli)];
    for (p_coding, p_encode) in codings {
        for (s_coding, s_encode) in codings {
            let (handle, _) = drive(
                answer(move |_, _| encoded(p_coding, p_encode(DOC.as_bytes()))),
                answer(move |_, _| encoded(s_coding, s_encode(DOC.as_bytes()))),
                |layer| layer,
                CompareConfig::new(),
                [get("/")],
            )
            .await;
            assert_eq!(
                handle.stats().matched,
                1,
                "primary {p_coding}, shadow {s_coding}: {:#?}",
                handle.compare_report()
            );
        }
    }
}

#[tokio::test]
async fn encoded_answers_are_diffed_as_json_after_decoding() {
    let (_, events) = drive(
        answer(|_, _| encoded("br", brotli(DOC.as_bytes()))),
        answer(|_, _| {
            encoded(
                "gzip",
                gzip(br#"{"id":7,"items":[{"price":10},{"price":13}]}"#),
            )
        }),
        |layer| layer,
        CompareConfig::new(),
        [get("/")],
    )
    .await;
    let differences = &compared(&events)[0];
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].to_string(), "$.items[1].price: 12 != 13");
}

#[tokio::test]
async fn a_corrupt_gzip_body_is_skipped_with_its_reason() {
    let mut corrupt = gzip(DOC.as_bytes()).to_vec();
    let middle = corrupt.len() / 2;
    corrupt.truncate(middle);
    let corrupt = Bytes::from(corrupt);
    let (handle, events) = drive(
        answer(|_, _| plain(DOC)),
        answer(move |_, _| encoded("gzip", corrupt.clone())),
        |layer| layer,
        CompareConfig::new(),
        [get("/a"), get("/b")],
    )
    .await;
    let stats = handle.stats();
    assert_eq!((stats.compared, stats.compare_skipped), (0, 2));
    assert!(compared(&events).is_empty());
    let report = handle.compare_report();
    assert_eq!(report.skip_reasons.len(), 1, "{:?}", report.skip_reasons);
    let (reason, count) = &report.skip_reasons[0];
    assert_eq!(*count, 2);
    assert!(
        reason.starts_with("the shadow's gzip body does not decode"),
        "{reason}"
    );
    assert!(report.to_json().contains(reason.as_str()));
    assert!(report.to_string().contains(reason.as_str()));
}

#[tokio::test]
async fn the_decoded_size_counts_against_the_compare_cap() {
    // 200 KB of JSON that gzips to well under the 64 KiB cap.
    let big = format!(r#"{{"pad":"{}"}}"#, " ".repeat(200_000));
    let zipped = gzip(big.as_bytes());
    assert!(zipped.len() < 64 * 1024);
    let (handle, _) = drive(
        answer(move |_, _| encoded("gzip", zipped.clone())),
        answer(|_, _| plain(r#"{"pad":""}"#)),
        |layer| layer,
        CompareConfig::new().max_body_bytes(64 * 1024),
        [get("/")],
    )
    .await;
    let report = handle.compare_report();
    assert_eq!((report.compared, report.skipped), (0, 1));
    assert!(
        report.skip_reasons[0]
            .0
            .contains("the primary's gzip body decodes past the compare cap"),
        "{:?}",
        report.skip_reasons
    );
}

#[tokio::test]
async fn an_unsupported_coding_is_skipped_and_the_client_gets_the_bytes_untouched() {
    let zipped = gzip(DOC.as_bytes());
    let primary_body = zipped.clone();
    let layer = MirrorLayer::new(service_fn(|_: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(response(200, &[("content-encoding", "zstd")], "x"))
    }))
    .compare(CompareConfig::new());
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(service_fn(
        move |_: Request<MirrorBody<Body>>| {
            let body = primary_body.clone();
            async move { Ok::<_, std::convert::Infallible>(encoded("gzip", body)) }
        },
    ));
    let res = svc.oneshot(get("/")).await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), zipped);
    handle.wait_idle().await;
    let report = handle.compare_report();
    assert_eq!(report.skipped, 1);
    assert_eq!(
        report.skip_reasons[0].0,
        "the shadow's body has an unsupported Content-Encoding: \"zstd\""
    );
}
