//! The proxy under attack, each attack bounded: slow headers, idle connections, a flood of
//! connections, header floods, malformed bodies, HTTP/2 fan-out toward the primary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::loopback::{Backend, Reply, client, fetch};
use support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::{authority, raw_exchange, start, status_of};

/// Reads from `stream` until the peer closes it (or resets it); returns when.
async fn closed_by_peer(stream: &mut TcpStream) -> Instant {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn slow_header_clients_are_cut_at_the_header_timeout_while_others_are_served() {
    const SLOW: usize = 20;
    let primary = Backend::new("primary", Reply::Now);
    let server = primary.start().await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &server.url(),
        "--header-timeout",
        "2s",
    ]);
    let url = proxy.listening().await;

    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let addr = authority(&url).to_owned();
        slow.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            // One byte every 100 ms, never ending the head: until the proxy hangs up.
            let (mut reader, mut writer) = stream.into_split();
            let trickle = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if writer.write_all(b"a").await.is_err() {
                        break;
                    }
                }
            };
            let mut buf = [0u8; 256];
            tokio::select! {
                () = trickle => {}
                _ = reader.read(&mut buf) => {}
            }
            Instant::now()
        }));
    }
    // Meanwhile a normal client is served at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let served = Instant::now();
    let answer = fetch(
        &client(),
        Request::get(format!("{url}/"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(
        served.elapsed() < Duration::from_millis(900),
        "{:?}",
        served.elapsed()
    );

    for cut in slow {
        let at = within(cut).await.unwrap() - started;
        assert!(at >= Duration::from_millis(900), "cut too early: {at:?}");
        assert!(at < Duration::from_secs(8), "cut too late: {at:?}");
    }
    assert_eq!(
        primary.received().len(),
        1,
        "no slow request reached the primary"
    );
}

#[tokio::test]
async fn the_connection_limit_holds_and_a_waiting_client_is_served_when_one_closes() {
    let primary = Backend::new("primary", Reply::Now);
    let server = primary.start().await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &server.url(),
        "--max-connections",
        "3",
    ]);
    let url = proxy.listening().await;
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    // Three connections, each served once and kept open.
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(authority(&url)).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = within(stream.read(&mut buf)).await.unwrap();
        assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);
        open.push(stream);
    }
    // A fourth connects (the kernel's backlog takes it) but is not served...
    let mut fourth = TcpStream::connect(authority(&url)).await.unwrap();
    fourth.write_all(request).await.unwrap();
    let mut buf = [0u8; 1024];
    let waited = tokio::time::timeout(Duration::from_millis(500), fourth.read(&mut buf)).await;
    assert!(waited.is_err(), "served past the limit");
    proxy.stderr_line("--max-connections reached").await;
    // ...until one of the three closes.
    drop(open.pop());
    let n = within(fourth.read(&mut buf)).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);
    assert_eq!(primary.received().len(), 4);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let primary = Backend::new("primary", Reply::Now);
    let server = primary.start().await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &server.url(),
        "--idle-timeout",
        "500ms",
        "--header-timeout",
        "1s",
    ]);
    let url = proxy.listening().await;
    // HTTP/2 has no header timeout to close it: the idle timeout does.
    let mut stream = TcpStream::connect(authority(&url)).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let opened = Instant::now();
    let closed = within(closed_by_peer(&mut stream)).await - opened;
    // GOAWAY at the idle timeout; closed at once by a client that answers the ping, or
    // (this one never does) a header timeout later.
    assert!(closed >= Duration::from_millis(1400), "{closed:?}");
    assert!(closed < Duration::from_secs(6), "{closed:?}");
}

#[tokio::test]
async fn request_heads_over_the_limit_are_answered_431() {
    let primary = Backend::new("primary", Reply::Now);
    let server = primary.start().await;
    let mut proxy = start(["--listen", "127.0.0.1:0", "--primary", &server.url()]);
    let url = proxy.listening().await;
    let head = |header_bytes: usize| {
        let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..header_bytes / 2048 {
            request.extend_from_slice(format!("X-Flood-{i}: ").as_bytes());
            request.extend(std::iter::repeat_n(b'a', 2030));
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"Connection: close\r\n\r\n");
        request
    };
    let limit = Duration::from_secs(10);
    let under = raw_exchange(&url, &head(48 * 1024), limit).await;
    assert_eq!(status_of(&under), 200, "{}", &under[..under.len().min(200)]);
    let over = raw_exchange(&url, &head(80 * 1024), limit).await;
    assert_eq!(status_of(&over), 431, "{}", &over[..over.len().min(200)]);
    assert_eq!(
        primary.received().len(),
        1,
        "the flood never reached the primary"
    );
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_400_not_a_502() {
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
    ]);
    let url = proxy.listening().await;
    let answer = raw_exchange(
        &url,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\nzz\r\nnot a chunk\r\n0\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    assert!(answer.ends_with("\r\n\r\nbad request\n"), "{answer}");
    proxy.terminate();
    let (_, stdout, _) = proxy.exit().await;
    // The copy would have carried a body the primary never got whole.
    assert!(stdout.contains(" mirrored=0 "), "{stdout}");
    assert!(stdout.contains(" skipped_body_incomplete=1 "), "{stdout}");
    assert!(shadow.received().is_empty());
}

