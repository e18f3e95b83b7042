//! SIGTERM: stop accepting, let open requests and copies finish within --drain-timeout,
//! print one stats line per mirror, exit 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Reply, client, fetch};
use support::within;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::{authority, start};

#[tokio::test]
async fn an_open_request_finishes_after_sigterm_and_new_connections_are_refused() {
    let gate = Arc::new(Semaphore::new(0));
    let primary = Backend::new("primary", Reply::When(gate.clone()));
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary_server.url(),
        "--shadow",
        &shadow_server.url(),
        "--drain-timeout",
        "20s",
    ]);
    let url = proxy.listening().await;
    let open = tokio::spawn({
        let url = url.clone();
        async move {
            let req = Request::post(format!("{url}/slow"))
                .body(Full::from("payload"))
                .unwrap();
            fetch(&client(), req).await
        }
    });
    support::eventually(
        Duration::from_secs(10),
        "the primary has the request",
        || primary.received().len() == 1,
    )
    .await;

    proxy.terminate();
    proxy.stderr_line("stopped accepting").await;
    assert!(
        TcpStream::connect(authority(&url)).await.is_err(),
        "a new connection is refused once the proxy stopped accepting"
    );
    gate.add_permits(1);
    let answer = within(open).await.unwrap();
    assert_eq!(answer.status, 200, "the open request was served to its end");
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; {stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "mirror {}: seen=1 mirrored=1 completed=1 ",
            shadow_server.url()
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_request_that_never_ends_does_not_hold_the_exit_past_the_drain_timeout() {
    let primary = Backend::new("primary", Reply::Never);
    let server = primary.start().await;
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &server.url(),
        "--drain-timeout",
        "500ms",
    ]);
    let url = proxy.listening().await;
    let _open = tokio::spawn(async move {
        let req = Request::get(format!("{url}/forever"))
            .body(Full::default())
            .unwrap();
        let _ = client().request(req).await;
    });
    support::eventually(
        Duration::from_secs(10),
        "the primary has the request",
        || primary.received().len() == 1,
    )
    .await;
    let signalled = Instant::now();
    proxy.terminate();
    let (status, _, stderr) = proxy.exit().await;
    let took = signalled.elapsed();
    assert!(status.success(), "{status}; {stderr}");
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        stderr.contains("still open after --drain-timeout"),
        "{stderr}"
    );
}
