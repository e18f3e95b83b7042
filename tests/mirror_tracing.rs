//! Guarantee 10 (tracing side): a span per copy with target `tower_mirror`, carrying outcome and
//! latency; nothing logged per request above `debug`.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use support::*;
use tower::Layer as _;
use tower_mirror::MirrorLayer;
use tracing::{Level, Subscriber, field::Field, span};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

#[derive(Debug, Clone)]
struct SpanSeen {
    target: String,
    fields: Vec<String>,
}

#[derive(Default, Clone)]
struct Capture {
    spans: Arc<Mutex<Vec<(span::Id, SpanSeen)>>>,
    loud_events: Arc<Mutex<Vec<String>>>,
}

struct FieldNames<'a>(&'a mut Vec<String>);

impl tracing::field::Visit for FieldNames<'_> {
    fn record_debug(&mut self, field: &Field, _: &dyn std::fmt::Debug) {
        self.0.push(field.name().to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, _: Context<'_, S>) {
        let meta = attrs.metadata();
        if !meta.target().starts_with("tower_mirror") {
            return;
        }
        // Declared fields, recorded now or later.
        let fields = meta.fields().iter().map(|f| f.name().to_owned()).collect();
        self.spans.lock().unwrap().push((
            id.clone(),
            SpanSeen {
                target: meta.target().to_owned(),
                fields,
            },
        ));
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, seen)) = spans.iter_mut().find(|(i, _)| i == id) {
            values.record(&mut FieldNames(&mut seen.fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let quiet = matches!(*meta.level(), Level::DEBUG | Level::TRACE);
        if meta.target().starts_with("tower_mirror") && !quiet {
            self.loud_events.lock().unwrap().push(format!(
                "{} {}: {:?}",
                meta.level(),
                meta.target(),
                meta.name()
            ));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_span_per_copy_and_nothing_above_debug() {
    let capture = Capture::default();
    let _guard = tracing_subscriber::registry()
        .with(capture.clone())
        .set_default();

    let rec = Recorder::new();
    let shadow = shadow_with(&rec, |copy| {
        let path = copy.parts.uri.path().to_owned();
        async move {
            match path.as_str() {
                "/fail" => Err("boom".into()),
                "/hang" => std::future::pending().await,
                "/500" => Ok(respond(500)),
                _ => Ok(respond(200)),
            }
        }
    });
    let layer = MirrorLayer::new(shadow)
        .timeout(Duration::from_millis(100))
        .max_body_bytes(4);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for req in [
        get("/ok"),
        get("/fail"),
        get("/hang"),
        get("/500"),
        post("/big", "too big for the cap"),
    ] {
        send(&mut svc, req).await.unwrap();
    }
    idle(&handle).await;
    assert_eq!(handle.stats().mirrored, 4);

    let spans: Vec<SpanSeen> = capture
        .spans
        .lock()
        .unwrap()
        .iter()
        .map(|(_, s)| s.clone())
        .collect();
    let copy_spans: Vec<&SpanSeen> = spans
        .iter()
        .filter(|s| {
            s.fields.iter().any(|f| f.contains("outcome"))
                && s.fields.iter().any(|f| f.contains("latency"))
        })
        .collect();
    assert!(
        copy_spans.len() >= 4,
        "expected a span with outcome and latency for each of the 4 copies, got {spans:?}"
    );
    assert!(
        copy_spans
            .iter()
            .all(|s| s.target.starts_with("tower_mirror"))
    );
    let loud = capture.loud_events.lock().unwrap().clone();
    assert!(loud.is_empty(), "per-request events above debug: {loud:?}");
}

#[tokio::test]
async fn oversize_stream_on_a_layer_built_with_new_warns_once_when_built() {
    let capture = Capture::default();
    let _guard = tracing_subscriber::registry()
        .with(capture.clone())
        .set_default();

    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_body_bytes(4)
        .on_oversize(tower_mirror::Oversize::Stream);
    let handle = layer.handle();
    let mut first = layer.layer(Echo::new());
    let mut second = layer.clone().layer(Echo::new());
    for svc in [&mut first, &mut second] {
        send(svc, post("/big", "too big for the cap"))
            .await
            .unwrap();
    }
    idle(&handle).await;
    assert_eq!(handle.stats().skipped_body_too_large, 2);
    let loud = capture.loud_events.lock().unwrap().clone();
    assert_eq!(loud.len(), 1, "one warning, at build: {loud:?}");
    assert!(loud[0].starts_with("WARN tower_mirror"), "{loud:?}");

    // A streaming layer streams: nothing to warn of.
    let streaming = MirrorLayer::streaming(stalled_stream_shadow());
    let _svc = streaming.layer(Echo::new());
    assert_eq!(capture.loud_events.lock().unwrap().len(), 1);
}
