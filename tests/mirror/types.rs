//! Compile-time guarantees: the layer and service are `Clone + Send + Sync` (so axum's
//! `Router::layer` takes them), `MirrorBody` is `Send + Sync + Unpin` when its inner body is,
//! and the stats type has the derives the contract lists.

use std::fmt::Debug;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use support::*;
use tower::ServiceExt;
use tower_mirror::{
    Mirror, MirrorBody, MirrorEvent, MirrorHandle, MirrorLayer, MirrorStats, Oversize, SkipReason,
};

fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn stats_derives<T: Copy + Debug + Default + PartialEq + Eq + Send + Sync>() {}
fn debug<T: Debug>() {}

#[test]
fn layer_service_and_body_have_the_promised_auto_traits() {
    clone_send_sync::<MirrorLayer<Shadow>>();
    clone_send_sync::<Mirror<Echo, Shadow>>();
    clone_send_sync::<MirrorHandle>();
    send_sync_unpin::<MirrorBody<Full<Bytes>>>();
    send_sync_unpin::<MirrorBody<Empty<Bytes>>>();
    send_sync_unpin::<MirrorBody<ScriptBody>>();
    stats_derives::<MirrorStats>();
    debug::<MirrorEvent>();
    debug::<SkipReason>();
    debug::<Oversize>();
    debug::<MirrorLayer<Shadow>>();
    debug::<MirrorHandle>();
}

#[tokio::test]
async fn axum_router_accepts_the_layer() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let app = axum::Router::new()
        .route(
            "/hello",
            axum::routing::post(|body: String| async move { format!("hi {body}") }),
        )
        .layer(layer);
    let res = app
        .oneshot(
            Request::post("/hello")
                .body(axum::body::Body::from("axum"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        Bytes::from_static(b"hi axum")
    );
    idle(&handle).await;
    let copy = rec.only();
    assert_eq!(copy.parts.uri.path(), "/hello");
    assert_eq!(copy.body, Bytes::from_static(b"axum"));
}
