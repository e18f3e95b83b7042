//! TLS to upstreams and shadows (feature `rustls`), against loopback tokio-rustls servers
//! with certificates made at test time: trust, names, expiry, ALPN, mutual TLS, pooled
//! handshakes (the proxy binary's TLS is tested in its own crate, `proxy/tests`).
#![cfg(feature = "rustls")]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_mirror::MirrorLayer;
use tower_mirror::upstream::{HttpUpstream, UpstreamError};

use support::tls::{
    Ca, H2_AND_HTTP1, HTTP1_ONLY, Identity, LOOPBACK, Leaf, TlsServer, server_config,
};
use support::within;

/// An upstream for `url` trusting only `ca`.
fn trusting(ca: &Ca, url: &str) -> HttpUpstream {
    HttpUpstream::builder()
        .add_root_certificates_pem(&ca.pem)
        .unwrap()
        .only_custom_roots()
        .build(url.parse().unwrap())
        .unwrap()
}

/// ALPN protocol names, for messages.
fn alpn_names(offered: &[&[u8]]) -> String {
    let names: Vec<_> = offered.iter().map(|p| String::from_utf8_lossy(p)).collect();
    names.join(",")
}

/// `len` bytes from a seeded xorshift: every byte value, no repeating pattern.
fn seeded_body(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<_>>()
        .into()
}

fn post(path: &str, body: &Bytes) -> Request<Full<Bytes>> {
    Request::post(path).body(Full::new(body.clone())).unwrap()
}

