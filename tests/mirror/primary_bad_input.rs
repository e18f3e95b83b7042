//! Guarantees 1, 3 and 5 with bad or unusual input: bodies that error mid-stream, a
//! `Content-Length` that lies (shorter or longer than the body), a 64 KiB header value, a
//! thousand headers, trailers. The primary sees exactly what it sees without the layer (the
//! same request sent to the bare primary is the reference), and the shadow never receives a
//! copy whose body is not the one the primary read: a body that errors or does not match
//! its `Content-Length` is not mirrored (`skipped_body_incomplete`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use support::{Marker, Received, Recorder, idle, recording_shadow};
use tower::{Layer, ServiceExt, service_fn};
use tower_mirror::{MirrorBody, MirrorLayer, MirrorStats};

/// The error a scripted body fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScriptError(&'static str);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ScriptError {}

#[derive(Debug, Clone)]
enum Step {
    Data(&'static [u8]),
    Trailers(HeaderMap),
    Fail(&'static str),
}

/// A body that yields its steps in order, with whatever size hint it is told to claim.
#[derive(Debug, Clone)]
struct Scripted {
    steps: VecDeque<Step>,
    hint: SizeHint,
    /// Reports `is_end_stream` after the last step, as `Full` does (hyper's client stops
    /// there); otherwise the end is only seen by polling for `None`.
    eager_end: bool,
}

impl Scripted {
    fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            hint: SizeHint::default(),
            eager_end: true,
        }
    }

    /// Claims an exact length, true or not.
    fn claiming(mut self, len: u64) -> Self {
        self.hint = SizeHint::with_exact(len);
        self
    }

    fn lazy_end(mut self) -> Self {
        self.eager_end = false;
        self
    }
}

