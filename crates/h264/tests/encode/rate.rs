//! Rate control against its promises over a 30 s clip: an average bitrate lands
//! within 5% of its target, and with a VBV a buffer model of the test's own (not
//! the encoder's) never underflows, where the same settings without one do.
//!
//! The clip is synthesised, deterministically, from committed pictures: 750 frames
//! (30 s at 25 fps) of 176x144, a window moved and scaled over the 600x400
//! photograph `filters/coffee_420.y4m` (bilinear sampling, f64 arithmetic without
//! transcendental functions, so the same on every IEEE platform) in five
//! 6-second segments, with a cut between each: a slow pan, a zoom in, a fast
//! diagonal pan zoomed out, `encode/testsrc2_176x144.y4m` played back and forth,
//! and a zoom out while panning; the photograph's segments get a light grain that
//! changes every frame, as a camera's pictures have.

use super::y4m;
use transcode_core::{Budget, MemoryConfig};
use transcode_frame_pool::{FrameLayout, FramePool, FramePoolConfig, PixelFormat};
use transcode_h264::encoder::{
    Encoder, EncoderConfig, EncoderStatus, Entropy, RateControl, Received,
};
use transcode_testkit::testdata;

const W: usize = 176;
const H: usize = 144;
const FRAMES: usize = 750;
const SEGMENT: usize = 150;
const FPS: f64 = 25.0;

/// The clip's sources: the photograph's planes and the testsrc2 frames.
struct Sources {
    photo: y4m::Y4m,
    testsrc: y4m::Y4m,
}

fn sources() -> Sources {
    let photo =
        y4m::Y4m::parse(&std::fs::read(testdata("filters/coffee_420.y4m")).unwrap()).unwrap();
    let testsrc =
        y4m::Y4m::parse(&std::fs::read(testdata("encode/testsrc2_176x144.y4m")).unwrap()).unwrap();
    assert_eq!((photo.width, photo.height), (600, 400));
    assert_eq!((testsrc.width as usize, testsrc.height as usize), (W, H));
    Sources { photo, testsrc }
}

/// Samples `plane` (`pw` x `ph`) bilinearly into `out` (`ow` x `oh`): output
/// sample (x, y) is taken at `(cx + (x + 0.5 - ow / 2) * scale - 0.5, ...)`,
/// clamped to the plane.
#[allow(clippy::too_many_arguments)]
fn sample(
    plane: &[u8],
    pw: usize,
    ph: usize,
    cx: f64,
    cy: f64,
    scale: f64,
    ow: usize,
    oh: usize,
    out: &mut Vec<u8>,
) {
    let at = |x: isize, y: isize| {
        let x = x.clamp(0, pw as isize - 1) as usize;
        let y = y.clamp(0, ph as isize - 1) as usize;
        plane[y * pw + x] as f64
    };
    for y in 0..oh {
        let sy = cy + (y as f64 + 0.5 - oh as f64 / 2.0) * scale - 0.5;
        let (y0, fy) = (sy.floor(), sy - sy.floor());
        for x in 0..ow {
            let sx = cx + (x as f64 + 0.5 - ow as f64 / 2.0) * scale - 0.5;
            let (x0, fx) = (sx.floor(), sx - sx.floor());
            let (x0, y0i) = (x0 as isize, y0 as isize);
            let top = at(x0, y0i) * (1.0 - fx) + at(x0 + 1, y0i) * fx;
            let bottom = at(x0, y0i + 1) * (1.0 - fx) + at(x0 + 1, y0i + 1) * fx;
            out.push((top * (1.0 - fy) + bottom * fy + 0.5) as u8);
        }
    }
}

/// Frame `n` of the clip, packed yuv420p, into `out`.
fn frame(s: &Sources, n: usize, out: &mut Vec<u8>) {
    out.clear();
    let seg = n / SEGMENT;
    let t = (n % SEGMENT) as f64;
    let f = t / SEGMENT as f64;
    // Window centre and scale (photograph samples per output sample) per segment.
    let (cx, cy, scale) = match seg {
        0 => (150.0 + t, 150.0, 1.0),
        1 => (420.0, 260.0, 1.0 - 0.5 * f),
        2 => (180.0 + 1.6 * t, 110.0 + 1.0 * t, 1.5),
        3 => {
            // testsrc2 forwards then backwards, so that it moves without jumps.
            let len = s.testsrc.frames.len();
            let k = n % (2 * len - 2);
            let k = if k < len { k } else { 2 * len - 2 - k };
            out.extend_from_slice(&s.testsrc.frames[k]);
            return;
        }
        _ => (400.0 - 0.5 * t, 220.0, 1.0 + f),
    };
    let (pw, ph) = (s.photo.width as usize, s.photo.height as usize);
    let p = &s.photo.frames[0];
    let (cw, ch) = (pw / 2, ph / 2);
    sample(&p[..pw * ph], pw, ph, cx, cy, scale, W, H, out);
    sample(
        &p[pw * ph..pw * ph + cw * ch],
        cw,
        ch,
        cx / 2.0,
        cy / 2.0,
        scale,
        W / 2,
        H / 2,
        out,
    );
    sample(
        &p[pw * ph + cw * ch..],
        cw,
        ch,
        cx / 2.0,
        cy / 2.0,
        scale,
        W / 2,
        H / 2,
        out,
    );
    // Sensor-like grain, -3..=3 on luma, changing every frame (an integer hash of
    // the frame and sample index), so that no two frames are the same and fine
    // detail costs bits as in a camera's pictures.
    for (i, v) in out[..W * H].iter_mut().enumerate() {
        let mut h = (n as u32).wrapping_mul(0x9e37_79b9) ^ (i as u32).wrapping_mul(0x85eb_ca6b);
        h ^= h >> 15;
        h = h.wrapping_mul(0x2c1b_3c6d);
        h ^= h >> 12;
        *v = (*v as i32 + (h % 7) as i32 - 3).clamp(0, 255) as u8;
    }
}

