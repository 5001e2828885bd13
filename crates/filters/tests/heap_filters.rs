//! Heap test (dhat, its own process): after warm-up, a chain of every filter
//! (deinterlace, scale, frame rate, crop, pad, range conversion) on 720x576 frames,
//! large enough to be striped on rayon, allocates nothing at all.

use transcode_core::{MemoryConfig, TimeBase};
use transcode_filters::{
    Conversion, Convert, Crop, Deinterlace, DeinterlaceConfig, Filter, Fps, Pad, Parallelism, Pull, Rect, Scale,
    ScaleConfig, Size,
};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Pushes `frame` through `chain` from filter `at` on, depth first, counting what comes
/// out of the last filter.
fn feed(chain: &mut [Box<dyn Filter>], at: usize, frame: Option<SharedFrame>, out: &mut usize) {
    if at == chain.len() {
        *out += frame.is_some() as usize;
        return;
    }
    match frame {
        Some(f) => chain[at].push(f).unwrap(),
        None => chain[at].flush(),
    }
    loop {
        match chain[at].pull().unwrap() {
            Pull::Frame(f) => feed(chain, at + 1, Some(f), out),
            Pull::NeedMore => return,
            Pull::Ended => return feed(chain, at + 1, None, out),
            Pull::Full => panic!("every output is dropped before the next pull"),
        }
    }
}

#[test]
fn filtering_allocates_nothing_after_warm_up() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The test harness's main thread allocates a little just after starting this
    // test's thread; let it settle first.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 720, 576).unwrap();
    let count = 24;
    let pool = FramePool::new(FramePoolConfig { capacity: count, ..FramePoolConfig::new(layout, &memory) }, &budget).unwrap();
    let inputs: Vec<SharedFrame> = (0..count as usize)
        .map(|i| {
            let mut f = pool.acquire();
            let [y, u, v] = f.planes_mut();
            for (k, b) in y.iter_mut().enumerate() {
                *b = ((k * 7 + i * 13) % 251) as u8;
            }
            u.fill(100 + i as u8);
            v.fill(150 - i as u8);
            let p = f.props_mut();
            p.pts = Some(i as i64);
            p.duration = Some(1);
            p.field_order = FieldOrder::TopFirst;
            f.into_shared()
        })
        .collect();

    let deint = Deinterlace::new(DeinterlaceConfig::default(), layout, &budget).unwrap();
    let scale = Scale::new(ScaleConfig { parallelism: Parallelism::Auto, ..ScaleConfig::new(Size::Height(360)) }, layout, None, &budget).unwrap();
    let scaled = scale.output_layout();
    let fps = Fps::new((60, 1), deint.output_time_base(TimeBase::new(1, 25)), scaled, 2, &budget).unwrap();
    let crop = Crop::new(Rect { x: 8, y: 8, width: 400, height: 300 }, scaled, 2, &budget).unwrap();
    let cropped = crop.output_layout();
    let pad = Pad::new(Rect { x: 16, y: 0, width: 432, height: 300 }, Pad::BLACK, cropped, 2, &budget).unwrap();
    let padded = pad.output_layout();
    let convert = Convert::new(Conversion::FullToLimited, padded, 2, Parallelism::Auto, &budget).unwrap();
    let mut chain: Vec<Box<dyn Filter>> =
        vec![Box::new(deint), Box::new(scale), Box::new(fps), Box::new(crop), Box::new(pad), Box::new(convert)];

    let mut out = 0;
    let warm_frames = 6;
    for f in &inputs[..warm_frames] {
        feed(&mut chain, 0, Some(f.clone()), &mut out);
    }
    let warm = dhat::HeapStats::get();
    for f in &inputs[warm_frames..] {
        feed(&mut chain, 0, Some(f.clone()), &mut out);
    }
    feed(&mut chain, 0, None, &mut out);
    let after = dhat::HeapStats::get();
    // 24 frames, two fields each, from 50 to 60 fields per second.
    dhat::assert_eq!(out, 58);
    dhat::assert_eq!(after.total_blocks - warm.total_blocks, 0);
    dhat::assert_eq!(after.max_bytes, warm.max_bytes);
}
