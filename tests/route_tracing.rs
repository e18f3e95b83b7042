//! `WeightedRoute` logs each routing decision at `debug` (target `tower_mirror`).
//!
//! In its own test binary: tracing caches each call site's interest process-wide, so a
//! test on another thread that reaches the call site first, with no subscriber, could
//! make this one miss the event.

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use tower::{Service, service_fn};
use tower_mirror::route::{Backends, Labels, WeightedRoute};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_call_emits_a_debug_event_with_the_labels() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let backend = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let backends = Backends::new("httpbin")
        .with(Labels::from([("version", "v0")]), backend)
        .with(Labels::from([("version", "v1")]), backend);
    let mut route = WeightedRoute::builder()
        .split(Labels::from([("version", "v0")]), 0)
        .split(Labels::from([("version", "v1")]), 1)
        .seed(10)
        .build(&backends)
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        // The event is emitted when the call decides, before the future is polled.
        drop(route.call(Request::new(())));
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("DEBUG tower_mirror"), "{out}");
    assert!(out.contains("routed"), "{out}");
    assert!(out.contains("labels=version=v1"), "{out}");
}
