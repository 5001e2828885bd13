//! The encoder: every case of `testdata/encode/results.txt` (whose streams FFmpeg was
//! shown to decode to exactly these frames by `cargo xtask encode-check`) encodes to
//! the same stream and reconstruction, our decoder decodes the stream to the
//! reconstruction frame by frame, and the API keeps its promises.

#[path = "../../examples/y4m/mod.rs"]
mod y4m;
mod rate;

use transcode_core::{Budget, Error, MemoryConfig};
use transcode_frame_pool::{FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};
use transcode_h264::encoder::{
    ColourDescription, Encoder, EncoderConfig, EncoderPreset, EncoderStatus, Entropy, FrameType, MeMethod, RateControl,
    Received, Tune,
};
use transcode_h264::Decoder;
use transcode_testkit::{md5_hex, testdata};

/// What encoding a source gave: the stream, each frame's reconstruction MD5, and
/// which frames were keyframes.
struct Encoded {
    stream: Vec<u8>,
    recon: Vec<String>,
    keyframes: Vec<bool>,
    /// Each picture's QP, in display order.
    qps: Vec<u8>,
}

fn config_from(src: &y4m::Y4m, opts: &str) -> EncoderConfig {
    // As `h264_encode`: the preset, then the tuning, then the other options.
    let words: Vec<&str> = opts.split_whitespace().collect();
    let find = |name: &str| words.iter().position(|w| *w == name).map(|i| words[i + 1]);
    let mut cfg = match find("--preset") {
        Some(p) => EncoderConfig::with_preset(src.width, src.height, p.parse::<EncoderPreset>().unwrap()),
        None => EncoderConfig::new(src.width, src.height),
    };
    if let Some(t) = find("--tune") {
        t.parse::<Tune>().unwrap().apply(&mut cfg);
    }
    cfg.frame_rate = src.rate;
    let mut it = opts.split_whitespace();
    while let Some(o) = it.next() {
        match o {
            "--preset" | "--tune" => {
                it.next();
            }
            "--me" => cfg.me_method = it.next().unwrap().parse::<MeMethod>().unwrap(),
            "--subme" => cfg.subpel_refine = it.next().unwrap().parse().unwrap(),
            "--partition-early-exit" => cfg.partition_early_exit = true,
            "--no-partition-early-exit" => cfg.partition_early_exit = false,
            "--qp" => cfg.qp = it.next().unwrap().parse().unwrap(),
            "--crf" => cfg.rate_control = RateControl::Crf(it.next().unwrap().parse().unwrap()),
            "--bitrate" => cfg.rate_control = RateControl::Abr { kbps: it.next().unwrap().parse().unwrap() },
            "--maxrate" => cfg.vbv_maxrate_kbps = Some(it.next().unwrap().parse().unwrap()),
            "--bufsize" => cfg.vbv_bufsize_kbits = Some(it.next().unwrap().parse().unwrap()),
            "--keyint" => cfg.keyint = it.next().unwrap().parse().unwrap(),
            "--bframes" => cfg.bframes = it.next().unwrap().parse().unwrap(),
            "--b-qp-offset" => cfg.b_qp_offset = it.next().unwrap().parse().unwrap(),
            "--i-qp-offset" => cfg.i_qp_offset = it.next().unwrap().parse().unwrap(),
            "--no-i4x4" => cfg.intra4x4 = false,
            "--no-scenecut" => cfg.scenecut = false,
            "--no-partitions" => cfg.partitions = false,
            "--no-deblock" => cfg.deblock = false,
            "--cabac" => cfg.entropy = Entropy::Cabac,
            "--slices" => cfg.slices = it.next().unwrap().parse().unwrap(),
            "--threads" => cfg.threads = it.next().unwrap().parse().unwrap(),
            "--aq-strength" => cfg.aq_strength = it.next().unwrap().parse().unwrap(),
            "--tune-psnr" => cfg.aq_strength = 0.0,
            "--lookahead" => cfg.lookahead = it.next().unwrap().parse().unwrap(),
            "--no-mbtree" => cfg.mbtree = false,
            "--no-b-pyramid" => cfg.b_pyramid = false,
            "--b-adapt" => cfg.b_adapt = true,
            "--mb-qp-pattern" => cfg.mb_qp_pattern = it.next().unwrap().parse().unwrap(),
            "--8x8dct" => {
                cfg.profile = transcode_h264::encoder::Profile::High;
                cfg.transform_8x8 = true;
            }
            "--no-8x8dct" => cfg.transform_8x8 = false,
            other => panic!("unknown option {other} in the oracle table"),
        }
    }
    cfg
}

fn frames_of<'a>(src: &'a y4m::Y4m, pool: &FramePool) -> impl Iterator<Item = SharedFrame> + 'a {
    let pool = pool.clone();
    src.frames.iter().enumerate().map(move |(n, packed)| {
        let mut f = pool.acquire();
        f.copy_from_packed(packed).unwrap();
        f.props_mut().pts = Some(n as i64);
        f.into_shared()
    })
}

