//! Reference marking, bounds and errors of the DPB, and the arena, lookahead and output
//! buffer.

use transcode_core::{Error, MemoryConfig};
use transcode_decoder_buffers::{
    Dpb, DpbConfig, FrameArena, Lookahead, Output, OutputBuffer, PictureInfo, Push, Reference,
};
use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};

fn pool(capacity: u32) -> FramePool {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 32, 32).unwrap();
    let config = FramePoolConfig { capacity, ..FramePoolConfig::new(layout, &MemoryConfig::default()) };
    FramePool::new(config, &Budget::new(1 << 20)).unwrap()
}

fn frame(pool: &FramePool, tag: i64) -> SharedFrame {
    let mut f = pool.try_acquire().ready().unwrap();
    f.props_mut().pts = Some(tag);
    f.into_shared()
}

fn info(poc: i32, frame_num: u32, reference: Reference) -> PictureInfo {
    PictureInfo { poc, frame_num, reference, output: Output::Needed }
}

fn drain(dpb: &mut Dpb) -> Vec<i64> {
    std::iter::from_fn(|| dpb.pop_output()).map(|f| f.props().pts.unwrap()).collect()
}

#[test]
fn sliding_window_drops_the_oldest_short_term_reference() {
    let pool = pool(8);
    let mut dpb = Dpb::new(DpbConfig { capacity: 4, max_num_reorder: 0, max_num_ref_frames: 2 }).unwrap();
    for n in 0..4 {
        dpb.sliding_window();
        dpb.store(frame(&pool, n), info(2 * n as i32, n as u32, Reference::ShortTerm)).unwrap();
        assert_eq!(drain(&mut dpb), vec![n], "no reordering: output at once");
    }
    let refs: Vec<u32> = dpb.short_term_refs().map(|p| p.frame_num).collect();
    assert_eq!(refs, vec![3, 2], "most recent first, at most max_num_ref_frames");
    // Each frame the window dropped went back to the pool and was decoded into again.
    let stats = pool.stats();
    assert_eq!((stats.allocated, stats.peak_in_use), (2, 2));
}

#[test]
fn long_term_marking_and_unmarking() {
    let pool = pool(8);
    let mut dpb = Dpb::new(DpbConfig { capacity: 4, max_num_reorder: 4, max_num_ref_frames: 4 }).unwrap();
    for n in 0..3 {
        dpb.store(frame(&pool, n), info(n as i32, n as u32, Reference::ShortTerm)).unwrap();
    }
    assert!(dpb.mark_long_term(0, |p| p.frame_num == 0));
    assert!(dpb.mark_long_term(0, |p| p.frame_num == 1), "index 0 moves to frame 1");
    let long: Vec<u32> = dpb.long_term_refs().map(|p| p.frame_num).collect();
    assert_eq!(long, vec![1]);
    assert_eq!(dpb.unmark(|p| p.frame_num == 2), 1);
    assert_eq!(dpb.short_term_refs().count(), 0);
    // Nothing is output yet, so nothing leaves.
    assert_eq!(dpb.len(), 3);
    dpb.flush().unwrap();
    assert_eq!(drain(&mut dpb), vec![0, 1, 2]);
    assert_eq!(dpb.len(), 1, "the long-term reference stays");
    dpb.unmark_all();
    assert!(dpb.is_empty());
}

#[test]
fn non_reference_picture_below_every_waiting_poc_is_output_directly() {
    let pool = pool(8);
    let mut dpb = Dpb::new(DpbConfig { capacity: 2, max_num_reorder: 2, max_num_ref_frames: 2 }).unwrap();
    dpb.store(frame(&pool, 10), info(10, 0, Reference::ShortTerm)).unwrap();
    dpb.store(frame(&pool, 20), info(20, 1, Reference::ShortTerm)).unwrap();
    assert!(drain(&mut dpb).is_empty());
    dpb.store(frame(&pool, 5), info(5, 2, Reference::Unused)).unwrap();
    assert_eq!(drain(&mut dpb), vec![5]);
    dpb.store(frame(&pool, 15), info(15, 2, Reference::Unused)).unwrap();
    // 10 is bumped but stays as a reference; the DPB is still full and 15 is now below
    // every waiting POC, so it is output directly.
    assert_eq!(drain(&mut dpb), vec![10, 15]);
    assert_eq!(dpb.len(), 2);
    dpb.unmark(|p| p.poc == 10);
    dpb.store(frame(&pool, 30), info(30, 3, Reference::Unused)).unwrap();
    assert!(drain(&mut dpb).is_empty(), "room was made by unmarking 10");
    dpb.flush().unwrap();
    assert_eq!(drain(&mut dpb), vec![20, 30]);
}

