//! Deinterlacing: every yadif/bwdif oracle table of `testdata/filters/`, the filter
//! protocol (delay, backpressure, flush), and errors.

use crate::{frames, read_y4m, run, Y4m};
use transcode_core::{Error, MemoryConfig, TimeBase};
use transcode_filters::{Algorithm, Deinterlace, DeinterlaceConfig, FieldSelect, Filter, Parallelism, Parity, Pull, Rate};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, PixelFormat};
use transcode_testkit::{read_framemd5, testdata};

/// The settings an oracle's file name spells: `SRC.FILTER.MODE.PARITY.framemd5`, or
/// `mixed.FILTER.MODE.interlaced.framemd5` for `deint=interlaced`.
fn config_from_name(filter: &str, mode: &str, parity: &str) -> DeinterlaceConfig {
    let (algorithm, rate) = match (filter, mode) {
        ("bwdif", "send_frame") => (Algorithm::Bwdif, Rate::FrameRate),
        ("bwdif", "send_field") => (Algorithm::Bwdif, Rate::FieldRate),
        ("yadif", "send_frame") => (Algorithm::Yadif, Rate::FrameRate),
        ("yadif", "send_field") => (Algorithm::Yadif, Rate::FieldRate),
        ("yadif", "send_frame_nospatial") => (Algorithm::YadifNoSpatialCheck, Rate::FrameRate),
        ("yadif", "send_field_nospatial") => (Algorithm::YadifNoSpatialCheck, Rate::FieldRate),
        _ => panic!("unknown filter and mode {filter} {mode}"),
    };
    let (parity, select) = match parity {
        "tff" => (Parity::TopFirst, FieldSelect::All),
        "bff" => (Parity::BottomFirst, FieldSelect::All),
        "auto" => (Parity::Auto, FieldSelect::All),
        "interlaced" => (Parity::Auto, FieldSelect::Interlaced),
        _ => panic!("unknown parity {parity}"),
    };
    DeinterlaceConfig { algorithm, rate, parity, select, ..DeinterlaceConfig::default() }
}

/// The input pictures of an oracle: a fixture with the field order of its header, or
/// for `mixed`, `prog_420 + tff_420 + prog_420` as make.sh concatenates them.
fn source(name: &str) -> (FrameLayout, Vec<(Vec<u8>, FieldOrder)>) {
    let tag = |y: Y4m| y.pictures.into_iter().map(move |p| (p, y.field_order)).collect::<Vec<_>>();
    if name == "mixed" {
        let prog = read_y4m("filters/prog_420.y4m");
        let layout = prog.layout;
        let tff = read_y4m("filters/tff_420.y4m");
        assert_eq!(tff.layout, layout);
        let prog = tag(prog);
        let mut all = prog.clone();
        all.extend(tag(tff));
        all.extend(prog);
        (layout, all)
    } else {
        let y = read_y4m(&format!("filters/{name}.y4m"));
        (y.layout, tag(y))
    }
}