fn encode(src: &y4m::Y4m, cfg: EncoderConfig) -> Encoded {
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, src.width, src.height).unwrap();
    let mut pcfg = FramePoolConfig::new(layout, &memory);
    pcfg.capacity = pcfg.capacity.max(cfg.queued_frames() as u32 + 1);
    let pool = FramePool::new(pcfg, &budget).unwrap();
    let bframes = cfg.bframes;
    // Frames of reordering: the first dts is this many frames before the first pts.
    let delay = 1 + cfg.uses_b_pyramid() as i64;
    let mut enc = Encoder::new(cfg, &budget, &memory).unwrap();
    let mut e = Encoded {
        stream: Vec::new(),
        recon: Vec::new(),
        keyframes: Vec::new(),
        qps: Vec::new(),
    };
    let mut buf = Vec::new();
    // Packets in decoding order: (pts, keyframe, reconstruction MD5), sorted into
    // display order at the end.
    let mut coded: Vec<(i64, bool, String, u8)> = Vec::new();
    let mut last_dts = i64::MIN;
    let mut take = |enc: &mut Encoder, e: &mut Encoded, coded: &mut Vec<(i64, bool, String, u8)>| loop {
        let (keyframe, pts, dts, ftype, number, qp) = match enc.receive_packet().unwrap() {
            Received::Packet(p) => {
                e.stream.extend_from_slice(p.data);
                (p.keyframe, p.pts.unwrap(), p.dts.unwrap(), p.frame_type, p.frame_number, p.qp)
            }
            _ => return,
        };
        assert_eq!(number, pts as u64, "frame_number is the frame's index in sending order");
        assert!(dts > last_dts && dts <= pts, "dts {dts} after {last_dts} and at most pts {pts}");
        last_dts = dts;
        if bframes == 0 {
            assert_eq!(pts, coded.len() as i64, "without B-frames packets come out in order");
            assert_eq!(dts, pts);
        } else if coded.is_empty() {
            assert_eq!(dts, pts - delay, "the first dts is one (two with B-pyramid) frames before the first pts");
        }
        assert_eq!(ftype == FrameType::B, !keyframe && pts < coded.iter().map(|c| c.0).max().unwrap_or(-1));
        buf.clear();
        enc.write_reconstruction(&mut buf);
        coded.push((pts, keyframe, md5_hex(&buf), qp));
    };
    for f in frames_of(src, &pool) {
        assert_eq!(enc.send_frame(&f).unwrap(), EncoderStatus::Accepted);
        take(&mut enc, &mut e, &mut coded);
    }
    enc.flush();
    take(&mut enc, &mut e, &mut coded);
    assert!(matches!(enc.receive_packet().unwrap(), Received::Done));
    coded.sort();
    for (n, (pts, keyframe, md5, qp)) in coded.into_iter().enumerate() {
        assert_eq!(pts, n as i64, "every frame comes out once");
        e.keyframes.push(keyframe);
        e.recon.push(md5);
        e.qps.push(qp);
    }
    e
}

fn decode(stream: &[u8]) -> Vec<String> {
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut md5s = Vec::new();
    let mut buf = Vec::new();
    dec.decode_with(stream, |f| {
        buf.clear();
        f.write_yuv420p(&mut buf);
        md5s.push(md5_hex(&buf));
    })
    .unwrap();
    dec.flush();
    while let Some(f) = dec.next_frame() {
        buf.clear();
        f.write_yuv420p(&mut buf);
        md5s.push(md5_hex(&buf));
    }
    md5s
}

/// One case of the oracle table.
struct Case {
    source: String,
    opts: String,
    stream: String,
    frames: Vec<String>,
}

fn oracle() -> Vec<Case> {
    let text = std::fs::read_to_string(testdata("encode/results.txt")).unwrap();
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(head) = line.strip_prefix('[') {
            let head = head.trim_end_matches(']');
            let (source, opts) = head.split_once(' ').unwrap_or((head, ""));
            cases.push(Case {
                source: source.into(),
                opts: opts.into(),
                stream: String::new(),
                frames: Vec::new(),
            });
        } else if let Some(md5) = line.strip_prefix("stream ") {
            cases.last_mut().unwrap().stream = md5.into();
        } else if !line.is_empty() {
            cases.last_mut().unwrap().frames.push(line.into());
        }
    }
    cases
}

#[test]
fn every_case_matches_the_oracle_and_decodes_to_the_reconstruction() {
    let cases = oracle();
    assert!(cases.len() >= 12, "the table has every case of cargo xtask encode-check");
    assert!(cases.iter().any(|c| c.opts.contains("--cabac")), "CABAC is covered");
    for c in cases {
        let src = y4m::Y4m::parse(&std::fs::read(testdata(&c.source)).unwrap()).unwrap();
        let cfg = config_from(&src, &c.opts);
        let keyint = cfg.keyint as u32;
        // The one scene cut of the sources is cut_128x96.y4m's, after frame 7.
        let cut_at = (c.source.contains("cut_") && cfg.scenecut).then_some(7);
        let e = encode(&src, cfg);
        let what = format!("{} {}", c.source, c.opts);
        assert_eq!(e.recon.len(), src.frames.len(), "{what}: one packet per frame");
        // Our own decoder gives the reconstruction, frame by frame.
        assert_eq!(decode(&e.stream), e.recon, "{what}: decoded frames differ from the reconstruction");
        // And it is the stream and reconstruction FFmpeg was shown to agree with.
        assert_eq!(e.recon, c.frames, "{what}: reconstruction differs from the oracle");
        assert_eq!(md5_hex(&e.stream), c.stream, "{what}: stream differs from the oracle");
        let mut since = 0;
        let expected: Vec<bool> = (0..src.frames.len())
            .map(|i| {
                let idr = i == 0 || since >= keyint || cut_at == Some(i);
                since = if idr { 1 } else { since + 1 };
                idr
            })
            .collect();
        assert_eq!(e.keyframes, expected, "{what}: an IDR every keyint frames and at the scene cut");
    }
}

