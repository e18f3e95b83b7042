//! Mock streaming shadows (of `Request<CopyBody>`): each reads its copy's body on a task
//! of its own, as an HTTP client's connection does, and records what it read and how the
//! body ended in a [`StreamRecorder`]; or holds the body unread.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::Request;
use http::request::Parts;
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tower::{BoxError, util::BoxCloneSyncService};
use tower_mirror::CopyBody;

use crate::shadows::{ShadowResponse, respond};
use crate::wait::within;

/// One concrete streaming shadow type for all mocks.
pub type StreamShadow = BoxCloneSyncService<Request<CopyBody>, ShadowResponse, BoxError>;

/// A copy's body as a streaming shadow read it: the bytes it got and, if the body ended
/// with an error rather than its end, that error.
#[derive(Debug, Clone)]
pub struct StreamReceived {
    pub parts: Parts,
    pub body: Bytes,
    pub error: Option<String>,
}

/// Every body a streaming shadow read to its end (or its error), in the order they ended.
#[derive(Debug, Clone, Default)]
pub struct StreamRecorder {
    ended: Arc<Mutex<Vec<StreamReceived>>>,
    /// Calls the shadow has taken (their bodies may still be coming).
    called: Arc<Mutex<usize>>,
    notify: Arc<Notify>,
}

impl StreamRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn all(&self) -> Vec<StreamReceived> {
        self.ended.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` bodies have ended, and returns them all.
    pub async fn ended(&self, n: usize) -> Vec<StreamReceived> {
        self.until(|| self.all().len() >= n).await;
        self.all()
    }

    /// Waits (bounded) until the shadow has been called `n` times: from then on it reads
    /// those bodies, whatever becomes of their copies.
    pub async fn called(&self, n: usize) {
        self.until(|| *self.called.lock().unwrap() >= n).await;
    }

    async fn until(&self, cond: impl Fn() -> bool) {
        within(async {
            loop {
                let notified = self.notify.notified();
                if cond() {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }

    /// Reads `body` to its end or its error, frame by frame, and records it.
    async fn read(&self, parts: Parts, mut body: CopyBody) {
        let mut got = BytesMut::new();
        let mut error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        got.extend_from_slice(&data);
                    }
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        self.ended.lock().unwrap().push(StreamReceived {
            parts,
            body: got.freeze(),
            error,
        });
        self.notify.notify_waiters();
    }
}

/// Reads each copy's body on a task of its own, records it, then answers 200.
pub fn reading_stream_shadow(rec: &StreamRecorder) -> StreamShadow {
    let rec = rec.clone();
    BoxCloneSyncService::new(tower::service_fn(move |req: Request<CopyBody>| {
        let rec = rec.clone();
        async move {
            *rec.called.lock().unwrap() += 1;
            rec.notify.notify_waiters();
            let (parts, body) = req.into_parts();
            // A task of its own, as a connection's: it reads on if the call is dropped.
            let reader = tokio::spawn(async move { rec.read(parts, body).await });
            reader.await.map_err(BoxError::from)?;
            Ok::<_, BoxError>(respond(200))
        }
    }))
}

/// Holds each copy's body without ever reading it, and never answers.
pub fn stalled_stream_shadow() -> StreamShadow {
    BoxCloneSyncService::new(tower::service_fn(|req: Request<CopyBody>| async move {
        let _unread = req;
        std::future::pending::<Result<ShadowResponse, BoxError>>().await
    }))
}
