//! What passes through: forwarding headers on the way in (to the primary and the copies),
//! hop-by-hop headers stripped on the way out, and what a client is told when the primary
//! fails: the status and a bare reason, never the upstream's address or error.

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::Full;
use support::loopback::{
    Backend, Echoed, Proto, RawMode, RawServer, Reply, Server, client, closed_addr, fetch,
};
use support::within;
use tokio::net::TcpSocket;

use crate::start;

#[tokio::test]
async fn forwarding_headers_reach_the_primary_and_the_copy() {
    let primary = Server::echo(Proto::Auto).await;
    let shadow = Backend::new("shadow", Reply::Now);
    let shadow_server = shadow.start().await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary.url(),
        "--shadow",
        &shadow_server.url(),
    ]);
    let url = proxy.listening().await;

    let req = Request::get(format!("{url}/cart"))
        .header("host", "shop.example")
        .header("x-forwarded-for", "203.0.113.9, 198.51.100.4")
        .header("x-forwarded-proto", "https")
        .header("via", "1.1 edge")
        .body(Full::default())
        .unwrap();
    let res = within(client().request(req)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["via"], "1.1 tower-mirror-proxy");
    let echoed = Echoed::read(res).await;
    // Appended to the chain the client brought; the rest set from what the proxy saw.
    assert_eq!(
        echoed.header("x-forwarded-for"),
        ["203.0.113.9, 198.51.100.4, 127.0.0.1"]
    );
    assert_eq!(echoed.header("x-forwarded-proto"), ["http"]);
    assert_eq!(echoed.header("x-forwarded-host"), ["shop.example"]);
    assert_eq!(echoed.header("via"), ["1.1 edge, 1.1 tower-mirror-proxy"]);

    proxy.terminate();
    let (status, _, stderr) = proxy.exit().await;
    assert!(status.success(), "{stderr}");
    let copies = shadow.received();
    assert_eq!(copies.len(), 1);
    let copy = &copies[0].headers;
    assert_eq!(
        copy["x-forwarded-for"],
        "203.0.113.9, 198.51.100.4, 127.0.0.1"
    );
    assert_eq!(copy["x-forwarded-host"], "shop.example");
}

#[tokio::test]
async fn forwarding_headers_can_be_turned_off() {
    let primary = Server::echo(Proto::Auto).await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary.url(),
        "--no-x-forwarded-for",
        "--no-x-forwarded-proto",
        "--no-x-forwarded-host",
        "--no-via",
    ]);
    let url = proxy.listening().await;
    let req = Request::get(format!("{url}/"))
        .header("x-forwarded-for", "203.0.113.9")
        .body(Full::default())
        .unwrap();
    let res = within(client().request(req)).await.unwrap();
    assert!(!res.headers().contains_key("via"));
    let echoed = Echoed::read(res).await;
    assert_eq!(echoed.header("x-forwarded-for"), ["203.0.113.9"]);
    for absent in ["x-forwarded-proto", "x-forwarded-host", "via"] {
        assert!(echoed.header(absent).is_empty(), "{absent}: {echoed:?}");
    }
}

#[tokio::test]
async fn hop_by_hop_headers_of_the_primary_s_answer_are_not_passed_on() {
    let primary = RawServer::start(RawMode::Answers(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\
          Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n\r\nok",
    ))
    .await;
    let mut proxy = start(["--listen", "127.0.0.1:0", "--primary", &primary.url]);
    let url = proxy.listening().await;
    let answer = fetch(
        &client(),
        Request::get(format!("{url}/"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "ok");
    assert_eq!(answer.headers["x-kept"], "yes");
    for gone in ["x-hop", "keep-alive", "proxy-authenticate"] {
        assert!(
            !answer.headers.contains_key(gone),
            "{gone}: {:?}",
            answer.headers
        );
    }
}

#[tokio::test]
async fn an_answer_with_both_content_length_and_transfer_encoding_is_a_502() {
    let primary = RawServer::start(RawMode::Answers(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
    ))
    .await;
    let mut proxy = start(["--listen", "127.0.0.1:0", "--primary", &primary.url]);
    let url = proxy.listening().await;
    let answer = fetch(
        &client(),
        Request::get(format!("{url}/smuggle"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.body, "bad gateway\n");
    let warning = proxy
        .stderr_line("both Content-Length and Transfer-Encoding")
        .await;
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("/smuggle"), "{warning}");
}

#[tokio::test]
async fn a_hung_primary_is_a_504_after_the_primary_timeout_with_no_upstream_text() {
    let primary = RawServer::start(RawMode::Hung).await;
    let port = primary.url.rsplit(':').next().unwrap().to_owned();
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary.url,
        "--primary-timeout",
        "500ms",
    ]);
    let url = proxy.listening().await;
    let started = Instant::now();
    let answer = fetch(
        &client(),
        Request::get(format!("{url}/slow"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(answer.status, 504);
    assert_eq!(answer.body, "gateway timeout\n");
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let body = String::from_utf8_lossy(&answer.body);
    assert!(
        !body.contains(&port) && !body.contains("127.0.0.1"),
        "{body}"
    );
    proxy.stderr_line("--primary-timeout: 504").await;
}

#[tokio::test]
async fn a_refused_primary_is_a_bare_502_and_the_details_go_to_the_log() {
    let addr = closed_addr();
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &format!("http://{addr}"),
    ]);
    let url = proxy.listening().await;
    let answer = fetch(
        &client(),
        Request::get(format!("{url}/"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.body, "bad gateway\n");
    let logged = proxy.stderr_line("the primary failed: 502").await;
    assert!(
        logged.contains(&addr.to_string()),
        "the log names the upstream: {logged}"
    );
}

#[tokio::test]
async fn a_black_holed_primary_is_a_504_after_the_connect_timeout() {
    // A listener whose accept queue is full and never drained: the kernel drops further
    // SYNs, so a connect hangs as toward an address that does not answer.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(stream);
        }
    }
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &format!("http://{addr}"),
        "--connect-timeout",
        "300ms",
    ]);
    let url = proxy.listening().await;
    let started = Instant::now();
    let answer = fetch(
        &client(),
        Request::get(format!("{url}/"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(answer.status, 504, "{:?}", answer.body);
    assert_eq!(answer.body, "gateway timeout\n");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    proxy.stderr_line("connect timed out").await;
    drop(fillers);
}