#[test]
fn lower_qp_gives_more_bits_and_a_closer_picture() {
    let src = y4m::Y4m::parse(&std::fs::read(testdata("encode/testsrc2_176x144.y4m")).unwrap()).unwrap();
    let psnr_and_size = |qp: u8| {
        let mut cfg = config_from(&src, "");
        cfg.qp = qp;
        let e = encode(&src, cfg);
        // Mean squared error of the decoded luma against the source, first frame.
        let mut dec = Decoder::new(&MemoryConfig::default());
        let mut mse = 0f64;
        let mut done = false;
        dec.decode_with(&e.stream, |f| {
            if done {
                return;
            }
            done = true;
            let w = src.width as usize;
            for y in 0..src.height as usize {
                for x in 0..w {
                    let d = f.planes[0][y * f.strides[0] + x] as f64 - src.frames[0][y * w + x] as f64;
                    mse += d * d;
                }
            }
        })
        .unwrap();
        mse /= (src.width * src.height) as f64;
        (10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10(), e.stream.len())
    };
    let (p20, s20) = psnr_and_size(20);
    let (p32, s32) = psnr_and_size(32);
    assert!(s20 > s32 * 2, "qp 20 {s20} bytes vs qp 32 {s32}");
    assert!(p20 > p32 + 4.0, "qp 20 {p20:.2} dB vs qp 32 {p32:.2} dB");
    assert!(p32 > 33.0, "qp 32 still looks like the source: {p32:.2} dB");
}

#[test]
fn crf_is_deterministic_and_a_higher_crf_is_smaller() {
    for source in ["encode/testsrc2_176x144.y4m", "encode/mandelbrot_noise_160x96.y4m", "encode/cut_128x96.y4m", "y4m/small.y4m"] {
        let src = y4m::Y4m::parse(&std::fs::read(testdata(source)).unwrap()).unwrap();
        for opts in ["", "--cabac --bframes 3"] {
            let mut last = usize::MAX;
            for crf in [18, 23, 28, 33] {
                let opts = format!("--crf {crf} {opts}");
                let e = encode(&src, config_from(&src, &opts));
                let again = encode(&src, config_from(&src, &opts));
                assert!(e.stream == again.stream && e.qps == again.qps, "{source} {opts}: two runs differ");
                assert!(e.stream.len() < last, "{source} {opts}: {} bytes, not fewer than {last} at crf - 5", e.stream.len());
                last = e.stream.len();
                assert!(e.qps.iter().all(|&q| q <= 51), "{source} {opts}: {:?}", e.qps);
                assert_eq!(decode(&e.stream), e.recon, "{source} {opts}");
            }
        }
    }
}

#[test]
fn crf_qps_follow_the_content() {
    // A still picture (the first testsrc2 frame, fifteen times) against fine detail
    // with temporal noise: at the same crf the busy source is quantised coarser.
    let noise = y4m::Y4m::parse(&std::fs::read(testdata("encode/mandelbrot_noise_160x96.y4m")).unwrap()).unwrap();
    let mut still = y4m::Y4m::parse(&std::fs::read(testdata("encode/testsrc2_176x144.y4m")).unwrap()).unwrap();
    let first = still.frames[0].clone();
    still.frames.iter_mut().for_each(|f| f.clone_from(&first));
    let e_still = encode(&still, config_from(&still, "--crf 26"));
    let e_noise = encode(&noise, config_from(&noise, "--crf 26"));
    let (q_still, q_noise) = (e_still.qps[14], e_noise.qps[14]);
    assert!(q_still + 4 <= q_noise, "still P QP {q_still} vs noisy P QP {q_noise}");
    // The still source's complexity falls to the floor of a quarter level per
    // thumbnail sample, a quarter of average content: 0.4 x 6 log2(4) = 4.8 QP finer
    // than crf 26.
    assert_eq!(q_still, 21, "{:?}", e_still.qps);
    // Over the scene cut the QP changes, by at most 4 from one P picture to the next,
    // and B pictures are coarser than the P picture after them.
    let cut = y4m::Y4m::parse(&std::fs::read(testdata("encode/cut_128x96.y4m")).unwrap()).unwrap();
    for opts in ["--crf 26", "--crf 26 --cabac --bframes 3"] {
        let e = encode(&cut, config_from(&cut, opts));
        let mut distinct = e.qps.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() >= 3, "{opts}: {:?}", e.qps);
        assert_eq!(e.keyframes.iter().filter(|&&k| k).count(), 2, "{opts}: the cut is an IDR picture");
        if opts.contains("bframes") {
            // Anchors at 0, 4, 6 (the group cut short before the cut), 7 (the cut),
            // 11 and 13; B pictures between them.
            for (b, anchor) in [(1, 4), (2, 4), (3, 4), (5, 6), (8, 11), (9, 11), (10, 11), (12, 13)] {
                assert!(e.qps[b] > e.qps[anchor], "{opts}: B {b} vs anchor {anchor}: {:?}", e.qps);
            }
        } else {
            for n in 2..e.qps.len() {
                if !e.keyframes[n] && !e.keyframes[n - 1] {
                    assert!(e.qps[n].abs_diff(e.qps[n - 1]) <= 4, "{opts}: {:?}", e.qps);
                }
            }
        }
    }
    // Constant QP reports its QPs: the P QP, B pictures b_qp_offset coarser, I
    // pictures i_qp_offset finer, and the reference B of a B-pyramid group (2 and
    // 9, the middle of 1..=3 and 8..=10) half way.
    let e = encode(&cut, config_from(&cut, "--qp 30 --bframes 3 --i-qp-offset 3 --b-qp-offset 2"));
    for (n, &q) in e.qps.iter().enumerate() {
        let want = if e.keyframes[n] {
            27
        } else if [4, 6, 11, 13].contains(&n) {
            30
        } else if [2, 9].contains(&n) {
            31
        } else {
            32
        };
        assert_eq!(q, want, "frame {n}: {:?}", e.qps);
    }
}

