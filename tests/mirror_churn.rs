//! Guarantee 7, flat memory under a hung shadow: once the budget is spent, a dropped copy
//! costs nothing on the heap. The decision is taken before the copy's head is cloned, so a
//! request whose copy is dropped (calls in flight at the limit, or a head over the byte
//! budget) makes exactly the allocations it makes without the layer. Allocations are
//! counted per thread by a counting allocator, on a current-thread runtime.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use support::{Recorder, hung_shadow, idle};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_mirror::{MirrorHandle, MirrorLayer};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts calls, in a `const` thread local
// that never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const REQUESTS: usize = 200;

fn requests() -> Vec<Request<Full<Bytes>>> {
    (0..REQUESTS)
        .map(|i| {
            Request::get(format!("/item/{i}?q=1"))
                .header("x-request-id", format!("req-{i}"))
                .header("user-agent", "churn-test")
                .body(Full::new(Bytes::new()))
                .unwrap()
        })
        .collect()
}

/// Allocations made on this thread while `svc` serves `REQUESTS` requests (built before).
async fn allocations_serving<S>(svc: &mut S) -> u64
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let requests = requests();
    let before = allocations();
    for req in requests {
        let response = svc.ready().await.unwrap().call(req).await.unwrap();
        drop(response);
    }
    allocations() - before
}

fn primary<B: Send + 'static>()
-> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone {
    service_fn(|_: Request<B>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    })
}

async fn warmed<S>(svc: &mut S)
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    // One round first, so lazily made statics do not count.
    allocations_serving(svc).await;
}

async fn shut(handle: &MirrorHandle) {
    handle.shutdown(Duration::ZERO).await;
    idle(handle).await;
}

#[tokio::test]
async fn a_copy_dropped_for_calls_in_flight_allocates_nothing() {
    let mut bare = primary();
    warmed(&mut bare).await;
    let without = allocations_serving(&mut bare).await;

    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_in_flight(1)
        .timeout(Duration::from_secs(600));
    let handle = layer.handle();
    let mut svc = layer.layer(primary());
    warmed(&mut svc).await; // its first copy holds the only slot, for good
    let with = allocations_serving(&mut svc).await;
    let stats = handle.stats();
    assert_eq!(
        stats.dropped_in_flight,
        2 * REQUESTS as u64 - 1,
        "{stats:?}"
    );
    assert_eq!(
        with, without,
        "{REQUESTS} dropped copies made {with} allocations, the primary alone {without}"
    );
    shut(&handle).await;
}

#[tokio::test]
async fn a_copy_dropped_for_its_head_allocates_nothing() {
    let mut bare = primary();
    warmed(&mut bare).await;
    let without = allocations_serving(&mut bare).await;

    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec)).max_buffered_bytes(64);
    let handle = layer.handle();
    let mut svc = layer.layer(primary());
    warmed(&mut svc).await;
    let with = allocations_serving(&mut svc).await;
    let stats = handle.stats();
    assert_eq!(stats.dropped_bytes, 2 * REQUESTS as u64, "{stats:?}");
    assert!(rec.is_empty());
    assert_eq!(
        with, without,
        "{REQUESTS} dropped copies made {with} allocations, the primary alone {without}"
    );
    shut(&handle).await;
}