fn check_oracle(file: &str, parallelism: Parallelism) -> Result<usize, String> {
    let parts: Vec<&str> = file.split('.').collect();
    let [src, filter, mode, parity, "framemd5"] = parts[..] else { panic!("oracle name {file}") };
    let config = DeinterlaceConfig { parallelism, ..config_from_name(filter, mode, parity) };
    let (layout, pictures) = source(src);
    let budget = Budget::from_config(&MemoryConfig::default());
    let pics: Vec<(&[u8], FieldOrder)> = pictures.iter().map(|(p, o)| (p.as_slice(), *o)).collect();
    let inputs = frames(layout, &pics, &budget);
    let mut filter = Deinterlace::new(config, layout, &budget).unwrap();
    let got = run(&mut filter, inputs);

    let oracle = read_framemd5(&testdata(&format!("filters/{file}")));
    let (n, d) = oracle.time_bases[0];
    let oracle_tb = TimeBase::new(n, d);
    // Inputs count frames of 1/25 s.
    let ours = filter.output_time_base(TimeBase::new(1, 25));
    let want: Vec<(String, Option<i64>)> = oracle.entries.iter().map(|e| (e.md5.clone(), e.pts)).collect();
    let got: Vec<(String, Option<i64>)> =
        got.into_iter().map(|(m, pts)| (m, pts.map(|p| ours.rescale(p, oracle_tb)))).collect();
    if got.len() != want.len() {
        return Err(format!("{file}: {} frames, FFmpeg has {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if g != w {
            return Err(format!("{file}: frame {i} is {g:?}, FFmpeg's is {w:?}"));
        }
    }
    Ok(want.len())
}

fn oracle_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(testdata("filters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".framemd5") && (n.contains(".yadif.") || n.contains(".bwdif.")))
        .collect();
    files.sort();
    files
}

/// Every yadif/bwdif table: both algorithms, both rates, all parities, deint=all on
/// three sources (4:2:0 top first, 4:2:2 bottom first, 4:2:0 of odd size) and
/// deint=interlaced on a progressive/interlaced/progressive stream.
#[test]
fn every_deinterlace_oracle_is_matched_frame_for_frame() {
    let files = oracle_files();
    // 3 sources x 2 filters x 2 modes x 3 parities, 2 nospatial, 4 mixed.
    assert_eq!(files.len(), 36 + 2 + 4, "oracle tables in testdata/filters: {files:?}");
    let mut failures = Vec::new();
    let mut frames = 0;
    for f in &files {
        match check_oracle(f, Parallelism::Serial) {
            Ok(n) => frames += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} tables differ:\n{}", failures.len(), files.len(), failures.join("\n"));
    assert!(frames > 400, "only {frames} frames compared");
}

fn budget() -> Budget {
    Budget::from_config(&MemoryConfig::default())
}

/// Pictures of noise over a moving gradient: motion and edges everywhere, so every
/// branch of both filters is taken.
fn synthetic(layout: FrameLayout, count: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_u32;
    (0..count)
        .map(|t| {
            let mut pic = Vec::with_capacity(layout.packed_size());
            for p in layout.planes() {
                for y in 0..p.rows {
                    for x in 0..p.row_bytes {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        let wave = ((x * 3 + y * 5 + t * 29) % 256) as u32;
                        pic.push(((wave + (seed & 63)) & 255) as u8);
                    }
                }
            }
            pic
        })
        .collect()
}

fn synthetic_frames(layout: FrameLayout, count: usize, order: FieldOrder, budget: &Budget) -> Vec<transcode_frame_pool::SharedFrame> {
    let pics = synthetic(layout, count);
    let refs: Vec<(&[u8], FieldOrder)> = pics.iter().map(|p| (p.as_slice(), order)).collect();
    frames(layout, &refs, budget)
}

const ALGORITHMS: [Algorithm; 3] = [Algorithm::Bwdif, Algorithm::Yadif, Algorithm::YadifNoSpatialCheck];

/// Stripes on rayon must not change a single sample: a 720x576 stream (large enough to
/// be striped) gives the same frames serially and striped.
#[test]
fn row_stripes_give_the_serial_output() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 720, 576).unwrap();
    let budget = budget();
    for algorithm in ALGORITHMS {
        let outputs: Vec<_> = [Parallelism::Serial, Parallelism::Auto]
            .into_iter()
            .map(|parallelism| {
                let config = DeinterlaceConfig { algorithm, parallelism, ..DeinterlaceConfig::default() };
                let mut f = Deinterlace::new(config, layout, &budget).unwrap();
                run(&mut f, synthetic_frames(layout, 4, FieldOrder::TopFirst, &budget))
            })
            .collect();
        assert_eq!(outputs[0].len(), 8);
        assert_eq!(outputs[0], outputs[1], "{algorithm:?}");
    }
}

/// The smallest frames FFmpeg accepts, odd sizes and every format: no panic, the
/// expected number of frames, kept lines unchanged.
#[test]
fn small_and_odd_frames_deinterlace_without_panicking() {
    let budget = budget();
    for format in [PixelFormat::Yuv420p, PixelFormat::Yuv422p, PixelFormat::Yuv444p] {
        for (w, h) in [(3, 3), (3, 4), (4, 3), (5, 7), (7, 5), (9, 9), (17, 6)] {
            let layout = FrameLayout::new(format, w, h).unwrap();
            for algorithm in ALGORITHMS {
                for rate in [Rate::FrameRate, Rate::FieldRate] {
                    let config = DeinterlaceConfig { algorithm, rate, ..DeinterlaceConfig::default() };
                    let mut f = Deinterlace::new(config, layout, &budget).unwrap();
                    let out = run(&mut f, synthetic_frames(layout, 3, FieldOrder::BottomFirst, &budget));
                    let per = if rate == Rate::FieldRate { 2 } else { 1 };
                    assert_eq!(out.len(), 3 * per, "{format:?} {w}x{h} {algorithm:?} {rate:?}");
                }
            }
        }
    }
}

/// The field kept from the current frame is copied, not filtered: with parity=tff the
/// first output of a frame has its even lines, the second its odd lines.
#[test]
fn kept_field_lines_are_the_input_lines() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 64, 32).unwrap();
    let budget = budget();
    let inputs = synthetic_frames(layout, 3, FieldOrder::TopFirst, &budget);
    let mut f = Deinterlace::new(DeinterlaceConfig::default(), layout, &budget).unwrap();
    let mut outs = Vec::new();
    for i in &inputs {
        f.push(i.clone()).unwrap();
        while let Pull::Frame(o) = f.pull().unwrap() {
            outs.push(o);
        }
    }
    assert_eq!(outs.len(), 4, "two fields of each frame with one after it");
    for (k, o) in outs.iter().enumerate() {
        let src = &inputs[k / 2];
        let mut filtered = 0;
        for y in 0..32 {
            if y % 2 == k % 2 {
                assert_eq!(o.row(0, y), src.row(0, y), "output {k} kept line {y}");
            } else if o.row(0, y) != src.row(0, y) {
                filtered += 1;
            }
        }
        assert!(filtered > 8, "output {k}: only {filtered} of 16 missing lines were filled in");
        assert_eq!(o.props().field_order, FieldOrder::Progressive);
    }
}