#[test]
fn a_dpb_full_of_output_references_is_an_error() {
    let pool = pool(8);
    let mut dpb = Dpb::new(DpbConfig { capacity: 2, max_num_reorder: 0, max_num_ref_frames: 2 }).unwrap();
    dpb.store(frame(&pool, 0), info(0, 0, Reference::ShortTerm)).unwrap();
    dpb.store(frame(&pool, 1), info(1, 1, Reference::ShortTerm)).unwrap();
    drain(&mut dpb);
    // The decoder forgot the sliding window.
    let e = dpb.store(frame(&pool, 2), info(2, 2, Reference::ShortTerm)).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: decoded picture buffer full of 2 reference frames (capacity 2)");
}

#[test]
fn an_undrained_output_queue_is_an_error_not_growth() {
    let pool = pool(16);
    let mut dpb = Dpb::new(DpbConfig { capacity: 1, max_num_reorder: 0, max_num_ref_frames: 1 }).unwrap();
    let mut result = Ok(());
    for n in 0..6 {
        result = dpb.store(frame(&pool, n), info(n as i32, 0, Reference::Unused));
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(Error::LimitExceeded { limit: 4, .. })), "{result:?}");
    assert_eq!(dpb.output_len(), 4);
    assert!(Dpb::new(DpbConfig { capacity: 0, max_num_reorder: 0, max_num_ref_frames: 0 }).is_err());
}

#[test]
fn arena_resets_each_frame_tracks_its_high_water_mark_and_refuses_past_its_limit() {
    let budget = Budget::new(1 << 20);
    let mut arena = FrameArena::new(64 << 10, 16 << 10, &budget).unwrap();
    assert!(budget.reserved() >= 64 << 10, "the limit is reserved up front");
    for frame in 0..10usize {
        let a = arena.alloc_slice(1000 + frame * 100, 0u16).unwrap();
        a[0] = 1;
        arena.alloc_copy(&[1u32, 2, 3]).unwrap();
        arena.reset();
    }
    assert!(arena.high_water() >= 2 * 1900 + 12 && arena.high_water() < 2 * 1900 + 64, "{}", arena.high_water());
    assert_eq!(arena.frames(), 10);
    let e = arena.alloc_slice(100 << 10, 0u8).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { what: "frame arena", limit: 65536, .. }), "{e}");
    drop(arena);
    assert_eq!(budget.reserved(), 0);
    assert!(matches!(FrameArena::new(2 << 20, 0, &budget), Err(Error::LimitExceeded { .. })));
}

#[test]
fn lookahead_is_bounded_and_hands_frames_back_when_full() {
    let pool = pool(4);
    let mut la = Lookahead::new(2).unwrap();
    assert!(matches!(la.push(frame(&pool, 0)), Push::Accepted));
    assert!(matches!(la.push(frame(&pool, 1)), Push::Accepted));
    let third = frame(&pool, 2);
    let Push::Full(back) = la.push(third) else { panic!("a full lookahead must refuse") };
    assert_eq!(back.props().pts, Some(2));
    assert_eq!(la.peek(1).unwrap().props().pts, Some(1));
    assert_eq!(la.pop().unwrap().props().pts, Some(0));
    assert!(matches!(la.push(back), Push::Accepted));
    assert_eq!(la.iter().map(|f| f.props().pts.unwrap()).collect::<Vec<_>>(), vec![1, 2]);
    assert!(Lookahead::<SharedFrame>::new(0).is_err());
}

#[test]
fn output_buffer_reuses_its_allocation_within_limit_and_budget() {
    let budget = Budget::new(10_000);
    let mut out = OutputBuffer::new(4096, &budget).unwrap();
    out.extend_from_slice(&[1; 1000]).unwrap();
    let cap = out.capacity();
    assert_eq!(budget.reserved(), cap as u64);
    for _ in 0..10 {
        out.clear();
        out.extend_from_slice(&[2; 900]).unwrap();
    }
    assert_eq!(out.capacity(), cap, "no regrowth for smaller frames");
    assert_eq!(out.high_water(), 1000);
    out.clear();
    let e = out.extend_from_slice(&[0; 5000]).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { what: "output buffer", requested: 5000, limit: 4096 }));
    assert!(OutputBuffer::new(20_000, &budget).is_err());
}
