//! Times the scaler on the first frames of a Y4M file (yuv420p) to a given height,
//! serially and in rayon row stripes:
//! `cargo run --release -p transcode-filters --example scale_speed -- FILE.y4m 720 [SAR_NUM SAR_DEN]`.
//! Compare with `ffmpeg -threads 1 -filter_threads 1 -i FILE.y4m -vf scale=-2:720:flags=lanczos+accurate_rnd+full_chroma_int -f null -`.

use std::time::Instant;
use transcode_core::MemoryConfig;
use transcode_filters::{Filter, Parallelism, Pull, Scale, ScaleConfig, ScaleFilter, Size};
use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: scale_speed FILE.y4m HEIGHT [SAR_NUM SAR_DEN [FILTER-PARALLELISM | none]]");
    // One configuration only, without warm-up, for instruction counts (`none`: just
    // the loading, to subtract).
    let only = args.get(5).cloned();
    let height: u32 = args.get(2).map_or(720, |h| h.parse().expect("a height"));
    let sar = match (args.get(3), args.get(4)) {
        (Some(n), Some(d)) => (n.parse().unwrap(), d.parse().unwrap()),
        _ => (1, 1),
    };
    let data = std::fs::read(path).expect("readable file");
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
            f.props_mut().sar = Some(sar);
            f.into_shared()
        })
        .collect();
    for filter in [ScaleFilter::Lanczos, ScaleFilter::Bicubic, ScaleFilter::Bilinear] {
        for parallelism in [Parallelism::Serial, Parallelism::Auto] {
            let label = format!("{filter:?}-{parallelism:?}");
            if only.as_deref().is_some_and(|o| o != label) {
                continue;
            }
            let config = ScaleConfig { filter, parallelism, ..ScaleConfig::new(Size::Height(height)) };
            let mut s = Scale::new(config, layout, Some(sar), &budget).unwrap();
            let out = s.output_layout();
            // Warm-up: the first frame faults in the intermediate planes and the pool.
            for input in inputs.iter().take(if only.is_some() { 0 } else { 4 }) {
                s.push(input.clone()).unwrap();
                while let Pull::Frame(_) = s.pull().unwrap() {}
            }
            let start = Instant::now();
            for input in &inputs {
                s.push(input.clone()).unwrap();
                while let Pull::Frame(_) = s.pull().unwrap() {}
            }
            let secs = start.elapsed().as_secs_f64();
            let n = inputs.len() as f64;
            println!(
                "{w}x{h} -> {}x{} {filter:?} {parallelism:?}: {:.1} fps, {:.2} ms/frame",
                out.width(),
                out.height(),
                n / secs,
                secs * 1000.0 / n
            );
        }
    }
}