/// Encodes the clip with `cfg` and returns each access unit's size in bytes, in
/// decoding (output) order, and the encoder's own lowest VBV fill.
fn encode_sizes(s: &Sources, cfg: EncoderConfig) -> (Vec<usize>, Option<f64>) {
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, W as u32, H as u32).unwrap();
    let mut pcfg = FramePoolConfig::new(layout, &memory);
    pcfg.capacity = pcfg.capacity.max(cfg.queued_frames() as u32 + 1);
    let pool = FramePool::new(pcfg, &budget).unwrap();
    let mut enc = Encoder::new(cfg, &budget, &memory).unwrap();
    let mut sizes = Vec::with_capacity(FRAMES);
    let take = |enc: &mut Encoder, sizes: &mut Vec<usize>| {
        while let Received::Packet(p) = enc.receive_packet().unwrap() {
            sizes.push(p.data.len());
        }
    };
    let mut buf = Vec::new();
    for n in 0..FRAMES {
        frame(s, n, &mut buf);
        let mut f = pool.acquire();
        f.copy_from_packed(&buf).unwrap();
        f.props_mut().pts = Some(n as i64);
        assert_eq!(
            enc.send_frame(&f.into_shared()).unwrap(),
            EncoderStatus::Accepted
        );
        take(&mut enc, &mut sizes);
    }
    enc.flush();
    take(&mut enc, &mut sizes);
    assert_eq!(sizes.len(), FRAMES);
    (sizes, enc.vbv_min_fill())
}

fn config(rc: RateControl, entropy: Entropy, bframes: u8) -> EncoderConfig {
    let mut cfg = EncoderConfig::new(W as u32, H as u32);
    cfg.rate_control = rc;
    cfg.entropy = entropy;
    cfg.bframes = bframes;
    cfg
}

fn kbps(sizes: &[usize]) -> f64 {
    sizes.iter().sum::<usize>() as f64 * 8.0 * FPS / sizes.len() as f64 / 1000.0
}

/// The test's own coded-picture-buffer model (a variable-rate HRD, C.1 with
/// cbr_flag 0): the buffer starts `init` full, each access unit leaves it whole at
/// its decoding time, and `maxrate` fills it between two of them while it is not
/// full. Returns the lowest fill just after an access unit left, in bits: negative
/// means that access unit had not fully arrived when it was due (an underflow).
fn cpb_lowest_fill(sizes: &[usize], maxrate_kbps: u32, bufsize_kbits: u32, init: f64) -> f64 {
    let capacity = bufsize_kbits as f64 * 1000.0;
    let per_interval = maxrate_kbps as f64 * 1000.0 / FPS;
    let mut level = init * capacity;
    let mut lowest = f64::INFINITY;
    for &bytes in sizes {
        let after = level - 8.0 * bytes as f64;
        lowest = lowest.min(after);
        // A late access unit empties the buffer; it then refills from empty.
        level = (after.max(0.0) + per_interval).min(capacity);
    }
    lowest
}

#[test]
fn abr_lands_within_5_percent_of_the_target_over_30_seconds() {
    let s = sources();
    for (target, entropy, bframes) in [(150, Entropy::Cavlc, 0), (600, Entropy::Cabac, 3)] {
        let (sizes, _) = encode_sizes(
            &s,
            config(RateControl::Abr { kbps: target }, entropy, bframes),
        );
        let got = kbps(&sizes);
        let ratio = got / target as f64;
        eprintln!("abr {target} kbit/s ({entropy:?}, {bframes} B-frames): {got:.1} kbit/s, {ratio:.4} of the target");
        assert!(
            (0.95..=1.05).contains(&ratio),
            "abr {target}: {got:.1} kbit/s, {ratio:.4} of the target"
        );
    }
}