#[tokio::test]
async fn https_primary_and_shadow_both_get_the_body_byte_for_byte() {
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    let primary = TlsServer::start("primary", server_config(&cert, H2_AND_HTTP1, None)).await;
    let shadow = TlsServer::start("shadow", server_config(&cert, HTTP1_ONLY, None)).await;
    // One by DNS name, one by IP address: the certificate must match either way.
    // The shadow echoes the body: let the copy read all of its answer.
    let layer =
        MirrorLayer::new(trusting(&ca, &shadow.url("127.0.0.1"))).max_shadow_body_bytes(256 * 1024);
    let handle = layer.handle();
    let svc = layer.layer(trusting(&ca, &primary.url("localhost")));

    let sent = seeded_body(256 * 1024, 7);
    let res = within(svc.oneshot(post("/orders?id=7", &sent)))
        .await
        .unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-served-by"], "primary");
    let answer = within(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(answer, sent, "the primary's echo came back whole");
    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!((stats.completed, stats.failed), (1, 0), "{stats:?}");
    let (to_primary, to_shadow) = (primary.seen(), shadow.seen());
    assert_eq!(to_primary.len(), 1);
    assert_eq!(to_shadow.len(), 1);
    assert!(to_primary[0].body == sent, "the primary got other bytes");
    assert!(to_shadow[0].body == sent, "the shadow got other bytes");
}

#[tokio::test]
async fn alpn_gives_http2_when_the_server_picks_it() {
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    for (offered, picked) in [
        (H2_AND_HTTP1, Version::HTTP_2),
        (HTTP1_ONLY, Version::HTTP_11),
    ] {
        let server = TlsServer::start("server", server_config(&cert, offered, None)).await;
        let upstream = trusting(&ca, &server.url("localhost"));
        for i in 0..3 {
            let res = within(upstream.clone().oneshot(post("/", &seeded_body(10, i))))
                .await
                .unwrap();
            assert_eq!(res.version(), picked);
            within(res.into_body().collect()).await.unwrap();
        }
        let versions: Vec<_> = server.seen().iter().map(|s| s.version).collect();
        assert_eq!(
            versions,
            [picked; 3],
            "server offering {}",
            alpn_names(offered)
        );
        assert_eq!(
            server.handshakes(),
            1,
            "server offering {}",
            alpn_names(offered)
        );
    }
}

#[tokio::test]
async fn preserve_host_stays_on_http1_so_the_host_it_keeps_is_sent() {
    // HTTP/2 would carry the base's authority in `:authority`; a different `Host` beside
    // it is not allowed, so preserve_host offers only http/1.1.
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    let server = TlsServer::start("server", server_config(&cert, H2_AND_HTTP1, None)).await;
    let upstream = HttpUpstream::builder()
        .add_root_certificates_pem(&ca.pem)
        .unwrap()
        .preserve_host()
        .build(server.url("localhost").parse().unwrap())
        .unwrap();

    let req = Request::get("/")
        .header("host", "httpbin-shadow:8000")
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = within(upstream.oneshot(req)).await.unwrap();

    assert_eq!(res.version(), Version::HTTP_11);
    let seen = server.seen();
    assert_eq!(seen[0].version, Version::HTTP_11);
    assert_eq!(seen[0].host.as_deref(), Some("httpbin-shadow:8000"));
}

#[tokio::test]
async fn an_untrusted_shadow_is_a_failed_copy_that_says_why() {
    let ca = Ca::new("tower-mirror test CA");
    let stranger = Ca::new("some other CA");
    let good = ca.issue(Leaf::Server(LOOPBACK));
    let primary = TlsServer::start("primary", server_config(&good, H2_AND_HTTP1, None)).await;
    let cases = [
        (stranger.issue(Leaf::Server(LOOPBACK)), "unknown issuer"),
        (ca.issue(Leaf::Server(&["other.example"])), "name mismatch"),
        (ca.issue(Leaf::ExpiredServer), "has expired"),
    ];
    for (cert, reason) in cases {
        let shadow = TlsServer::start("shadow", server_config(&cert, H2_AND_HTTP1, None)).await;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let recorded = errors.clone();
        let shadow_upstream = ServiceBuilder::new()
            .map_err(move |e: UpstreamError| {
                recorded.lock().unwrap().push((e.is_tls(), e.to_string()));
                e
            })
            .service(trusting(&ca, &shadow.url("localhost")));
        let layer = MirrorLayer::new(shadow_upstream);
        let handle = layer.handle();
        let svc = layer.layer(trusting(&ca, &primary.url("localhost")));

        let sent = seeded_body(1000, 3);
        let res = within(svc.oneshot(post("/", &sent))).await.unwrap();

        // The primary is unaffected.
        assert_eq!(res.status(), 200);
        assert_eq!(
            within(res.into_body().collect()).await.unwrap().to_bytes(),
            sent
        );
        within(handle.wait_idle()).await;
        let stats = handle.stats();
        assert_eq!(
            (stats.completed, stats.failed),
            (0, 1),
            "{reason}: {stats:?}"
        );
        let errors = errors.lock().unwrap().clone();
        assert_eq!(errors.len(), 1, "{reason}");
        let (is_tls, message) = &errors[0];
        assert!(is_tls, "{reason}: {message}");
        let prefix = format!("upstream {}: TLS failed: ", shadow.url("localhost"));
        assert!(message.starts_with(&prefix), "{reason}: {message}");
        assert!(message.contains(reason), "{reason}: {message}");
        assert!(
            shadow.seen().is_empty(),
            "{reason}: the request went through"
        );
    }
}

#[tokio::test]
async fn mutual_tls_is_accepted_with_the_identity_and_refused_without() {
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    let client = ca.issue(Leaf::Client("shadow-client"));
    let stranger = Ca::new("some other CA").issue(Leaf::Client("stranger"));
    let with_identity = |url: &str, identity: &Identity| {
        HttpUpstream::builder()
            .add_root_certificates_pem(&ca.pem)
            .unwrap()
            .client_identity_pem(&identity.cert_pem, &identity.key_pem)
            .unwrap()
            .build(url.parse().unwrap())
            .unwrap()
    };
    // Over HTTP/2 the refusal reaches the client as text, over HTTP/1.1 as rustls' error.
    for offered in [H2_AND_HTTP1, HTTP1_ONLY] {
        let config = server_config(&cert, offered, Some(&ca));
        let server = TlsServer::start("mtls", config).await;
        let url = server.url("localhost");

        let res = within(with_identity(&url, &client).oneshot(post("/", &seeded_body(10, 1))))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].client_cert.as_ref(), Some(&client.cert));

        // Refused: no identity, or one from a CA the server does not trust.
        for (upstream, says) in [
            (trusting(&ca, &url), "requires a client certificate"),
            (
                with_identity(&url, &stranger),
                "refused this client's certificate",
            ),
        ] {
            let err = within(upstream.oneshot(post("/", &seeded_body(10, 2))))
                .await
                .unwrap_err();
            assert!(err.is_tls(), "{}: {err:?}", alpn_names(offered));
            assert!(
                err.to_string().contains(says),
                "{}: {err}",
                alpn_names(offered)
            );
        }
        assert_eq!(
            server.seen().len(),
            1,
            "a refused client got a request through"
        );
    }
}

