//! Heap test (dhat, its own process): a frame pool never holds more than its capacity,
//! however hard threads ask, and the heap's peak shows it.

use std::thread;
use transcode_core::MemoryConfig;
use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn heap_peak_stays_within_capacity_frames() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The test harness's main thread makes a few allocations of its own just after
    // starting this test's thread; on a loaded machine they land inside the measured
    // window unless it has had time to settle into waiting.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 1280, 720).unwrap();
    let frame = layout.buffer_len() as u64;
    let budget = Budget::new(64 << 20);
    let capacity = 4;
    let pool =
        FramePool::new(FramePoolConfig { capacity, ..FramePoolConfig::new(layout, &MemoryConfig::default()) }, &budget).unwrap();

    let workers: Vec<_> = (0..3)
        .map(|i| {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut held = Vec::with_capacity(8);
                for n in 0..200 {
                    // Each worker grabs what it can, sometimes more than its share.
                    while held.len() < 1 + (n + i) % 3 {
                        match pool.try_acquire().ready() {
                            Some(f) => held.push(f.into_shared()),
                            None => break,
                        }
                    }
                    held.truncate((n + i) % 2);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }

    let stats = pool.stats();
    dhat::assert!(stats.allocated <= capacity as u64);
    dhat::assert!(stats.peak_in_use <= capacity as u64);
    let heap = dhat::HeapStats::get();
    // Frame buffers dominate the heap: at most `capacity` of them were ever alive, plus
    // a little for threads, handles and the pool itself.
    let bound = capacity as u64 * frame + (256 << 10);
    dhat::assert!(heap.max_bytes as u64 <= bound, "peak heap {} > {}", heap.max_bytes, bound);
    dhat::assert!(budget.peak() <= capacity as u64 * frame);
    // The frames of the pool are still held (free) by it.
    dhat::assert!(heap.curr_bytes as u64 >= stats.allocated * frame);
}