#[test]
fn parameter_sets_describe_the_stream() {
    let mut cfg = EncoderConfig::new(160, 90);
    cfg.frame_rate = (30000, 1001);
    cfg.sar = (4, 3);
    cfg.colour = Some(ColourDescription {
        primaries: 1,
        transfer: 1,
        matrix: 1,
        full_range: false,
    });
    let memory = MemoryConfig::default();
    let enc = Encoder::new(cfg, &Budget::from_config(&memory), &memory).unwrap();
    let avcc = transcode_codec::h264::AvcC::parse(enc.avcc()).unwrap();
    assert_eq!(avcc.profile, 77);
    assert_eq!(avcc.level, enc.level());
    assert_eq!(enc.level(), 11, "160x90 (60 macroblocks) at 29.97 fps: 1798 MB/s fits 1.1 (3000) but not 1 (1485)");
    let sps = transcode_codec::h264::parse_sps(&avcc.sps[0]).unwrap();
    assert_eq!((sps.width, sps.height), (160, 90), "cropped to the visible size");
    assert_eq!(sps.sar, Some((4, 3)));
    assert_eq!(sps.frame_rate, Some((30000, 1001)));
    let mut scratch = Vec::new();
    let slice_sps = transcode_codec::h264::SliceSps::parse(&avcc.sps[0], &mut scratch).unwrap();
    assert_eq!(slice_sps.max_num_reorder_frames, Some(0), "bitstream_restriction: no reordering");
    assert_eq!(transcode_codec::h264::AvcC::from_annexb(enc.headers()).unwrap().to_bytes(), enc.avcc());
}

#[test]
fn a_scene_cut_starts_a_gop() {
    // cut_128x96.y4m changes scene after frame 7: that frame is an IDR picture with or
    // without B-frames (the group before it ends early), and only with scenecut on.
    let src = y4m::Y4m::parse(&std::fs::read(testdata("encode/cut_128x96.y4m")).unwrap()).unwrap();
    for (opts, want) in [
        ("--qp 26 --bframes 3", vec![0, 7]),
        ("--qp 26", vec![0, 7]),
        ("--qp 26 --bframes 3 --no-scenecut", vec![0]),
    ] {
        let e = encode(&src, config_from(&src, opts));
        let keys: Vec<usize> = (0..e.keyframes.len()).filter(|&i| e.keyframes[i]).collect();
        assert_eq!(keys, want, "{opts}");
        assert_eq!(decode(&e.stream), e.recon, "{opts}");
    }
}

#[test]
fn b_frames_declare_one_reordered_frame_and_b_pyramid_two() {
    for (pyramid, bframes, reorder) in [(false, 3, 1), (true, 3, 2), (true, 1, 1)] {
        let mut cfg = EncoderConfig::new(176, 144);
        cfg.bframes = bframes;
        cfg.b_pyramid = pyramid;
        let memory = MemoryConfig::default();
        let enc = Encoder::new(cfg, &Budget::from_config(&memory), &memory).unwrap();
        let avcc = transcode_codec::h264::AvcC::parse(enc.avcc()).unwrap();
        let mut scratch = Vec::new();
        let sps = transcode_codec::h264::SliceSps::parse(&avcc.sps[0], &mut scratch).unwrap();
        // A B picture waits for its future anchor; with B-pyramid the ones before
        // the reference B wait for it too. One B-frame has no pyramid.
        assert_eq!(sps.max_num_reorder_frames, Some(reorder), "pyramid {pyramid}, {bframes} B-frames");
    }
}

