//! Rule 7, measured on the heap: cycles of load against a shadow server that never answers
//! (each copy held until its timeout, over real connections through `HttpUpstream`) leave
//! no live allocation behind. Live bytes are counted by a global allocator, so unlike RSS
//! they do not depend on the allocator's fragmentation; after a warm-up (runtime, pools,
//! buffers reach their size) they must not grow with the number of copies sent.
//!
//! Its own test binary, so no other test's allocations are counted.

mod fault_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use fault_support::{RawMode, RawServer, ReqBody, drive, echo, eventually};
use tower::{ServiceBuilder, service_fn};
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{MirrorBody, MirrorLayer};

/// Bytes allocated and not yet freed, by anyone in this process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CYCLES: usize = 8;
const WARMUP_CYCLES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_shadow_cycles_leave_no_live_allocation() {
    let server = RawServer::start(RawMode::Hung).await;
    let shadow = HttpUpstream::new(server.url.parse().unwrap());
    let layer = MirrorLayer::new(shadow)
        .timeout(Duration::from_millis(100))
        .max_in_flight(64)
        .max_buffered_bytes(1 << 20);
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(echo::<MirrorBody<ReqBody>>));

    let mut live = Vec::new();
    let mut mirrored = Vec::new();
    for cycle in 0..CYCLES {
        let report = drive(svc.clone(), 32, 100, cycle as u64).await;
        assert_eq!((report.errors, report.wrong_bodies), (0, 0));
        tokio::time::timeout(Duration::from_secs(10), handle.wait_idle())
            .await
            .expect("every copy times out");
        // Timed-out copies drop their connections; the shadow server sees them close once
        // hyper's connection tasks have ended and freed their buffers.
        eventually(Duration::from_secs(10), "shadow connections closed", || {
            server.open_connections() == 0
        })
        .await;
        assert_eq!((handle.in_flight(), handle.buffered_bytes()), (0, 0));
        live.push(LIVE.load(Ordering::SeqCst));
        mirrored.push(handle.stats().mirrored);
    }
    let stats = handle.stats();
    eprintln!("live bytes after each cycle: {live:?}; copies sent so far: {mirrored:?}; {stats:?}");
    assert_eq!(stats.timed_out, stats.mirrored, "{stats:?}");

    let warm = live[WARMUP_CYCLES - 1];
    let last = *live.last().unwrap();
    let copies = mirrored.last().unwrap() - mirrored[WARMUP_CYCLES - 1];
    assert!(copies > 100, "enough copies to see a leak: {copies}");
    // A leak of even 64 bytes per copy would show; the slack absorbs the runtime's and the
    // pool's bookkeeping settling.
    let growth = last - warm;
    assert!(
        growth < (64 * copies) as isize,
        "live heap grew by {growth} bytes over {copies} copies after warm-up: {live:?}"
    );
}
