//! Heap test (dhat, its own process, no test harness): decoding a 1440x1080
//! interlaced MPEG-2 stream keeps the peak heap within the decoder's stated bound,
//! `(3 + OUTPUT_FRAMES) x frame size + 4 MiB`, and allocates nothing per frame once
//! the pool is warm.

use transcode_core::MemoryConfig;
use transcode_mpeg2::{Decoder, OUTPUT_FRAMES};
use transcode_testkit::testdata;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    // The input is read before profiling starts: only the decoder's heap is measured.
    let one = std::fs::read(testdata("mpeg2/v_1440x1080i.m2v")).unwrap();
    // The stream three times over (each copy starts with a sequence header and a
    // closed I frame), so that later passes show whether frames allocate.
    let data = [one.as_slice(), one.as_slice(), one.as_slice()].concat();
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut frames = 0usize;
    let mut checksum = 0u64;
    let mut blocks_after_warmup = None;
    // Fed as a transport stream demuxer would: one PES-sized piece at a time.
    for piece in data.chunks(32 << 10) {
        dec.decode_with(piece, |f| {
            assert_eq!((f.width, f.height), (1440, 1080));
            checksum = checksum.wrapping_add(f.planes[0][f.strides[0] * 540 + 720] as u64);
            frames += 1;
        })
        .unwrap();
        if frames >= 6 && blocks_after_warmup.is_none() {
            blocks_after_warmup = Some(dhat::HeapStats::get().total_blocks);
        }
    }
    dec.flush();
    while let Some(f) = dec.next_frame() {
        checksum = checksum.wrapping_add(f.planes[0][f.strides[0] * 540 + 720] as u64);
        frames += 1;
    }
    std::hint::black_box(checksum);
    let stats = dhat::HeapStats::get();
    let frame_size = dec.frame_pool().unwrap().layout().buffer_len();
    let bound = (3 + OUTPUT_FRAMES as usize) * frame_size + (4 << 20);
    let pool = dec.frame_pool().unwrap().stats();
    let after = stats.total_blocks - blocks_after_warmup.unwrap();
    println!(
        "1440x1080i decode: {frames} frames, pool {}/{} frames allocated (peak in use {}), \
         decoder memory {} bytes, peak heap {} bytes, bound {bound} bytes, {after} allocations after warm-up",
        pool.allocated,
        pool.capacity,
        pool.peak_in_use,
        dec.memory_bytes(),
        stats.max_bytes
    );
    dhat::assert_eq!(frames, 18);
    dhat::assert!(
        stats.max_bytes <= bound,
        "peak heap {} over the bound {bound}",
        stats.max_bytes
    );
    dhat::assert_eq!(after, 0, "allocations after the first six frames");
}
