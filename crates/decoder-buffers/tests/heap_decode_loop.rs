//! Heap test (dhat, its own process): the decode loop of the crate docs (pooled frames,
//! DPB with reordering and sliding window, per-frame arena, lookahead, output buffer)
//! allocates nothing per frame after warm-up: N and 10N frames cost the same number of
//! heap blocks, zero.

use transcode_core::MemoryConfig;
use transcode_decoder_buffers::{Dpb, DpbConfig, FrameArena, Lookahead, Output, OutputBuffer, PictureInfo, Push, Reference};
use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

struct Loop {
    pool: FramePool,
    dpb: Dpb,
    arena: FrameArena,
    lookahead: Lookahead<SharedFrame>,
    out: OutputBuffer,
    decoded: u64,
}

impl Loop {
    /// Decodes `n` pictures of a repeating I P B B pattern (B pictures non-reference).
    fn frames(&mut self, n: u64) {
        const GOP: [(i32, bool); 4] = [(0, true), (6, true), (2, false), (4, false)];
        for _ in 0..n {
            let k = self.decoded;
            let (poc_in_gop, reference) = GOP[(k % 4) as usize];
            let poc = (k / 4) as i32 * 8 + poc_in_gop;
            let mbs = self.arena.alloc_slice(8160, 0u32).unwrap();
            mbs[0] = k as u32;
            let mut frame = self.pool.acquire();
            frame.plane_mut(0)[0] = mbs[0] as u8;
            frame.props_mut().pts = Some(poc as i64);
            if reference {
                self.dpb.sliding_window();
            }
            let marking = if reference { Reference::ShortTerm } else { Reference::Unused };
            let info = PictureInfo { poc, frame_num: k as u32, reference: marking, output: Output::Needed };
            self.dpb.store(frame.into_shared(), info).unwrap();
            while let Some(f) = self.dpb.pop_output() {
                if let Push::Full(f) = self.lookahead.push(f) {
                    // "Encode" the oldest frame into the reused output buffer.
                    let old = self.lookahead.pop().unwrap();
                    self.out.clear();
                    self.out.extend_from_slice(&old.plane(0)[..64]).unwrap();
                    drop(old);
                    assert!(matches!(self.lookahead.push(f), Push::Accepted));
                }
            }
            self.arena.reset();
            self.decoded += 1;
        }
    }
}

#[test]
fn decode_loop_allocates_nothing_per_frame_after_warm_up() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The test harness's main thread makes a few allocations of its own just after
    // starting this test's thread; give it time to settle into waiting.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let config = DpbConfig::for_stream(&memory, 40, 1920, 1080, 2, Some((4, 2))).unwrap();
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 1920, 1080).unwrap();
    // DPB + current picture + lookahead.
    let capacity = config.capacity + 1 + 3;
    let pool = FramePool::new(FramePoolConfig { capacity, ..FramePoolConfig::new(layout, &memory) }, &budget).unwrap();
    let mut l = Loop {
        pool,
        dpb: Dpb::new(config).unwrap(),
        arena: FrameArena::new(1 << 20, 64 << 10, &budget).unwrap(),
        lookahead: Lookahead::new(3).unwrap(),
        out: OutputBuffer::new(1 << 20, &budget).unwrap(),
        decoded: 0,
    };

    l.frames(40);
    let warm = dhat::HeapStats::get();
    l.frames(100);
    let after_n = dhat::HeapStats::get();
    l.frames(1000);
    let after_10n = dhat::HeapStats::get();

    let blocks_n = after_n.total_blocks - warm.total_blocks;
    let blocks_10n = after_10n.total_blocks - after_n.total_blocks;
    dhat::assert_eq!(blocks_n, blocks_10n);
    dhat::assert_eq!(blocks_10n, 0);
    dhat::assert_eq!(after_10n.max_bytes, warm.max_bytes);
    let stats = budget.stats();
    dhat::assert!(stats.pools[0].allocated <= u64::from(capacity));
    dhat::assert!(l.arena.high_water() >= 8160 * 4);
    // Everything the loop holds was reserved: the budget's peak bounds the heap's.
    dhat::assert!(warm.max_bytes as u64 <= stats.peak_reserved + (64 << 10), "{} > {}", warm.max_bytes, stats.peak_reserved);
}