#[test]
fn b_frames_reserve_the_second_reference() {
    // The reconstruction pool grows by one frame with B-frames (and the tables by the
    // B pictures' motion): the smallest budget the P-only encoder starts with refuses
    // the B-frame one before the first frame, and two frames more suffice.
    let cfg = EncoderConfig::new(1280, 720);
    let frame = 1280 * 720 * 3 / 2;
    let fits = |budget_bytes: u64, bframes: u8, pyramid: bool| {
        // max_packet_size small enough not to be the limit found below (the output
        // buffer grows against the budget up to it).
        let memory = MemoryConfig {
            max_memory: budget_bytes,
            max_packet_size: 1 << 20,
            ..MemoryConfig::default()
        };
        let mut c = cfg.clone();
        c.bframes = bframes;
        c.b_pyramid = pyramid;
        Encoder::new(c, &Budget::from_config(&memory), &memory).is_ok()
    };
    let (mut lo, mut hi) = (0u64, 1 << 28);
    while hi - lo > 1024 {
        let mid = (lo + hi) / 2;
        if fits(mid, 0, false) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    assert!(hi > 2 * frame as u64, "the P-only encoder reserves its two frames: {hi}");
    assert!(!fits(hi + frame as u64 / 2, 3, false), "the second anchor is reserved");
    assert!(fits(hi + 2 * frame as u64, 3, false));
    // B-pyramid: the reference B picture's frame and motion table too, reserved
    // before the first frame.
    assert!(!fits(hi + 2 * frame as u64, 3, true), "the reference B picture is reserved");
    assert!(fits(hi + 4 * frame as u64, 3, true));
    assert!(fits(hi + 2 * frame as u64, 1, true), "one B-frame has no pyramid");
}

#[test]
fn invalid_settings_are_errors_naming_the_setting() {
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let check = |f: &dyn Fn(&mut EncoderConfig), what: &str| {
        let mut cfg = EncoderConfig::new(176, 144);
        f(&mut cfg);
        let e = Encoder::new(cfg, &budget, &memory).unwrap_err();
        assert!(e.to_string().contains(what), "{e} should name {what}");
    };
    check(&|c| c.width = 8, "invalid width 8 (expected 16..=8192)");
    check(&|c| c.height = 9000, "invalid height 9000 (expected 16..=8192)");
    check(&|c| c.width = 175, "expected even width and height");
    check(&|c| c.qp = 52, "invalid qp 52 (expected 0..=51)");
    check(&|c| c.keyint = 0, "invalid keyint 0 (expected 1..=65535)");
    check(&|c| c.frame_rate = (0, 1), "invalid frame rate numerator 0");
    check(&|c| c.sar = (1, 0), "invalid sar height 0");
    check(&|c| c.ref_frames = 2, "invalid ref frames 2 (expected 1..=1)");
    check(&|c| c.lookahead = 0, "invalid lookahead 0 (expected 1..=64)");
    check(&|c| c.me_range = 1000, "invalid me range 1000 (expected 4..=64)");
    check(&|c| c.chroma_qp_offset = 13, "invalid chroma qp offset 13 (expected -12..=12)");
    check(&|c| c.level = Some(7), "invalid level 7");
    check(&|c| c.bframes = 17, "invalid bframes 17 (expected 0..=16)");
    check(&|c| c.b_qp_offset = 13, "invalid b qp offset 13 (expected 0..=12)");
    check(&|c| c.i_qp_offset = 13, "invalid i qp offset 13 (expected 0..=12)");
    check(&|c| c.slices = 0, "invalid slices 0 (expected 1..=64)");
    check(&|c| c.lookahead = 65, "invalid lookahead 65 (expected 1..=64)");
    check(&|c| c.subpel_refine = 5, "invalid subpel refine 5 (expected 0..=4)");
    check(&|c| c.threads = 0, "invalid threads 0 (expected 1..=64)");
    check(&|c| c.threads = 65, "invalid threads 65 (expected 1..=64)");
    check(&|c| c.rate_control = RateControl::Crf(51.5), "invalid crf 51.5 (expected 0..=51)");
    check(&|c| c.rate_control = RateControl::Crf(-1.0), "invalid crf -1 (expected 0..=51)");
    check(&|c| c.rate_control = RateControl::Crf(f32::NAN), "invalid crf NaN (expected 0..=51)");
    check(
        &|c| {
            c.bframes = 1;
            c.profile = transcode_h264::encoder::Profile::ConstrainedBaseline;
        },
        "invalid bframes for profile constrained baseline",
    );
    check(&|c| c.level = Some(10), "invalid level 10 for 176x144 at 25/1 fps");
    check(
        &|c| {
            c.entropy = Entropy::Cabac;
            c.profile = transcode_h264::encoder::Profile::ConstrainedBaseline;
        },
        "invalid entropy cabac for profile constrained baseline",
    );
}

/// Coded slices (NAL types 1 and 5) of an Annex-B stream, and each one's
/// first_mb_in_slice (its first Exp-Golomb code).
fn slices_of(stream: &[u8]) -> Vec<u32> {
    let mut firsts = Vec::new();
    let mut i = 0;
    while i + 4 < stream.len() {
        if stream[i..i + 3] == [0, 0, 1] && matches!(stream[i + 3] & 31, 1 | 5) {
            // ue(v) from the first payload byte (first_mb_in_slice is small here: no
            // emulation prevention byte inside it).
            let bits = u64::from_be_bytes(std::array::from_fn(|k| stream.get(i + 4 + k).copied().unwrap_or(0)));
            let zeros = bits.leading_zeros();
            firsts.push(((bits >> (63 - 2 * zeros)) - 1) as u32);
            i += 4;
        } else {
            i += 1;
        }
    }
    firsts
}

#[test]
fn slices_are_balanced_bands_of_rows_and_threads_do_not_change_the_stream() {
    let src = y4m::Y4m::parse(&std::fs::read(testdata("encode/testsrc2_176x144.y4m")).unwrap()).unwrap();
    for opts in ["--qp 26 --slices 4 --cabac --bframes 2", "--qp 30 --slices 3", "--crf 24 --slices 9 --bframes 3"] {
        let slices: u32 = opts.split_whitespace().skip_while(|o| *o != "--slices").nth(1).unwrap().parse().unwrap();
        let one = encode(&src, config_from(&src, opts));
        // 11x9 macroblocks: every picture in bands of whole rows, each starting where
        // the last one ended and at most half again an equal share (9 / n rows); the
        // first picture, with no costs to balance by yet, in equal bands.
        let firsts = slices_of(&one.stream);
        let n = slices.min(9) as usize;
        assert_eq!(firsts.len(), n * src.frames.len(), "{opts}: every picture in {n} slices");
        let max = (3 * 9u32).div_ceil(2 * n as u32).min(10 - n as u32).max(9u32.div_ceil(n as u32));
        for pic in firsts.chunks(n) {
            let mut ends: Vec<u32> = pic.to_vec();
            ends.push(99);
            assert_eq!(pic[0], 0, "{opts}: {pic:?}");
            for w in ends.windows(2) {
                assert!(w[0] % 11 == 0 && w[1] > w[0] && w[1] - w[0] <= 11 * max, "{opts}: bands {pic:?}");
            }
        }
        let equal: Vec<u32> = (0..n as u32).map(|k| k * 9 / n as u32 * 11).collect();
        assert_eq!(firsts[..n], equal[..], "{opts}: the first picture in equal bands");
        assert_eq!(decode(&one.stream), one.recon, "{opts}: decoded frames differ from the reconstruction");
        for threads in [2, 3, 16] {
            let mut cfg = config_from(&src, opts);
            cfg.threads = threads;
            let many = encode(&src, cfg);
            assert!(many.stream == one.stream, "{opts}: {threads} threads give another stream");
            assert_eq!(many.recon, one.recon, "{opts}: {threads} threads give another reconstruction");
        }
    }
    // One slice per row at most: 64 slices of a 9-row picture are 9, one row each.
    let e = encode(&src, config_from(&src, "--qp 30 --slices 64"));
    let rows: Vec<u32> = (0..9).map(|r| r * 11).collect();
    assert_eq!(slices_of(&e.stream), rows.repeat(src.frames.len()));
}

#[test]
fn a_budget_too_small_fails_before_encoding() {
    let memory = MemoryConfig::default();
    let budget = Budget::new(1 << 20);
    let e = Encoder::new(EncoderConfig::new(1280, 720), &budget, &memory).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { .. }), "{e}");
}

