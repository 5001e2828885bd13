//! Heap test (dhat, its own process, no test harness): decoding a 1080p High-profile
//! stream keeps the peak heap within the decoder's stated bound,
//! `(DPB size + 3) x frame size + 8 MiB`, where the frame size is that of a 1920x1088
//! 4:2:0 picture. The DPB size is the one the decoder derived from the stream's level
//! and VUI (4 frames here).

use transcode_core::MemoryConfig;
use transcode_h264::Decoder;
use transcode_testkit::testdata;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    // The input is read before profiling starts: only the decoder's heap is measured.
    let data = std::fs::read(testdata("h264/v_1080p.h264")).unwrap();
    let mut unit = Vec::with_capacity(data.len() + 3);
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut frames = 0usize;
    let mut checksum = 0u64;
    for nal in transcode_h264::nal_units(&data) {
        unit.clear();
        unit.extend_from_slice(&[0, 0, 1]);
        unit.extend_from_slice(nal);
        dec.decode(&unit).unwrap();
        while let Some(f) = dec.next_frame() {
            assert_eq!((f.width, f.height), (1920, 1080));
            checksum = checksum.wrapping_add(f.planes[0][1920 * 540 + 960] as u64);
            frames += 1;
        }
    }
    dec.flush();
    while let Some(f) = dec.next_frame() {
        checksum = checksum.wrapping_add(f.planes[0][1920 * 540 + 960] as u64);
        frames += 1;
    }
    std::hint::black_box(checksum);
    let stats = dhat::HeapStats::get();
    let dpb = dec.dpb_config().unwrap().capacity as usize;
    let frame_size = 1920 * 1088 * 3 / 2;
    let bound = (dpb + 3) * frame_size + (8 << 20);
    let pool = dec.frame_pool().unwrap().stats();
    println!(
        "1080p decode: {frames} frames, dpb {dpb}, pool {}/{} frames allocated (peak in use {}), \
         decoder memory {} bytes, peak heap {} bytes, bound {bound} bytes",
        pool.allocated,
        pool.capacity,
        pool.peak_in_use,
        dec.memory_bytes(),
        stats.max_bytes
    );
    dhat::assert_eq!(frames, 10);
    dhat::assert_eq!(dpb, 4);
    dhat::assert!(
        stats.max_bytes <= bound,
        "peak heap {} over the bound {bound}",
        stats.max_bytes
    );
}
