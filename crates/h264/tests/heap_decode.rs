//! Heap test (dhat, its own process): after the first group of pictures, decoding
//! allocates nothing at all: the picture pool, macroblock tables and RBSP buffer are
//! sized when the sequence starts and reused for every later access unit.

use transcode_core::MemoryConfig;
use transcode_h264::Decoder;
use transcode_testkit::testdata;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn decoding_allocates_nothing_after_warm_up() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The test harness's main thread allocates a little just after starting this
    // test's thread; let it settle first.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let data = std::fs::read(testdata("es/h264.h264")).unwrap();
    let units: Vec<&[u8]> = transcode_h264::nal_units(&data).collect();
    // Frame data starts with a 3-byte start code; the unit buffer is reused.
    let mut unit = Vec::with_capacity(data.len() + 3);
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut frames = 0usize;
    let mut feed = |dec: &mut Decoder, nal: &[u8], frames: &mut usize| {
        unit.clear();
        unit.extend_from_slice(&[0, 0, 1]);
        unit.extend_from_slice(nal);
        dec.decode(&unit).unwrap();
        while let Some(f) = dec.next_frame() {
            std::hint::black_box(f.planes[0][0]);
            *frames += 1;
        }
    };
    // Warm-up: parameter sets and the first ten access units.
    let warm_units = 14;
    for nal in &units[..warm_units] {
        feed(&mut dec, nal, &mut frames);
    }
    let warm = dhat::HeapStats::get();
    for nal in &units[warm_units..] {
        feed(&mut dec, nal, &mut frames);
    }
    dec.flush();
    while dec.next_frame().is_some() {
        frames += 1;
    }
    let after = dhat::HeapStats::get();
    dhat::assert_eq!(frames, 50);
    dhat::assert_eq!(after.total_blocks - warm.total_blocks, 0);
    dhat::assert_eq!(after.max_bytes, warm.max_bytes);
}