#[test]
fn frames_of_the_wrong_size_are_refused() {
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let mut enc = Encoder::new(EncoderConfig::new(176, 144), &budget, &memory).unwrap();
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 160, 144).unwrap();
    let pool = FramePool::new(FramePoolConfig::new(layout, &memory), &budget).unwrap();
    let e = enc.send_frame(&pool.acquire().into_shared()).unwrap_err();
    assert!(e.to_string().contains("frame size 160x144 (expected the configured 176x144)"), "{e}");
}

#[test]
fn a_full_lookahead_is_backpressure_and_flush_drains_it() {
    let src = y4m::Y4m::parse(&std::fs::read(testdata("y4m/small.y4m")).unwrap()).unwrap();
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, src.width, src.height).unwrap();
    let pool = FramePool::new(FramePoolConfig::new(layout, &memory), &budget).unwrap();
    let mut cfg = config_from(&src, "");
    cfg.lookahead = 3;
    let mut enc = Encoder::new(cfg, &budget, &memory).unwrap();
    let frames: Vec<SharedFrame> = frames_of(&src, &pool).take(5).collect();
    assert!(matches!(enc.receive_packet().unwrap(), Received::NeedMoreData));
    for f in &frames[..2] {
        assert_eq!(enc.send_frame(f).unwrap(), EncoderStatus::Accepted);
        assert!(matches!(enc.receive_packet().unwrap(), Received::NeedMoreData));
    }
    assert_eq!(enc.send_frame(&frames[2]).unwrap(), EncoderStatus::Accepted);
    assert_eq!(enc.send_frame(&frames[3]).unwrap(), EncoderStatus::EnoughData);
    match enc.receive_packet().unwrap() {
        Received::Packet(p) => {
            assert_eq!((p.pts, p.frame_type, p.keyframe), (Some(0), FrameType::Idr, true));
            assert!(p.data.starts_with(&[0, 0, 0, 1, 0x67]), "an IDR access unit starts with the SPS");
        }
        other => panic!("expected a packet, got {other:?}"),
    }
    assert_eq!(enc.send_frame(&frames[3]).unwrap(), EncoderStatus::Accepted);
    enc.flush();
    assert!(enc.send_frame(&frames[4]).is_err(), "no frames after flush");
    let mut pts = Vec::new();
    loop {
        match enc.receive_packet().unwrap() {
            Received::Packet(p) => {
                assert_eq!(p.frame_type, FrameType::P);
                pts.push(p.pts.unwrap());
            }
            Received::Done => break,
            Received::NeedMoreData => panic!("a flushed encoder never needs more data"),
        }
    }
    assert_eq!(pts, [1, 2, 3]);
    // The encoder kept handles, not copies: they are all back with the caller now.
    assert!(frames.iter().all(|f| f.handle_count() == 1));
}

#[test]
fn b_frames_come_in_decoding_order_and_their_wait_is_backpressure() {
    let src = y4m::Y4m::parse(&std::fs::read(testdata("y4m/small.y4m")).unwrap()).unwrap();
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, src.width, src.height).unwrap();
    let pool = FramePool::new(FramePoolConfig::new(layout, &memory), &budget).unwrap();
    let mut cfg = config_from(&src, "--bframes 2 --no-b-pyramid");
    assert_eq!(cfg.queued_frames(), 3);
    cfg.keyint = 250;
    let mut enc = Encoder::new(cfg, &budget, &memory).unwrap();
    let frames: Vec<SharedFrame> = frames_of(&src, &pool).take(6).collect();
    let next = |enc: &mut Encoder| match enc.receive_packet().unwrap() {
        Received::Packet(p) => Some((p.frame_type, p.pts.unwrap(), p.dts.unwrap())),
        Received::NeedMoreData => None,
        Received::Done => panic!("not flushed"),
    };
    for f in &frames[..3] {
        assert_eq!(enc.send_frame(f).unwrap(), EncoderStatus::Accepted);
    }
    assert_eq!(enc.send_frame(&frames[3]).unwrap(), EncoderStatus::EnoughData);
    assert_eq!(next(&mut enc), Some((FrameType::Idr, 0, -1)), "dts one frame before the first pts");
    assert_eq!(enc.send_frame(&frames[3]).unwrap(), EncoderStatus::Accepted);
    assert_eq!(next(&mut enc), Some((FrameType::P, 3, 0)), "the anchor before its B pictures");
    // Frames 1 and 2 wait as B pictures: they count against the queue.
    assert_eq!(enc.send_frame(&frames[4]).unwrap(), EncoderStatus::Accepted);
    assert_eq!(enc.send_frame(&frames[5]).unwrap(), EncoderStatus::EnoughData);
    assert_eq!(next(&mut enc), Some((FrameType::B, 1, 1)));
    assert_eq!(next(&mut enc), Some((FrameType::B, 2, 2)));
    assert_eq!(next(&mut enc), None);
    assert_eq!(enc.send_frame(&frames[5]).unwrap(), EncoderStatus::Accepted);
    enc.flush();
    // The last, shorter group: frame 5 is the anchor of frame 4.
    assert_eq!(next(&mut enc), Some((FrameType::P, 5, 3)));
    assert_eq!(next(&mut enc), Some((FrameType::B, 4, 4)));
    assert!(matches!(enc.receive_packet().unwrap(), Received::Done));
    assert!(frames.iter().all(|f| f.handle_count() == 1));
}

