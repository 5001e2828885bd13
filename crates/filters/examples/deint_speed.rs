//! Times the deinterlacers on a Y4M file (yuv420p), serially and in rayon row stripes:
//! `cargo run --release -p transcode-filters --example deint_speed -- FILE.y4m`.
//! Compare with `ffmpeg -threads 1 -filter_threads 1 -i FILE.y4m -vf bwdif -f null -`.

use std::time::Instant;
use transcode_core::MemoryConfig;
use transcode_filters::{Algorithm, Deinterlace, DeinterlaceConfig, Filter, Parallelism, Pull, Rate};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, FramePool, FramePoolConfig, PixelFormat};

fn main() {
    let path = std::env::args().nth(1).expect("usage: deint_speed FILE.y4m [ALGORITHM-RATE-PARALLELISM | none]");
    // One configuration only, without warm-up, for instruction counts (`none`: just
    // the loading, to subtract).
    let only = std::env::args().nth(2);
    let data = std::fs::read(&path).expect("readable file");
    let header_end = data.iter().position(|&b| b == b'\n').expect("y4m header") + 1;
    let header = std::str::from_utf8(&data[..header_end]).expect("ascii header");
    let tag = |c: char| header.split_whitespace().find_map(|t| t.strip_prefix(c)).expect("W and H tags").to_string();
    let (w, h): (u32, u32) = (tag('W').parse().unwrap(), tag('H').parse().unwrap());
    let layout = FrameLayout::new(PixelFormat::Yuv420p, w, h).unwrap();
    let frame_len = 6 + layout.packed_size();
    let memory = MemoryConfig::default();
    let budget = Budget::new(4 << 30);
    let pictures: Vec<&[u8]> = data[header_end..].chunks_exact(frame_len).map(|c| &c[6..]).collect();
    let pool = FramePool::new(FramePoolConfig { capacity: pictures.len() as u32, ..FramePoolConfig::new(layout, &memory) }, &budget).unwrap();
    let inputs: Vec<_> = pictures
        .iter()
        .map(|p| {
            let mut f = pool.acquire();
            f.copy_from_packed(p).unwrap();
            f.props_mut().field_order = FieldOrder::TopFirst;
            f.into_shared()
        })
        .collect();
    for algorithm in [Algorithm::Bwdif, Algorithm::Yadif] {
        for rate in [Rate::FrameRate, Rate::FieldRate] {
            for parallelism in [Parallelism::Serial, Parallelism::Auto] {
                let label = format!("{algorithm:?}-{rate:?}-{parallelism:?}");
                if only.as_deref().is_some_and(|o| o != label) {
                    continue;
                }
                let config = DeinterlaceConfig { algorithm, rate, parallelism, ..DeinterlaceConfig::default() };
                let mut f = Deinterlace::new(config, layout, &budget).unwrap();
                // Warm-up: the first frames fault in the pool's buffers.
                for input in inputs.iter().take(if only.is_some() { 0 } else { 4 }) {
                    f.push(input.clone()).unwrap();
                    while let Pull::Frame(_) = f.pull().unwrap() {}
                }
                f.flush();
                while let Pull::Frame(_) = f.pull().unwrap() {}
                let mut f = Deinterlace::new(config, layout, &budget).unwrap();
                let start = Instant::now();
                let mut n = 0;
                for input in &inputs {
                    f.push(input.clone()).unwrap();
                    while let Pull::Frame(_) = f.pull().unwrap() {
                        n += 1;
                    }
                }
                f.flush();
                while let Pull::Frame(_) = f.pull().unwrap() {
                    n += 1;
                }
                let s = start.elapsed().as_secs_f64();
                println!("{w}x{h} {algorithm:?} {rate:?} {parallelism:?}: {n} frames out, {:.1} fps out, {:.2} ms/frame", n as f64 / s, s * 1000.0 / n as f64);
            }
        }
    }
}
