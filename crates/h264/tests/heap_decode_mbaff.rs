//! Heap test (dhat, its own process, no test harness): decoding MBAFF frames
//! (`x264_576i_tff_cabac.264`, 720x576, CABAC, B-frames, fed three times in a row)
//! keeps the peak heap within the decoder's stated bound,
//! `(DPB size + 3) x frame size + 8 MiB`, and allocates nothing after the first pass: field macroblock pairs
//! decode and filter in the frame's own buffers, and the field reference lists live
//! on the stack.

use transcode_core::MemoryConfig;
use transcode_h264::Decoder;
use transcode_testkit::testdata;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const PASSES: usize = 3;

fn main() {
    // The input is read before profiling starts: only the decoder's heap is measured.
    let data = std::fs::read(testdata("h264-interlaced/x264_576i_tff_cabac.264")).unwrap();
    let units: Vec<&[u8]> = transcode_h264::nal_units(&data).collect();
    let mut unit = Vec::with_capacity(data.len() + 3);
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut frames = 0usize;
    let mut checksum = 0u64;
    let mut feed = |dec: &mut Decoder, nal: &[u8], frames: &mut usize| {
        unit.clear();
        unit.extend_from_slice(&[0, 0, 1]);
        unit.extend_from_slice(nal);
        dec.decode(&unit).unwrap();
        while let Some(f) = dec.next_frame() {
            assert_eq!((f.width, f.height), (720, 576));
            checksum = checksum.wrapping_add(f.planes[0][720 * 288 + 360] as u64);
            *frames += 1;
        }
    };
    // Warm-up: the first pass (each pass starts with an IDR picture and the same
    // parameter sets, so the later passes reuse everything).
    for nal in &units {
        feed(&mut dec, nal, &mut frames);
    }
    let warm = dhat::HeapStats::get();
    for _ in 1..PASSES {
        for nal in &units {
            feed(&mut dec, nal, &mut frames);
        }
    }
    dec.flush();
    while let Some(f) = dec.next_frame() {
        checksum = checksum.wrapping_add(f.planes[0][720 * 288 + 360] as u64);
        frames += 1;
    }
    std::hint::black_box(checksum);
    let after = dhat::HeapStats::get();
    let dpb = dec.dpb_config().unwrap().capacity as usize;
    let frame_size = 720 * 576 * 3 / 2;
    let bound = (dpb + 3) * frame_size + (8 << 20);
    let pool = dec.frame_pool().unwrap().stats();
    println!(
        "mbaff decode: {frames} frames, dpb {dpb}, pool {}/{} frames allocated (peak in use {}), \
         decoder memory {} bytes, peak heap {} bytes, bound {bound} bytes, \
         blocks allocated after warm-up {}",
        pool.allocated,
        pool.capacity,
        pool.peak_in_use,
        dec.memory_bytes(),
        after.max_bytes,
        after.total_blocks - warm.total_blocks
    );
    dhat::assert_eq!(frames, 8 * PASSES);
    dhat::assert!(
        after.max_bytes <= bound,
        "peak heap {} over the bound {bound}",
        after.max_bytes
    );
    dhat::assert_eq!(after.total_blocks - warm.total_blocks, 0);
    dhat::assert_eq!(after.max_bytes, warm.max_bytes);
}
