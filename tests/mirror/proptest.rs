//! Guarantees 1, 3 and 4 under random bodies and random chunking: the primary receives exactly the
//! bytes and trailers sent, the shadow exactly the bytes (under the cap) or nothing (over it).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use proptest::prelude::*;
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

fn trailer_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::try_from(format!("x-t-{name}")).unwrap(),
            HeaderValue::try_from(value.as_str()).unwrap(),
        );
    }
    map
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn primary_and_shadow_get_exact_bytes(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4096), 0..16),
        trailers in prop::option::of(prop::collection::vec(("[a-z]{1,8}", "[a-zA-Z0-9 ]{0,12}"), 1..4)),
        cap in prop::option::of(0usize..70_000),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let sent: Vec<u8> = chunks.concat();
        let trailers = trailers.map(|t| trailer_map(&t));
        let (seen, copies, stats) = rt.block_on(async {
            let rec = Recorder::new();
            let mut layer = MirrorLayer::new(recording_shadow(&rec));
            if let Some(cap) = cap {
                layer = layer.max_body_bytes(cap);
            }
            let handle = layer.handle();
            let echo = Echo::new();
            let mut svc = layer.layer(echo.clone());
            let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let req = Request::post("/p").body(chunked(&slices, trailers.clone())).unwrap();
            send(&mut svc, req).await.unwrap();
            idle(&handle).await;
            assert_idle(&handle);
            (echo.only(), rec.all(), handle.stats())
        });
        prop_assert_eq!(&seen.body[..], &sent[..]);
        prop_assert_eq!(&seen.trailers, &trailers);
        let under_cap = sent.len() <= cap.unwrap_or(1 << 20);
        if under_cap {
            prop_assert_eq!(copies.len(), 1);
            prop_assert_eq!(&copies[0].body, &Bytes::from(sent.clone()));
            prop_assert_eq!(stats.mirrored, 1);
        } else {
            prop_assert!(copies.is_empty());
            prop_assert_eq!(stats.skipped_body_too_large, 1);
        }
    }
}
