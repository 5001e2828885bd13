//! The dhat encoder heap test that `heap_encode_720p.rs` and
//! `heap_encode_720p_bframes.rs` each run in their own process with their own
//! settings: a moving 720p source, the peak against the encoder's stated bound, and
//! no allocation after the first IDR period.

use transcode_core::{Budget, MemoryConfig};
use transcode_frame_pool::{Frame, FrameLayout, FramePool, FramePoolConfig, PixelFormat};
use transcode_h264::encoder::{Encoder, EncoderConfig, EncoderStatus, Received};

pub const W: usize = 1280;
pub const H: usize = 720;

/// A moving, textured picture with a little noise, so that the encoder uses intra,
/// inter and skip macroblocks.
fn paint(f: &mut Frame, t: usize, seed: &mut u32) {
    for p in 0..3 {
        let (w, h) = if p == 0 { (W, H) } else { (W / 2, H / 2) };
        let stride = f.stride(p);
        let plane = f.plane_mut(p);
        for y in 0..h {
            for x in 0..w {
                *seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                let noise = (*seed >> 29) as usize;
                let v = if p == 0 {
                    ((x + 2 * t) ^ (y + t)) & 0xff
                } else {
                    (x / 4 + y / 4 + p * 40 + t) & 0xff
                };
                plane[y * stride + x] = ((v + noise) & 0xff) as u8;
            }
        }
    }
}

/// Encodes `3 n` frames with an IDR every `n`, the settings changed by `configure`
/// (which returns the source pool's capacity), and checks the peak heap against
/// `(references + queued + 3) x frame size + 16 MiB`, where references counts the
/// second anchor of B-frames and the reference B of B-pyramid, and queued is
/// `EncoderConfig::queued_frames()`.
pub fn run(label: &str, n: usize, configure: impl FnOnce(&mut EncoderConfig) -> u32) {
    let _profiler = dhat::Profiler::builder().testing().build();
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, W as u32, H as u32).unwrap();
    let mut pcfg = FramePoolConfig::new(layout, &memory);
    let mut cfg = EncoderConfig::new(W as u32, H as u32);
    cfg.keyint = n as u32;
    cfg.qp = 30;
    pcfg.capacity = configure(&mut cfg);
    let pool = FramePool::new(pcfg, &budget).unwrap();
    let refs = cfg.ref_frames as usize + usize::from(cfg.bframes > 0) + usize::from(cfg.uses_b_pyramid());
    let lookahead = cfg.queued_frames();
    let mut enc = Encoder::new(cfg, &budget, &memory).unwrap();
    let mut seed = 1u32;
    let mut bytes = 0usize;
    let mut warm = None;
    for t in 0..3 * n {
        if t == n {
            warm = Some(dhat::HeapStats::get());
        }
        let mut f = pool.acquire();
        paint(&mut f, t, &mut seed);
        f.props_mut().pts = Some(t as i64);
        let f = f.into_shared();
        dhat::assert_eq!(enc.send_frame(&f).unwrap(), EncoderStatus::Accepted);
        // The source frame goes back to the pool once the encoder has coded it.
        drop(f);
        while let Received::Packet(p) = enc.receive_packet().unwrap() {
            bytes += p.data.len();
        }
    }
    enc.flush();
    while let Received::Packet(p) = enc.receive_packet().unwrap() {
        bytes += p.data.len();
    }
    let after = dhat::HeapStats::get();
    let warm = warm.unwrap();
    let frame_size = W * H * 3 / 2;
    let bound = (refs + lookahead + 3) * frame_size + (16 << 20);
    println!(
        "{label}: {} frames, {bytes} bytes, peak heap {} bytes after {n} frames, {} after {}, \
         bound {bound}, {} allocations after warm-up",
        3 * n,
        warm.max_bytes,
        after.max_bytes,
        3 * n,
        after.total_blocks - warm.total_blocks
    );
    dhat::assert!(bytes > 0);
    dhat::assert!(after.max_bytes <= bound, "peak heap {} over the bound {bound}", after.max_bytes);
    dhat::assert_eq!(after.max_bytes, warm.max_bytes, "the peak does not grow with the input");
    dhat::assert_eq!(after.total_blocks - warm.total_blocks, 0, "no allocation per frame");
}
