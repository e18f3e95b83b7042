//! The main job, in process: a primary "v1" and a slow shadow "v2", 1,000 requests through
//! the mirror layer, then the stats.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_mirror::{MirrorBody, MirrorLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let v2_received = Arc::new(AtomicUsize::new(0));
    let shadow = {
        let received = Arc::clone(&v2_received);
        tower::service_fn(move |_req: http::Request<Full<Bytes>>| {
            received.fetch_add(1, Ordering::Relaxed);
            async {
                // v2 is slow: the primary must not notice.
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, Infallible>(http::Response::new(Full::<Bytes>::from("v2")))
            }
        })
    };
    let primary = tower::service_fn(|req: http::Request<MirrorBody<Full<Bytes>>>| async move {
        let body = req.into_body().collect().await?.to_bytes();
        Ok::<_, Infallible>(http::Response::new(Full::new(body)))
    });

    let layer = MirrorLayer::new(shadow).timeout(Duration::from_secs(2));
    let handle = layer.handle();
    let mut svc = ServiceBuilder::new().layer(layer).service(primary);

    let start = Instant::now();
    let mut answered = 0;
    for i in 0..1_000 {
        let req = http::Request::post("/anything").body(Full::from(format!("request {i}")))?;
        let response = svc.ready().await?.call(req).await?;
        if response.into_body().collect().await?.to_bytes() == format!("request {i}") {
            answered += 1;
        }
    }
    let primary_time = start.elapsed();
    handle.wait_idle().await;
    let stats = handle.stats();
    println!("primary (v1) answered {answered}/1000 requests in {primary_time:.2?}");
    println!(
        "shadow  (v2) received {} copies (each answered in 200 ms), all done after {:.2?}",
        v2_received.load(Ordering::Relaxed),
        start.elapsed()
    );
    println!("{stats:#?}");
    Ok(())
}