#[tokio::test]
async fn the_handshake_is_paid_once_per_pooled_connection_not_per_copy() {
    const COPIES: usize = 50;
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    for (offered, at_most) in [(H2_AND_HTTP1, 1), (HTTP1_ONLY, 3)] {
        let primary = TlsServer::start("primary", server_config(&cert, offered, None)).await;
        let shadow = TlsServer::start("shadow", server_config(&cert, offered, None)).await;
        let layer = MirrorLayer::new(trusting(&ca, &shadow.url("localhost")));
        let handle = layer.handle();
        let svc = layer.layer(trusting(&ca, &primary.url("localhost")));

        for i in 0..COPIES {
            let res = within(svc.clone().oneshot(post("/", &seeded_body(100, i as u64))))
                .await
                .unwrap();
            within(res.into_body().collect()).await.unwrap();
            within(handle.wait_idle()).await;
        }

        assert_eq!(handle.stats().completed, COPIES as u64);
        assert_eq!(shadow.seen().len(), COPIES);
        let (to_shadow, to_primary) = (shadow.handshakes(), primary.handshakes());
        eprintln!(
            "ALPN {}: {COPIES} copies, {to_shadow} shadow handshakes, \
             {to_primary} primary handshakes",
            alpn_names(offered)
        );
        assert!(
            (1..=at_most).contains(&to_shadow),
            "{COPIES} copies over {} made {to_shadow} shadow handshakes",
            alpn_names(offered)
        );
        assert!(
            (1..=at_most).contains(&to_primary),
            "{COPIES} requests over {} made {to_primary} primary handshakes",
            alpn_names(offered)
        );
    }
}

#[test]
fn bad_tls_settings_are_refused_with_reasons() {
    let ca = Ca::new("tower-mirror test CA");
    let client = ca.issue(Leaf::Client("a"));
    let other = ca.issue(Leaf::Client("b"));
    let message = |err: UpstreamError| err.to_string();

    let err = HttpUpstream::builder()
        .add_root_certificates_pem("not a certificate")
        .unwrap_err();
    assert_eq!(
        message(err),
        "upstream TLS settings: the root certificate PEM has no CERTIFICATE block"
    );
    let err = HttpUpstream::builder()
        .client_identity_pem(&client.cert_pem, "")
        .unwrap_err();
    assert_eq!(
        message(err),
        "upstream TLS settings: the client key PEM has no PRIVATE KEY block"
    );
    let err = HttpUpstream::builder()
        .client_identity_pem(&client.cert_pem, &other.key_pem)
        .unwrap_err();
    assert!(
        message(err).starts_with(
            "upstream TLS settings: the client certificate and key do not go together"
        )
    );
    let err = HttpUpstream::builder()
        .only_custom_roots()
        .build("https://localhost:1".parse().unwrap())
        .unwrap_err();
    assert!(message(err).contains("only_custom_roots() is set but no root was added"),);
    // TLS settings are not needed for plain http.
    HttpUpstream::builder()
        .only_custom_roots()
        .build("http://localhost:1".parse().unwrap())
        .unwrap();
}