impl Body for Scripted {
    type Data = Bytes;
    type Error = ScriptError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ScriptError>>> {
        Poll::Ready(self.steps.pop_front().map(|step| match step {
            Step::Data(data) => Ok(Frame::data(Bytes::from_static(data))),
            Step::Trailers(trailers) => Ok(Frame::trailers(trailers)),
            Step::Fail(why) => Err(ScriptError(why)),
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.eager_end && self.steps.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

/// Everything the primary can observe of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: http::Method,
    uri: String,
    version: Version,
    headers: Vec<(String, Vec<u8>)>,
    marker: Option<Marker>,
    hint: (u64, Option<u64>),
    ended_at_start: bool,
    data: Vec<Bytes>,
    trailers: Option<Vec<(String, Vec<u8>)>>,
    error: Option<String>,
}

fn header_list(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// The primary: reads the body frame by frame to its end (or error) and reports it all.
async fn observe<B>(req: Request<B>) -> Result<Seen, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let (parts, body) = req.into_parts();
    let hint = body.size_hint();
    let mut seen = Seen {
        method: parts.method,
        uri: parts.uri.to_string(),
        version: parts.version,
        headers: header_list(&parts.headers),
        marker: parts.extensions.get::<Marker>().cloned(),
        hint: (hint.lower(), hint.upper()),
        ended_at_start: body.is_end_stream(),
        data: Vec::new(),
        trailers: None,
        error: None,
    };
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => seen.data.push(data),
                Err(frame) => seen.trailers = frame.into_trailers().ok().map(|t| header_list(&t)),
            },
            Err(e) => {
                seen.error = Some(e.to_string());
                break;
            }
        }
    }
    Ok(seen)
}

/// Sends `make()` to the bare primary and through the layer, asserts the primary saw the
/// same both times, and returns what it saw, the stats and the copies the shadow got.
async fn through_both(make: impl Fn() -> Request<Scripted>) -> (Seen, MirrorStats, Vec<Received>) {
    let bare = observe(make()).await.unwrap();

    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let svc = layer.layer(service_fn(observe::<MirrorBody<Scripted>>));
    let layered = svc.oneshot(make()).await.unwrap();
    assert_eq!(
        layered, bare,
        "the primary sees exactly what it sees without the layer"
    );
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(stats.seen, 1);
    assert_eq!(handle.buffered_bytes(), 0);
    (bare, stats, rec.all())
}

fn request(headers: &[(&str, &str)], body: Scripted) -> Request<Scripted> {
    let mut builder = Request::post("http://primary.test/upload?x=1");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let mut req = builder.body(body).unwrap();
    req.extensions_mut().insert(Marker(7));
    req
}

fn assert_not_mirrored(stats: &MirrorStats, copies: &[Received]) {
    assert!(copies.is_empty(), "a copy was sent: {copies:?}");
    assert_eq!(stats.mirrored, 0, "{stats:?}");
    assert_eq!(stats.skipped_body_incomplete, 1, "{stats:?}");
}

#[tokio::test]
async fn body_error_mid_stream_reaches_the_primary_and_is_not_mirrored() {
    for content_length in [None, Some("11")] {
        for eager_end in [true, false] {
            let make = || {
                let mut body = Scripted::new([
                    Step::Data(b"hello "),
                    Step::Data(b"wor"),
                    Step::Fail("connection reset by peer"),
                    Step::Data(b"ld"),
                ]);
                if !eager_end {
                    body = body.lazy_end();
                }
                let headers: Vec<_> = content_length
                    .map(|v| ("content-length", v))
                    .into_iter()
                    .collect();
                request(&headers, body)
            };
            let (seen, stats, copies) = through_both(make).await;
            assert_eq!(seen.error.as_deref(), Some("connection reset by peer"));
            assert_eq!(seen.data, [Bytes::from("hello "), Bytes::from("wor")]);
            assert_eq!(seen.marker, Some(Marker(7)));
            assert_not_mirrored(&stats, &copies);
        }
    }
}

#[tokio::test]
async fn content_length_shorter_than_the_body_is_not_mirrored() {
    for eager_end in [true, false] {
        let make = || {
            let mut body = Scripted::new([Step::Data(b"hello"), Step::Data(b" world")]);
            if !eager_end {
                body = body.lazy_end();
            }
            request(&[("content-length", "5")], body)
        };
        let (seen, stats, copies) = through_both(make).await;
        // The layer does not police the primary's input: it reads what it would anyway.
        assert_eq!(seen.data, [Bytes::from("hello"), Bytes::from(" world")]);
        assert_not_mirrored(&stats, &copies);
    }
}

#[tokio::test]
async fn content_length_longer_than_the_body_is_not_mirrored() {
    let bodies = [
        Scripted::new([Step::Data(b"hello")]),
        Scripted::new([Step::Data(b"hel"), Step::Data(b"lo")]).lazy_end(),
        // A size hint that agrees with the lie.
        Scripted::new([Step::Data(b"hello")]).claiming(100),
        // A size hint that agrees with the body.
        Scripted::new([Step::Data(b"hello")]).claiming(5),
        // Nothing at all under a non-zero length: decided at `call`, nothing buffered.
        Scripted::new([]).claiming(0),
    ];
    for body in bodies {
        let make = || request(&[("content-length", "100")], body.clone());
        let (seen, stats, copies) = through_both(make).await;
        assert!(b"hello".starts_with(&seen.data.concat()), "{seen:?}");
        assert_not_mirrored(&stats, &copies);
    }
}

#[tokio::test]
async fn honest_content_length_is_mirrored_with_the_same_bytes() {
    // The control for the lying cases above: same bodies, true lengths.
    for eager_end in [true, false] {
        let make = || {
            let mut body = Scripted::new([Step::Data(b"hello"), Step::Data(b" world")]);
            if !eager_end {
                body = body.lazy_end();
            }
            request(&[("content-length", "11")], body)
        };
        let (seen, stats, copies) = through_both(make).await;
        assert_eq!(seen.data.concat(), b"hello world");
        assert_eq!(stats.completed, 1, "{stats:?}");
        assert_eq!(copies.len(), 1);
        assert_eq!(copies[0].body, "hello world");
        assert_eq!(copies[0].parts.headers["content-length"], "11");
    }
}

#[tokio::test]
async fn trailers_reach_the_primary_and_not_the_copy() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc123"));
    let make = || {
        request(
            &[("te", "trailers")],
            Scripted::new([
                Step::Data(b"part one, "),
                Step::Data(b"part two"),
                Step::Trailers(trailers.clone()),
            ]),
        )
    };
    let (seen, stats, copies) = through_both(make).await;
    assert_eq!(
        seen.trailers,
        Some(vec![("x-checksum".to_owned(), b"abc123".to_vec())])
    );
    assert_eq!(stats.completed, 1, "{stats:?}");
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].body, "part one, part two");
    assert!(
        !copies[0].parts.headers.contains_key("te"),
        "hop-by-hop removed"
    );
    assert!(!copies[0].parts.headers.contains_key("x-checksum"));
}

