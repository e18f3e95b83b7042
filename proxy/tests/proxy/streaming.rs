//! `--oversize`: with `stream`, a body over `--max-body-bytes` reaches the shadow whole,
//! streamed as the client sends it; the combinations that cannot stream are refused.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Reply, client, fetch};
use support::proxy::assert_refused;

use crate::{binary, start};

#[tokio::test]
async fn with_oversize_stream_a_body_over_the_cap_reaches_the_shadow_whole() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let shadow_url = shadow_server.url();
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary_server.url(),
        "--shadow",
        &shadow_url,
        "--max-body-bytes",
        "1024",
        "--oversize",
        "stream",
        // As large as the body: the test does not depend on which socket is faster.
        "--stream-window",
        "4194304",
    ]);
    let url = proxy.listening().await;

    let body: Bytes = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
    let answer = fetch(
        &client(),
        Request::post(format!("{url}/upload"))
            .body(Full::new(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, primary.body_for(body.len()));

    proxy.terminate();
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
    assert!(
        stdout.starts_with(&format!(
            "mirror {shadow_url}: seen=1 mirrored=1 completed=1 failed=0 "
        )),
        "{stdout}"
    );
    assert!(stdout.contains(" skipped_body_too_large=0 "), "{stdout}");
    let got = shadow.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].body == body, "the shadow's body differs");
    assert!(primary.received()[0].body == body);
}

#[tokio::test]
async fn oversize_stream_is_refused_where_copies_cannot_stream() {
    let rules = [
        "--listen",
        "127.0.0.1:0",
        "--rules",
        "rules.yaml",
        "--endpoints",
        "endpoints.yaml",
        "--oversize",
        "stream",
    ];
    assert_refused(binary(), &rules, "--rules").await;
    let unknown = ["--primary", "http://127.0.0.1:9", "--oversize", "sometimes"];
    assert_refused(binary(), &unknown, "sometimes").await;
}

#[cfg(feature = "compare")]
#[tokio::test]
async fn with_compare_a_streamed_copy_is_counted_not_compared() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary_server.url(),
        "--shadow",
        &shadow_server.url(),
        "--max-body-bytes",
        "1024",
        "--oversize",
        "stream",
        "--stream-window",
        "1048576",
        "--compare",
    ]);
    let url = proxy.listening().await;
    let client = client();
    for len in [10, 100_000] {
        let answer = fetch(
            &client,
            Request::post(format!("{url}/upload"))
                .body(Full::new(Bytes::from(vec![b'x'; len])))
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    proxy.terminate();
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
    assert!(stdout.contains(" mirrored=2 completed=2 "), "{stdout}");
    assert!(stdout.contains(" compared=1 "), "the whole copy: {stdout}");
    assert!(
        stdout.contains(" compare_skipped=1"),
        "the streamed one: {stdout}"
    );
    let lens: Vec<usize> = shadow.received().iter().map(|r| r.body.len()).collect();
    assert_eq!(lens.len(), 2);
    assert!(lens.contains(&10) && lens.contains(&100_000), "{lens:?}");
}