/// An HTTP/2 (prior knowledge) client with its own connection.
fn h2_client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

#[tokio::test]
async fn http2_streams_do_not_fan_out_into_as_many_primary_connections() {
    const CLIENTS: usize = 10;
    const STREAMS: usize = 40;
    let primary = Backend::new("primary", Reply::After(Duration::from_millis(20)));
    let server = primary.start().await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &server.url(),
        "--upstream-max-connections",
        "8",
        "--upstream-max-idle",
        "8",
    ]);
    let url = proxy.listening().await;
    let mut requests = Vec::new();
    for _ in 0..CLIENTS {
        let client = h2_client();
        for i in 0..STREAMS {
            let (client, url) = (client.clone(), url.clone());
            requests.push(tokio::spawn(async move {
                let req = Request::get(format!("{url}/{i}"))
                    .body(Full::default())
                    .unwrap();
                let res = client.request(req).await.unwrap();
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap();
            }));
        }
    }
    for request in requests {
        tokio::time::timeout(Duration::from_secs(60), request)
            .await
            .expect("every request is served")
            .unwrap();
    }
    assert_eq!(primary.received().len(), CLIENTS * STREAMS);
    // In flight at most 8, plus at most 8 kept idle between them.
    let connections = server.accepted();
    assert!(
        (1..=16).contains(&connections),
        "{} requests on {CLIENTS} HTTP/2 connections made {connections} primary connections",
        CLIENTS * STREAMS
    );
}

#[tokio::test]
async fn an_http2_connection_gets_at_most_max_h2_streams_requests_at_once() {
    const STREAMS: usize = 20;
    let gate = Arc::new(Semaphore::new(0));
    let primary = Backend::new("primary", Reply::When(gate.clone()));
    let server = primary.start().await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &server.url(),
        "--max-h2-streams",
        "4",
    ]);
    let url = proxy.listening().await;
    let client = h2_client();
    // One request first: the client then knows the proxy's stream limit (its SETTINGS).
    gate.add_permits(1);
    let first = Request::get(format!("{url}/first"))
        .body(Full::default())
        .unwrap();
    assert_eq!(within(client.request(first)).await.unwrap().status(), 200);
    let mut requests = Vec::new();
    for i in 0..STREAMS {
        let (client, url) = (client.clone(), url.clone());
        requests.push(tokio::spawn(async move {
            let req = Request::get(format!("{url}/{i}"))
                .body(Full::default())
                .unwrap();
            client.request(req).await.unwrap().status()
        }));
    }
    support::eventually(
        Duration::from_secs(10),
        "4 requests reach the primary",
        || primary.received().len() == 1 + 4,
    )
    .await;
    // The others wait on the client's side of the connection, not at the primary.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(primary.received().len(), 1 + 4);
    gate.add_permits(STREAMS);
    for request in requests {
        assert_eq!(within(request).await.unwrap(), 200);
    }
    assert_eq!(primary.received().len(), 1 + STREAMS);
}

/// Under an open-file limit of 64 (half of it for clients, by `--max-connections auto`),
/// a flood of silent connections neither runs the proxy out of descriptors nor keeps a
/// real client out for longer than the header timeout.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_flood_of_silent_connections_under_a_low_open_file_limit() {
    const FLOOD: usize = 100;
    let primary = Backend::new("primary", Reply::Now);
    let server = primary.start().await;
    let mut command = tokio::process::Command::new("sh");
    command
        .args(["-c", "ulimit -n 64 && exec \"$0\" \"$@\""])
        .arg(crate::binary())
        .args(["--listen", "127.0.0.1:0", "--primary", &server.url()])
        .args(["--header-timeout", "1s"])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut proxy = support::proxy::Proxy::spawn(command);
    let url = proxy.listening().await;

    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        // Connects succeed (the backlog takes those the proxy has no place for yet).
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(500),
            TcpStream::connect(authority(&url)),
        )
        .await
        {
            flood.push(stream);
        }
    }
    let started = Instant::now();
    let answer = raw_exchange(
        &url,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let stderr = proxy.stderr();
    assert!(stderr.contains("--max-connections reached"), "{stderr}");
    assert!(
        stderr.matches("accept failed").count() <= 1,
        "accept errors are logged once per burst: {stderr}"
    );
    drop(flood);
}