#[test]
fn b_pyramid_codes_the_middle_b_as_a_reference_after_its_anchor() {
    let src = y4m::Y4m::parse(&std::fs::read(testdata("encode/testsrc2_176x144.y4m")).unwrap()).unwrap();
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, src.width, src.height).unwrap();
    let mut pcfg = FramePoolConfig::new(layout, &memory);
    pcfg.capacity = 8;
    let pool = FramePool::new(pcfg, &budget).unwrap();
    let cfg = config_from(&src, "--qp 26 --bframes 3 --no-scenecut");
    assert!(cfg.uses_b_pyramid(), "on by default from 2 B-frames");
    let mut enc = Encoder::new(cfg, &budget, &memory).unwrap();
    // (frame type, pts, dts, nal_ref_idc of the first slice)
    let mut got = Vec::new();
    let mut stream = Vec::new();
    let mut take = |enc: &mut Encoder, got: &mut Vec<(FrameType, i64, i64, u8)>| {
        while let Received::Packet(p) = enc.receive_packet().unwrap() {
            stream.extend_from_slice(p.data);
            // The slice NAL unit is the last one of the access unit (after the
            // parameter sets of the IDR picture).
            let nal = p.data.windows(4).rposition(|w| w == [0, 0, 0, 1]).unwrap() + 4;
            got.push((p.frame_type, p.pts.unwrap(), p.dts.unwrap(), p.data[nal] >> 5));
        }
    };
    for f in frames_of(&src, &pool).take(9) {
        assert_eq!(enc.send_frame(&f).unwrap(), EncoderStatus::Accepted);
        take(&mut enc, &mut got);
    }
    enc.flush();
    take(&mut enc, &mut got);
    use FrameType::*;
    assert_eq!(
        got,
        vec![
            (Idr, 0, -2, 3),
            (P, 4, -1, 2),
            // The reference B first (nal_ref_idc 1), then the others in display
            // order; dts two frames behind, never after pts.
            (B, 2, 0, 1),
            (B, 1, 1, 0),
            (B, 3, 2, 0),
            (P, 8, 3, 2),
            (B, 6, 4, 1),
            (B, 5, 5, 0),
            (B, 7, 6, 0),
        ]
    );
    let mut dec = Decoder::new(&memory);
    let mut n = 0;
    dec.decode_with(&stream, |_| n += 1).unwrap();
    dec.flush();
    while dec.next_frame().is_some() {
        n += 1;
    }
    assert_eq!(n, 9, "our decoder outputs every frame");
}

/// Binary 0/255 noise at QP 0, the largest macroblocks this encoder writes, fits the
/// slice buffer it reserved, with either entropy coder, and still decodes to the
/// reconstruction.
#[test]
fn worst_case_content_fits_the_reserved_slice_buffer() {
    let (w, h) = (176u32, 144u32);
    let mut seed = 5u32;
    let frames: Vec<Vec<u8>> = (0..2)
        .map(|_| {
            (0..w * h * 3 / 2)
                .map(|_| {
                    seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                    if seed >> 31 == 0 {
                        0
                    } else {
                        255
                    }
                })
                .collect()
        })
        .collect();
    let src = y4m::Y4m {
        width: w,
        height: h,
        rate: (25, 1),
        frames,
    };
    for entropy in [Entropy::Cavlc, Entropy::Cabac] {
        let mut cfg = config_from(&src, "--qp 0");
        cfg.entropy = entropy;
        let e = encode(&src, cfg);
        assert!(e.stream.len() > 100_000, "{entropy:?}: {} bytes", e.stream.len());
        assert_eq!(decode(&e.stream), e.recon, "{entropy:?}");
    }
}

/// The smallest picture (one macroblock) and the widest one (8192 samples, one
/// macroblock row) encode and decode to the reconstruction, with moving content so
/// that motion search runs against the picture edges and the vector limits.
#[test]
fn extreme_picture_sizes_decode_to_the_reconstruction() {
    for (w, h, keyint) in [(16u32, 16u32, 1u32), (16, 16, 3), (8192, 16, 4)] {
        let frames: Vec<Vec<u8>> = (0..4u32)
            .map(|t| {
                let mut f = Vec::with_capacity((w * h * 3 / 2) as usize);
                for y in 0..h {
                    for x in 0..w {
                        f.push(((x * 7 + y * 3 + t * 37) ^ (x / 16 + t)) as u8);
                    }
                }
                f.extend((0..w * h / 2).map(|i| (i / 8 + t * 5) as u8));
                f
            })
            .collect();
        let src = y4m::Y4m {
            width: w,
            height: h,
            rate: (25, 1),
            frames,
        };
        for entropy in [Entropy::Cavlc, Entropy::Cabac] {
            let mut cfg = config_from(&src, "--qp 30");
            cfg.keyint = keyint;
            cfg.entropy = entropy;
            // Each frame of this pattern is unlike the last: no scene cuts here.
            cfg.scenecut = false;
            let e = encode(&src, cfg);
            assert_eq!(decode(&e.stream), e.recon, "{w}x{h} keyint {keyint} {entropy:?}");
            let idr: Vec<bool> = (0..4).map(|i| i % keyint == 0).collect();
            assert_eq!(e.keyframes, idr);
        }
    }
}

