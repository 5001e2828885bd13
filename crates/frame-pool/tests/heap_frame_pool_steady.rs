//! Heap test (dhat, its own process): after warm-up, acquiring, writing, sharing,
//! cloning and dropping frames allocates nothing, so N and 10N rounds cost the same
//! number of heap blocks.

use transcode_core::MemoryConfig;
use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn rounds(pool: &FramePool, n: usize, refs: &mut Vec<SharedFrame>) {
    for i in 0..n {
        let mut f = pool.acquire();
        f.plane_mut(0)[0] = i as u8;
        f.props_mut().pts = Some(i as i64);
        let shared = f.into_shared();
        let copy = shared.clone();
        refs.push(shared);
        if refs.len() == 3 {
            refs.remove(0);
        }
        drop(copy);
        // A scratch frame acquired and dropped without being shared.
        if let Some(scratch) = pool.try_acquire().ready() {
            drop(scratch);
        }
    }
}

#[test]
fn acquire_and_release_allocate_nothing_after_warm_up() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The test harness's main thread makes a few allocations of its own just after
    // starting this test's thread; on a loaded machine they land inside the measured
    // window unless it has had time to settle into waiting.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let layout = FrameLayout::new(PixelFormat::Nv12, 320, 180).unwrap();
    let budget = Budget::new(16 << 20);
    let pool =
        FramePool::new(FramePoolConfig { capacity: 4, ..FramePoolConfig::new(layout, &MemoryConfig::default()) }, &budget).unwrap();

    // Made once, so every block counted below is the pool's.
    let mut refs = Vec::with_capacity(4);
    rounds(&pool, 10, &mut refs); // warm-up: the pool allocates its frames
    let warm = dhat::HeapStats::get();
    rounds(&pool, 100, &mut refs);
    let after_n = dhat::HeapStats::get();
    rounds(&pool, 1000, &mut refs);
    let after_10n = dhat::HeapStats::get();

    let blocks_n = after_n.total_blocks - warm.total_blocks;
    let blocks_10n = after_10n.total_blocks - after_n.total_blocks;
    dhat::assert_eq!(blocks_n, blocks_10n);
    dhat::assert_eq!(blocks_10n, 0);
    dhat::assert_eq!(after_10n.max_bytes, warm.max_bytes);
    // Two references, the current frame and the scratch frame: three buffers, each
    // allocated once.
    let stats = pool.stats();
    dhat::assert_eq!((stats.allocated, stats.peak_in_use), (3, 3));
}
