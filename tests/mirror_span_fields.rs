//! Guarantee 10, the fields: each copy's span (target `tower_mirror`) carries
//! OpenTelemetry's HTTP client names with the copy's values, and the circuit breaker's
//! turns are logged once each (`warn` when it opens, `info` when it closes), never per
//! request. In a test binary of its own: `tracing` caches each call site's interest
//! process-wide.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Request;
use support::*;
use tower::Layer as _;
use tower_mirror::MirrorLayer;
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber, span};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A span as recorded: its target, name, and every field given a value (as text).
#[derive(Debug, Clone, Default)]
struct SpanSeen {
    target: String,
    name: String,
    level: Option<Level>,
    fields: BTreeMap<String, String>,
}

#[derive(Default, Clone)]
struct Capture {
    spans: Arc<Mutex<Vec<(span::Id, SpanSeen)>>>,
    /// `tower_mirror` events at `info` and above: (level, message).
    loud: Arc<Mutex<Vec<(Level, String)>>>,
}

struct Values<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Values<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, _: Context<'_, S>) {
        let meta = attrs.metadata();
        let mut seen = SpanSeen {
            target: meta.target().to_owned(),
            name: meta.name().to_owned(),
            level: Some(*meta.level()),
            ..SpanSeen::default()
        };
        attrs.record(&mut Values(&mut seen.fields));
        self.spans.lock().unwrap().push((id.clone(), seen));
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, seen)) = spans.iter_mut().find(|(i, _)| i == id) {
            values.record(&mut Values(&mut seen.fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target().starts_with("tower_mirror") && *meta.level() <= Level::INFO {
            let mut fields = BTreeMap::new();
            event.record(&mut Values(&mut fields));
            let message = fields.remove("message").unwrap_or_default();
            self.loud.lock().unwrap().push((*meta.level(), message));
        }
    }
}

impl Capture {
    /// The copy spans, by their `url.path`.
    fn copy_spans(&self) -> BTreeMap<String, SpanSeen> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.name == "mirror")
            .map(|(_, s)| (s.fields["url.path"].clone(), s.clone()))
            .collect()
    }
}

fn field<'a>(span: &'a SpanSeen, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

#[tokio::test(start_paused = true)]
async fn copy_spans_use_opentelemetry_http_names() {
    let capture = Capture::default();
    let _guard = tracing_subscriber::registry()
        .with(capture.clone())
        .set_default();

    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |copy| {
        let path = copy.parts.uri.path().to_owned();
        async move {
            match path.as_str() {
                "/fail" => Err("connection refused".into()),
                "/hang" => std::future::pending().await,
                "/503" => Ok(respond(503)),
                _ => Ok(respond(201)),
            }
        }
    });
    let layer = MirrorLayer::new(shadow)
        .timeout(Duration::from_millis(100))
        .host_suffix("-shadow");
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let with_host = |method: &str, path: &str, host: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
            .unwrap()
    };
    send(
        &mut svc,
        with_host("POST", "/items/7?debug=1", "shop.example:8080"),
    )
    .await
    .unwrap();
    send(&mut svc, with_host("GET", "/503", "shop.example"))
        .await
        .unwrap();
    send(&mut svc, get("/fail")).await.unwrap();
    send(&mut svc, get("http://api.internal:9000/hang"))
        .await
        .unwrap();
    idle(&handle).await;

    let spans = capture.copy_spans();
    assert_eq!(spans.len(), 4, "{spans:?}");
    for span in spans.values() {
        assert_eq!(span.target, "tower_mirror");
        assert_eq!(span.level, Some(Level::DEBUG));
        for old in ["method", "path"] {
            assert!(!span.fields.contains_key(old), "{old} is gone: {span:?}");
        }
    }

    let ok = &spans["/items/7"];
    assert_eq!(field(ok, "http.request.method"), Some("POST"));
    assert_eq!(
        field(ok, "url.path"),
        Some("/items/7"),
        "the path, no query"
    );
    assert_eq!(
        field(ok, "server.address"),
        Some("shop.example-shadow"),
        "the copy's host, after host_suffix"
    );
    assert_eq!(field(ok, "server.port"), Some("8080"));
    assert_eq!(field(ok, "http.response.status_code"), Some("201"));
    assert_eq!(field(ok, "error.type"), None, "a success has no error.type");
    assert_eq!(field(ok, "outcome"), Some("completed"));
    assert!(field(ok, "latency_ms").is_some());

    let unavailable = &spans["/503"];
    assert_eq!(field(unavailable, "http.request.method"), Some("GET"));
    assert_eq!(
        field(unavailable, "server.address"),
        Some("shop.example-shadow")
    );
    assert_eq!(field(unavailable, "server.port"), None);
    assert_eq!(field(unavailable, "http.response.status_code"), Some("503"));
    assert_eq!(field(unavailable, "error.type"), Some("503"));

    let failed = &spans["/fail"];
    assert_eq!(
        field(failed, "server.address"),
        None,
        "no Host, no authority"
    );
    assert_eq!(field(failed, "http.response.status_code"), None);
    assert_eq!(field(failed, "error.type"), Some("_OTHER"));
    assert_eq!(field(failed, "outcome"), Some("failed"));

    let hung = &spans["/hang"];
    assert_eq!(
        field(hung, "server.address"),
        Some("api.internal-shadow"),
        "from the URI's authority"
    );
    assert_eq!(field(hung, "server.port"), Some("9000"));
    assert_eq!(field(hung, "error.type"), Some("timeout"));
    assert_eq!(field(hung, "outcome"), Some("timed_out"));

    assert!(
        capture.loud.lock().unwrap().is_empty(),
        "nothing above debug per request: {:?}",
        capture.loud.lock().unwrap()
    );
}

#[tokio::test(start_paused = true)]
async fn the_breaker_logs_opening_and_closing_once_each() {
    let capture = Capture::default();
    let _guard = tracing_subscriber::registry()
        .with(capture.clone())
        .set_default();

    let rec = Recorder::new();
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shadow = {
        let healthy = Arc::clone(&healthy);
        shadow_with(&rec, move |_| {
            let healthy = healthy.load(std::sync::atomic::Ordering::SeqCst);
            async move {
                if healthy {
                    Ok(respond(200))
                } else {
                    Err("down".into())
                }
            }
        })
    };
    let layer = MirrorLayer::new(shadow).circuit_breaker(3, Duration::from_secs(4));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    // 3 failures open it; 20 more requests are dropped while it is open.
    for _ in 0..23 {
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(handle.stats().dropped_breaker, 20);
    // Two failed probes: still open, not logged again above debug.
    for backoff in [1, 2] {
        tokio::time::advance(Duration::from_secs(backoff)).await;
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(handle.stats().failed, 5);
    let loud = capture.loud.lock().unwrap().clone();
    assert_eq!(loud.len(), 1, "{loud:?}");
    assert_eq!(loud[0].0, Level::WARN);
    assert!(loud[0].1.contains("circuit breaker open"), "{loud:?}");

    // The shadow is back: the next probe closes it, logged once at info.
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(4)).await;
    for _ in 0..10 {
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
    }
    assert_eq!(handle.stats().completed, 10);
    let loud = capture.loud.lock().unwrap().clone();
    assert_eq!(loud.len(), 2, "{loud:?}");
    assert_eq!(loud[1].0, Level::INFO);
    assert!(loud[1].1.contains("circuit breaker closed"), "{loud:?}");
}