/// Every decoded frame, as packed yuv420p, in output order.
fn decode_frames(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut frames = Vec::new();
    dec.decode_with(stream, |f| {
        let mut buf = Vec::new();
        f.write_yuv420p(&mut buf);
        frames.push(buf);
    })
    .unwrap();
    dec.flush();
    while let Some(f) = dec.next_frame() {
        let mut buf = Vec::new();
        f.write_yuv420p(&mut buf);
        frames.push(buf);
    }
    frames
}

#[test]
fn variance_aq_moves_error_from_flat_to_busy_macroblocks() {
    // Macroblocks of the source split at the picture's mean log2 of their luma AC
    // energy (at least a variance of 1 per sample): with adaptive quantisation the
    // flatter ones are decoded closer to the source and the busier ones further
    // from it than without, at the same rate factor.
    let src = y4m::Y4m::parse(&std::fs::read(testdata("encode/testsrc2_176x144.y4m")).unwrap()).unwrap();
    let (w, h) = (src.width as usize, src.height as usize);
    let (mb_w, mb_h) = (w / 16, h / 16);
    let energy = |f: &[u8], mx: usize, my: usize| {
        let v = (0..256).map(|i| f[(my * 16 + i / 16) * w + mx * 16 + i % 16] as i64);
        let (s, sq) = v.fold((0, 0), |(s, sq), x| (s + x, sq + x * x));
        ((sq - s * s / 256).max(256) as f64).log2()
    };
    let errors = |opts: &str| {
        let e = encode(&src, config_from(&src, opts));
        let frames = decode_frames(&e.stream);
        assert_eq!(frames.len(), src.frames.len());
        let (mut flat, mut busy) = (0u64, 0u64);
        for (dec, s) in frames.iter().zip(&src.frames) {
            let en: Vec<f64> = (0..mb_w * mb_h).map(|a| energy(s, a % mb_w, a / mb_w)).collect();
            let mean = en.iter().sum::<f64>() / en.len() as f64;
            for (a, e) in en.iter().enumerate() {
                let (mx, my) = (a % mb_w, a / mb_w);
                let sse: u64 = (0..256)
                    .map(|i| {
                        let at = (my * 16 + i / 16) * w + mx * 16 + i % 16;
                        (dec[at] as i64 - s[at] as i64).pow(2) as u64
                    })
                    .sum();
                if *e < mean {
                    flat += sse;
                } else {
                    busy += sse;
                }
            }
        }
        (flat, busy, e.stream.len())
    };
    let (flat0, busy0, bytes0) = errors("--crf 26 --tune-psnr");
    let (flat1, busy1, bytes1) = errors("--crf 26 --aq-strength 1");
    assert!(flat1 < flat0, "flat macroblocks: {flat1} with AQ, {flat0} without");
    assert!(busy1 > busy0, "busy macroblocks: {busy1} with AQ, {busy0} without");
    // The picture's mean QP stays about the same, and so does the size.
    assert!(bytes1.abs_diff(bytes0) * 4 < bytes0, "{bytes1} bytes with AQ, {bytes0} without");
}

#[test]
fn a_macroblock_qp_pattern_changes_the_stream_and_still_decodes() {
    // Offsets up to the whole QP range: every macroblock kind meets mb_qp_delta
    // values from -26 to 25 and the QP range's ends (FFmpeg agrees: the encode-check
    // cases with --mb-qp-pattern).
    let src = y4m::Y4m::parse(&std::fs::read(testdata("encode/mandelbrot_noise_160x96.y4m")).unwrap()).unwrap();
    for opts in ["--qp 26", "--qp 26 --cabac --bframes 2"] {
        let plain = encode(&src, config_from(&src, opts));
        for amp in [1, 6, 51] {
            let o = format!("{opts} --mb-qp-pattern {amp}");
            let e = encode(&src, config_from(&src, &o));
            assert_ne!(e.stream, plain.stream, "{o}");
            assert_ne!(e.recon, plain.recon, "{o}");
            assert_eq!(decode(&e.stream), e.recon, "{o}");
            // The slice QP is still the picture's.
            assert_eq!(e.qps, plain.qps, "{o}");
        }
    }
}

#[test]
fn mbtree_spends_more_on_anchors_that_later_frames_reuse() {
    // The first testsrc2 frame held still: everything later frames show is copied
    // from the anchors, so mb-tree quantises them finer (more bytes, a closer
    // picture).
    let mut still = y4m::Y4m::parse(&std::fs::read(testdata("encode/testsrc2_176x144.y4m")).unwrap()).unwrap();
    let first = still.frames[0].clone();
    still.frames.iter_mut().for_each(|f| f.clone_from(&first));
    for opts in ["--crf 30 --tune-psnr", "--crf 30 --tune-psnr --cabac --bframes 2"] {
        let off = encode(&still, config_from(&still, &format!("{opts} --lookahead 8 --no-mbtree")));
        let on = encode(&still, config_from(&still, &format!("{opts} --lookahead 8")));
        assert!(on.stream.len() > off.stream.len() * 11 / 10, "{opts}: {} bytes with mb-tree, {} without", on.stream.len(), off.stream.len());
        assert_eq!(decode(&on.stream), on.recon, "{opts}");
    }
}