#[test]
fn vbv_keeps_a_buffer_model_from_underflowing_where_crf_alone_does_not() {
    let s = sources();
    // Below the rate factor's average (about 260 and 450 kbit/s), with a 2 s buffer.
    let (maxrate, bufsize) = (200, 400);
    for (entropy, bframes) in [(Entropy::Cabac, 3), (Entropy::Cavlc, 0)] {
        let plain = config(RateControl::Crf(18.0), entropy, bframes);
        let (sizes, own) = encode_sizes(&s, plain.clone());
        assert_eq!(own, None);
        let without = cpb_lowest_fill(&sizes, maxrate, bufsize, 0.9);
        let mut capped = plain;
        capped.vbv_maxrate_kbps = Some(maxrate);
        capped.vbv_bufsize_kbits = Some(bufsize);
        let (vsizes, own) = encode_sizes(&s, capped);
        let with = cpb_lowest_fill(&vsizes, maxrate, bufsize, 0.9);
        eprintln!(
            "crf 18 ({entropy:?}, {bframes} B-frames) {:.1} kbit/s: lowest fill {without:.0} bits without a VBV; with maxrate {maxrate} bufsize {bufsize}: {:.1} kbit/s, lowest fill {with:.0} bits ({:.1}% of the buffer; the encoder's own model {:?})",
            kbps(&sizes),
            kbps(&vsizes),
            100.0 * with / (bufsize as f64 * 1000.0),
            own
        );
        assert!(
            without < 0.0,
            "crf 18 alone must underflow this buffer for the test to mean anything ({without})"
        );
        assert!(
            with >= 0.0,
            "the VBV let the buffer underflow: lowest fill {with}"
        );
        // Over the clip, no more than the rate plus what the buffer held at the start.
        let most = maxrate as f64 + 0.9 * bufsize as f64 / (FRAMES as f64 / FPS);
        assert!(
            kbps(&vsizes) <= most,
            "{:.1} kbit/s, more than {most:.1}",
            kbps(&vsizes)
        );
    }
}

#[test]
fn vbv_with_abr_and_short_gops_never_underflows() {
    let s = sources();
    // Constant bitrate: a half-second buffer at the average rate, with an IDR
    // picture every second.
    let mut cfg = config(RateControl::Abr { kbps: 200 }, Entropy::Cabac, 3);
    cfg.keyint = 25;
    cfg.vbv_maxrate_kbps = Some(200);
    cfg.vbv_bufsize_kbits = Some(100);
    let (sizes, _) = encode_sizes(&s, cfg.clone());
    let lowest = cpb_lowest_fill(&sizes, 200, 100, 0.9);
    let got = kbps(&sizes);
    eprintln!(
        "abr 200 maxrate 200 bufsize 100 keyint 25: {got:.1} kbit/s, lowest fill {lowest:.0} bits"
    );
    assert!(lowest >= 0.0, "{lowest}");
    assert!((0.9..=1.05).contains(&(got / 200.0)), "{got:.1}");
    // The same without the VBV underflows this buffer.
    cfg.vbv_maxrate_kbps = None;
    cfg.vbv_bufsize_kbits = None;
    let (sizes, _) = encode_sizes(&s, cfg);
    let without = cpb_lowest_fill(&sizes, 200, 100, 0.9);
    eprintln!(
        "the same without a VBV: {:.1} kbit/s, lowest fill {without:.0} bits",
        kbps(&sizes)
    );
    assert!(without < 0.0, "{without}");
}

#[test]
fn invalid_rate_settings_are_errors_naming_the_setting() {
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let base = config(RateControl::Crf(23.0), Entropy::Cavlc, 0);
    type Change = Box<dyn Fn(&mut EncoderConfig)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|c| c.rate_control = RateControl::Abr { kbps: 0 }),
            "invalid bitrate 0 kbit/s (expected 1..=1000000)",
        ),
        (
            Box::new(|c| c.vbv_maxrate_kbps = Some(500)),
            "invalid vbv maxrate without a vbv bufsize",
        ),
        (
            Box::new(|c| c.vbv_bufsize_kbits = Some(500)),
            "invalid vbv bufsize without a vbv maxrate",
        ),
        (
            Box::new(|c| {
                c.vbv_maxrate_kbps = Some(500);
                c.vbv_bufsize_kbits = Some(500);
                c.rate_control = RateControl::ConstantQp;
            }),
            "invalid vbv with constant qp (expected rate control crf or abr)",
        ),
        (
            Box::new(|c| {
                c.vbv_maxrate_kbps = Some(500);
                c.vbv_bufsize_kbits = Some(500);
                c.rate_control = RateControl::Abr { kbps: 600 };
            }),
            "invalid vbv maxrate 500 kbit/s (expected at least the bitrate, 600)",
        ),
        (
            Box::new(|c| {
                // 500 kbit/s at 25 fps is 20 kbit a frame.
                c.vbv_maxrate_kbps = Some(500);
                c.vbv_bufsize_kbits = Some(19);
            }),
            "invalid vbv bufsize 19 kbit (expected 20..=10000000",
        ),
        (
            Box::new(|c| {
                c.vbv_maxrate_kbps = Some(500);
                c.vbv_bufsize_kbits = Some(500);
                c.vbv_init = f32::NAN;
            }),
            "invalid vbv init NaN (expected 0.1..=1)",
        ),
        (
            Box::new(|c| {
                c.vbv_maxrate_kbps = Some(3000);
                c.vbv_bufsize_kbits = Some(3000);
                c.level = Some(11);
            }),
            "invalid level 11 for 176x144",
        ),
    ];
    for (change, wanted) in cases {
        let mut cfg = base.clone();
        change(&mut cfg);
        let err = Encoder::new(cfg, &budget, &memory).unwrap_err().to_string();
        assert!(err.contains(wanted), "{err} (expected {wanted})");
    }
}