/// One future frame: nothing comes out of the first push; each later push gives the
/// previous frame's fields at FFmpeg's half-tick timestamps; flush gives the last.
#[test]
fn delay_is_one_frame_and_fields_are_timed_in_half_ticks() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 32, 16).unwrap();
    let budget = budget();
    let mut f = Deinterlace::new(DeinterlaceConfig::default(), layout, &budget).unwrap();
    assert_eq!(f.delay().future_frames, 1);
    assert_eq!(f.delay().max_outputs_per_input, 2);
    assert_eq!(f.output_time_base(TimeBase::new(1001, 30000)), TimeBase::new(1001, 60000));
    let inputs = synthetic_frames(layout, 3, FieldOrder::TopFirst, &budget);
    let mut pts = Vec::new();
    for (i, frame) in inputs.into_iter().enumerate() {
        f.push(frame).unwrap();
        let mut got = Vec::new();
        while let Pull::Frame(o) = f.pull().unwrap() {
            got.push(o.props().pts.unwrap());
        }
        assert_eq!(got.len(), if i == 0 { 0 } else { 2 }, "after push {i}");
        pts.extend(got);
    }
    assert!(matches!(f.pull().unwrap(), Pull::NeedMore));
    f.flush();
    while let Pull::Frame(o) = f.pull().unwrap() {
        pts.push(o.props().pts.unwrap());
    }
    assert_eq!(pts, [0, 1, 2, 3, 4, 5]);
    assert!(matches!(f.pull().unwrap(), Pull::Ended));
}

/// A full output pool is backpressure: the due output waits until a frame comes back.
#[test]
fn a_full_pool_is_backpressure_not_an_error() {
    let layout = FrameLayout::new(PixelFormat::Yuv422p, 32, 16).unwrap();
    let budget = budget();
    let config = DeinterlaceConfig { pool_frames: 1, ..DeinterlaceConfig::default() };
    let mut f = Deinterlace::new(config, layout, &budget).unwrap();
    let mut inputs = synthetic_frames(layout, 2, FieldOrder::TopFirst, &budget).into_iter();
    f.push(inputs.next().unwrap()).unwrap();
    assert!(matches!(f.pull().unwrap(), Pull::NeedMore));
    f.push(inputs.next().unwrap()).unwrap();
    let Pull::Frame(first) = f.pull().unwrap() else { panic!("first field due") };
    assert!(matches!(f.pull().unwrap(), Pull::Full));
    assert!(matches!(f.pull().unwrap(), Pull::Full));
    drop(first);
    let Pull::Frame(second) = f.pull().unwrap() else { panic!("second field due") };
    assert_eq!(second.props().pts, Some(1));
    assert_eq!(budget.stats().pools.iter().find(|p| p.name == "deinterlace").unwrap().allocated, 1);
}