#[tokio::test]
async fn huge_header_value_is_passed_and_copied_intact() {
    let huge: String = (0..64 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let make = || {
        request(
            &[("x-huge", huge.as_str()), ("content-length", "4")],
            Scripted::new([Step::Data(b"body")]),
        )
    };
    let (seen, stats, copies) = through_both(make).await;
    assert!(
        seen.headers
            .contains(&("x-huge".to_owned(), huge.as_bytes().to_vec()))
    );
    assert_eq!(stats.completed, 1, "{stats:?}");
    assert_eq!(copies.len(), 1);
    assert_eq!(
        copies[0].parts.headers["x-huge"].as_bytes(),
        huge.as_bytes()
    );
    assert_eq!(copies[0].body, "body");
}

#[tokio::test]
async fn a_thousand_headers_are_passed_in_order_and_copied() {
    let mut names: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("x-h-{i:04}"), format!("value {i}")))
        .collect();
    // Repeated names keep all their values, in order.
    for i in 0..50 {
        names.push(("x-multi".to_owned(), format!("v{i}")));
    }
    // Hop-by-hop headers reach the primary but never the copy.
    let hop = [
        ("connection", "keep-alive, x-h-0001"),
        ("keep-alive", "timeout=5"),
        ("proxy-authorization", "Basic eA=="),
        ("te", "trailers"),
        ("trailer", "x-checksum"),
        ("proxy-connection", "keep-alive"),
    ];
    let make = || {
        let mut headers: Vec<(&str, &str)> = names
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.extend(hop);
        request(&headers, Scripted::new([Step::Data(b"x")]))
    };
    let (seen, stats, copies) = through_both(make).await;
    assert_eq!(seen.headers.len(), names.len() + hop.len());
    assert_eq!(stats.completed, 1, "{stats:?}");
    assert_eq!(copies.len(), 1);
    // Everything the primary saw, minus the hop-by-hop headers (and the header that
    // `connection` names). The order of values within a name is kept; the order across
    // names is not significant in HTTP (and `HeaderMap::remove` does not keep it), so
    // both lists are compared sorted by name, stably.
    let mut copied = header_list(&copies[0].parts.headers);
    copied.sort_by(|a, b| a.0.cmp(&b.0));
    let hop_names = [
        "connection",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "proxy-connection",
    ];
    let mut expected: Vec<_> = seen
        .headers
        .iter()
        .filter(|(k, _)| !hop_names.contains(&k.as_str()) && k != "x-h-0001")
        .cloned()
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(copied, expected);
    assert_eq!(copies[0].body, "x");
}

#[tokio::test]
async fn body_abandoned_by_the_primary_is_not_mirrored() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    // Reads one frame, then drops the rest of the body.
    let primary = service_fn(|req: Request<MirrorBody<Scripted>>| async move {
        let mut body = req.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        Ok::<_, Infallible>(first)
    });
    let svc = layer.layer(primary);
    let body = Scripted::new([Step::Data(b"first"), Step::Data(b"second")]);
    let first = svc
        .oneshot(request(&[("content-length", "11")], body))
        .await
        .unwrap();
    assert_eq!(first, "first");
    idle(&handle).await;
    assert_not_mirrored(&handle.stats(), &rec.all());
    assert_eq!(handle.buffered_bytes(), 0);
}

#[tokio::test]
async fn malformed_content_length_never_gives_the_copy_other_bytes() {
    // Unparseable or conflicting lengths: the primary sees them untouched; no copy repeats
    // such a header (counted `skipped_body_incomplete`).
    let cases: [&[&str]; 6] = [
        &["abc"],
        &["+11"],
        &["5", "11"],
        &["11", "5"],
        &["-11"],
        &["11, 5"],
    ];
    for lengths in cases {
        let make = || {
            let mut builder = Request::post("http://primary.test/upload");
            for v in lengths {
                builder = builder.header("content-length", *v);
            }
            builder
                .body(Scripted::new([Step::Data(b"hello"), Step::Data(b" world")]))
                .unwrap()
        };
        let (seen, stats, copies) = through_both(make).await;
        assert_eq!(seen.data.concat(), b"hello world");
        let primary_lengths: Vec<_> = seen
            .headers
            .iter()
            .filter(|(name, _)| name == "content-length")
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
            .collect();
        assert_eq!(
            primary_lengths, *lengths,
            "the primary sees the header as sent"
        );
        assert_not_mirrored(&stats, &copies);
    }
    // A list of identical values is a valid length (RFC 9110 §8.6).
    let make = || {
        request(
            &[("content-length", "11, 11")],
            Scripted::new([Step::Data(b"hello"), Step::Data(b" world")]),
        )
    };
    let (_, stats, copies) = through_both(make).await;
    assert_eq!(stats.completed, 1, "{stats:?}");
    assert_eq!(copies[0].body, "hello world");
}