#[test]
fn vbv_rates_choose_a_level_whose_maxbr_and_maxcpb_hold_them() {
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let level = |max: Option<u32>, size: Option<u32>| {
        let mut cfg = config(RateControl::Crf(23.0), Entropy::Cavlc, 0);
        cfg.vbv_maxrate_kbps = max;
        cfg.vbv_bufsize_kbits = size;
        Encoder::new(cfg, &budget, &memory).unwrap().level()
    };
    // QCIF at 25 fps fits level 1.1 (3000 macroblocks a second, 192 kbit/s).
    assert_eq!(level(None, None), 11);
    assert_eq!(level(Some(200), Some(200)), 11);
    // 1.2 x MaxBR: 230 kbit/s fits 1.1, 300 needs 1.2 (384), 3000 needs 2.1 (4000).
    assert_eq!(level(Some(300), Some(300)), 12);
    assert_eq!(level(Some(3000), Some(3000)), 21);
    // MaxCPB too: a 4 Mbit buffer at 200 kbit/s needs level 2.1's 4000 kbit.
    assert_eq!(level(Some(200), Some(4000)), 21);
}

#[test]
fn vbv_recodes_are_deterministic_and_independent_of_threads() {
    let s = sources();
    // Two frames' worth of buffer, at a rate factor that wants far more.
    let mut cfg = config(RateControl::Crf(10.0), Entropy::Cabac, 2);
    cfg.vbv_maxrate_kbps = Some(300);
    cfg.vbv_bufsize_kbits = Some(24);
    let run = |cfg: EncoderConfig| {
        let memory = MemoryConfig::default();
        let budget = Budget::from_config(&memory);
        let layout = FrameLayout::new(PixelFormat::Yuv420p, W as u32, H as u32).unwrap();
        let mut pcfg = FramePoolConfig::new(layout, &memory);
        pcfg.capacity = pcfg.capacity.max(cfg.queued_frames() as u32 + 1);
        let pool = FramePool::new(pcfg, &budget).unwrap();
        let mut enc = Encoder::new(cfg, &budget, &memory).unwrap();
        let mut stream = Vec::new();
        let mut sizes = Vec::new();
        let mut buf = Vec::new();
        // The cut into the fast pan, where the buffer is tightest.
        for n in SEGMENT * 2 - 20..SEGMENT * 2 + 40 {
            frame(&s, n, &mut buf);
            let mut f = pool.acquire();
            f.copy_from_packed(&buf).unwrap();
            f.props_mut().pts = Some(n as i64);
            assert_eq!(
                enc.send_frame(&f.into_shared()).unwrap(),
                EncoderStatus::Accepted
            );
            while let Received::Packet(p) = enc.receive_packet().unwrap() {
                stream.extend_from_slice(p.data);
                sizes.push(p.data.len());
            }
        }
        enc.flush();
        while let Received::Packet(p) = enc.receive_packet().unwrap() {
            stream.extend_from_slice(p.data);
            sizes.push(p.data.len());
        }
        assert!(cpb_lowest_fill(&sizes, 300, 24, 0.9) >= 0.0);
        (stream, enc.vbv_recodes().unwrap())
    };
    let (a, recodes) = run(cfg.clone());
    let (b, _) = run(cfg.clone());
    assert_eq!(a, b);
    assert!(
        recodes > 0,
        "the clip's cut should make the VBV code pictures again"
    );
    // Slice threads do not change the stream, re-coded pictures included.
    cfg.slices = 2;
    let (one, _) = run(cfg.clone());
    cfg.threads = 2;
    let (two, _) = run(cfg);
    assert_eq!(one, two);
    eprintln!("{} bytes, {recodes} pictures coded again", a.len());
}
