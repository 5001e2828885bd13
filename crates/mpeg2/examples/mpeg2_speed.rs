//! Decode speed: `cargo run --release -p transcode-mpeg2 --example mpeg2_speed -- FILE [RUNS]`
//! decodes FILE RUNS times (frames are produced but not hashed) and prints frames per
//! second of the best run, in wall-clock and in CPU time of this thread.

use transcode_mpeg2::Decoder;

fn main() {
    let path = std::env::args().nth(1).expect("usage: bench FILE [RUNS]");
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let data = std::fs::read(&path).expect("read input");
    let mut best = f64::MAX;
    let mut frames = 0;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let mut dec = Decoder::new(&transcode_core::MemoryConfig::default());
        frames = 0;
        let mut checksum = 0u64;
        dec.decode_with(&data, |f| {
            frames += 1;
            checksum = checksum.wrapping_add(f.planes[0][0] as u64);
        })
        .expect("decode");
        dec.flush();
        while let Some(f) = dec.next_frame() {
            frames += 1;
            checksum = checksum.wrapping_add(f.planes[0][0] as u64);
        }
        std::hint::black_box(checksum);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{path}: {frames} frames, best of {runs}: {:.3} s, {:.1} fps",
        best,
        frames as f64 / best
    );
}