/// Passing a progressive frame through at frame rate shares it: no copy, no pool frame.
#[test]
fn progressive_frames_pass_through_without_a_copy() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 32, 16).unwrap();
    let budget = budget();
    let config = DeinterlaceConfig { rate: Rate::FrameRate, select: FieldSelect::Interlaced, ..DeinterlaceConfig::default() };
    let mut f = Deinterlace::new(config, layout, &budget).unwrap();
    let inputs = synthetic_frames(layout, 2, FieldOrder::Progressive, &budget);
    f.push(inputs[0].clone()).unwrap();
    assert!(matches!(f.pull().unwrap(), Pull::NeedMore));
    f.push(inputs[1].clone()).unwrap();
    let Pull::Frame(out) = f.pull().unwrap() else { panic!("frame 0 due") };
    assert!(out.ptr_eq(&inputs[0]));
}

#[test]
fn misuse_and_unsupported_input_are_errors_saying_what_was_expected() {
    let budget = budget();
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 32, 16).unwrap();
    let e = Deinterlace::new(DeinterlaceConfig::default(), FrameLayout::new(PixelFormat::Yuv420p, 2, 16).unwrap(), &budget)
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid data: deinterlacing a 2x16 frame (expected at least 3x3)");
    let e = Deinterlace::new(DeinterlaceConfig::default(), FrameLayout::new(PixelFormat::Nv12, 32, 16).unwrap(), &budget)
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    assert_eq!(e.to_string(), "unsupported: deinterlacing nv12 (expected yuv420p, yuv422p or yuv444p)");
    let e = Deinterlace::new(DeinterlaceConfig { pool_frames: 0, ..DeinterlaceConfig::default() }, layout, &budget).unwrap_err();
    assert!(e.to_string().contains("expected at least 1"), "{e}");
    let tiny = Budget::new(1000);
    assert!(matches!(Deinterlace::new(DeinterlaceConfig::default(), layout, &tiny), Err(Error::LimitExceeded { .. })));

    let mut f = Deinterlace::new(DeinterlaceConfig::default(), layout, &budget).unwrap();
    let other = FrameLayout::new(PixelFormat::Yuv420p, 32, 18).unwrap();
    let e = f.push(synthetic_frames(other, 1, FieldOrder::TopFirst, &budget).remove(0)).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: 32x18 yuv420p frame pushed to a deinterlacer (expected 32x16 yuv420p)");
    let mut inputs = synthetic_frames(layout, 3, FieldOrder::TopFirst, &budget).into_iter();
    f.push(inputs.next().unwrap()).unwrap();
    let e = f.push(inputs.next().unwrap()).unwrap_err();
    assert!(e.to_string().contains("expected pull until need-more"), "{e}");
    f.flush();
    let e = f.push(inputs.next().unwrap()).unwrap_err();
    assert!(e.to_string().contains("after flush"), "{e}");
}

/// Damaged timestamps at the ends of the range saturate instead of overflowing.
#[test]
fn extreme_timestamps_do_not_overflow() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 8, 8).unwrap();
    let budget = budget();
    let pics = synthetic(layout, 3);
    let refs: Vec<(&[u8], FieldOrder)> = pics.iter().map(|p| (p.as_slice(), FieldOrder::TopFirst)).collect();
    let inputs = crate::timed_frames(layout, &refs, &[Some(i64::MAX), Some(i64::MIN), Some(i64::MAX)], &budget);
    let mut f = Deinterlace::new(DeinterlaceConfig::default(), layout, &budget).unwrap();
    assert_eq!(run(&mut f, inputs).len(), 6);
}

/// Input frames from a pool with another row alignment (so other strides) than the
/// layout the filter was made for give the same frames.
#[test]
fn inputs_with_other_strides_give_the_same_frames() {
    let y = read_y4m("filters/odd_420.y4m");
    let budget = budget();
    let packed = FrameLayout::with_align(y.layout.format(), y.layout.width(), y.layout.height(), 1).unwrap();
    assert_ne!(packed.plane(0).stride, y.layout.plane(0).stride);
    let pics: Vec<(&[u8], FieldOrder)> = y.pictures.iter().map(|p| (p.as_slice(), y.field_order)).collect();
    for (algorithm, name) in [(Algorithm::Bwdif, "bwdif"), (Algorithm::Yadif, "yadif")] {
        let config = DeinterlaceConfig { algorithm, ..DeinterlaceConfig::default() };
        let mut f = Deinterlace::new(config, y.layout, &budget).unwrap();
        let got: Vec<String> = run(&mut f, frames(packed, &pics, &budget)).into_iter().map(|(m, _)| m).collect();
        let oracle = read_framemd5(&testdata(&format!("filters/odd_420.{name}.send_field.auto.framemd5")));
        let want: Vec<String> = oracle.entries.iter().map(|e| e.md5.clone()).collect();
        assert_eq!(got, want, "{name}");
    }
}
