//! Scaling: PSNR against FFmpeg's `scale` on natural content (coffee.png) for each
//! kernel, down and up; chroma siting against FFmpeg's chroma positions on a line
//! pattern; output size and SAR; stripes; errors.

use crate::{frames, read_y4m};
use transcode_core::MemoryConfig;
use transcode_filters::{
    output_geometry, ChromaSiting, Filter, Parallelism, Pull, SarMode, Scale, ScaleConfig, ScaleFilter, Size,
};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, PixelFormat, SharedFrame};
use transcode_testkit::testdata;

fn budget() -> Budget {
    Budget::from_config(&MemoryConfig::default())
}

/// Scales the first picture of a fixture, returning the output packed as FFmpeg's
/// rawvideo writes it, and its layout.
fn scale_fixture(rel: &str, config: ScaleConfig) -> (Vec<u8>, FrameLayout) {
    let y4m = read_y4m(rel);
    let budget = budget();
    let input = frames(y4m.layout, &[(&y4m.pictures[0], FieldOrder::Progressive)], &budget).remove(0);
    let mut scale = Scale::new(config, y4m.layout, None, &budget).unwrap();
    let out = scale_one(&mut scale, input);
    let mut packed = Vec::new();
    out.write_packed(&mut packed);
    (packed, *out.layout())
}

fn scale_one(scale: &mut Scale, input: SharedFrame) -> SharedFrame {
    scale.push(input).unwrap();
    let Pull::Frame(out) = scale.pull().unwrap() else { panic!("a scaler outputs at once") };
    assert!(matches!(scale.pull().unwrap(), Pull::NeedMore));
    out
}

/// PSNR in dB of each plane of two packed frames of `layout`.
fn psnr(layout: &FrameLayout, a: &[u8], b: &[u8]) -> Vec<f64> {
    assert_eq!(a.len(), layout.packed_size());
    assert_eq!(b.len(), layout.packed_size(), "oracle size");
    let mut at = 0;
    layout
        .planes()
        .iter()
        .map(|p| {
            let n = p.row_bytes * p.rows;
            let se: f64 = a[at..at + n].iter().zip(&b[at..at + n]).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
            at += n;
            let mse = se / n as f64;
            if mse == 0.0 {
                f64::INFINITY
            } else {
                10.0 * (255.0 * 255.0 / mse).log10()
            }
        })
        .collect()
}

fn check_against_ffmpeg(oracle: &str, config: ScaleConfig, size: (u32, u32)) {
    let (ours, layout) = scale_fixture("filters/coffee_420.y4m", config);
    assert_eq!((layout.width(), layout.height()), size, "{oracle}");
    let theirs = std::fs::read(testdata(&format!("filters/{oracle}"))).unwrap();
    let db = psnr(&layout, &ours, &theirs);
    assert!(db.iter().all(|&d| d >= 45.0), "{oracle}: PSNR Y/U/V {db:.2?} (expected at least 45 dB)");
}

/// Every kernel downscaling 600x400 to `-2:240`, and Lanczos upscaling to `720:-2`,
/// against `scale=...:flags=KERNEL+accurate_rnd+full_chroma_int` (centred chroma, as
/// FFmpeg 5.1 assumes).
#[test]
fn natural_content_is_within_45_db_of_ffmpeg_for_every_kernel() {
    for (kernel, name) in [(ScaleFilter::Lanczos, "lanczos"), (ScaleFilter::Bicubic, "bicubic"), (ScaleFilter::Bilinear, "bilinear")] {
        let config = ScaleConfig { filter: kernel, chroma_siting: ChromaSiting::Center, ..ScaleConfig::new(Size::Height(240)) };
        check_against_ffmpeg(&format!("coffee.{name}.360x240.center.yuv"), config, (360, 240));
    }
    let up = ScaleConfig { chroma_siting: ChromaSiting::Center, ..ScaleConfig::new(Size::Width(720)) };
    check_against_ffmpeg("coffee.lanczos.720x480.center.yuv", up, (720, 480));
    // Left-sited chroma (MPEG-2, H.264), told to FFmpeg with in/out_h_chr_pos=0, to a
    // size of another aspect ratio.
    let left = ScaleConfig::new(Size::Exact { width: 352, height: 288 });
    assert_eq!(left.chroma_siting, ChromaSiting::Left, "left siting is the default");
    check_against_ffmpeg("coffee.lanczos.352x288.left.yuv", left, (352, 288));
}

/// One-sample-wide chroma lines halved horizontally: the output's chroma matches
/// FFmpeg's for the same siting and clearly differs for the other, so the siting is
/// where FFmpeg puts it (chroma position 0 or 128 in 1/256 of a luma pair).
#[test]
fn chroma_siting_matches_ffmpeg_chroma_positions() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 64, 64).unwrap();
    let oracle = |pos: u32| std::fs::read(testdata(&format!("filters/siting.64x64.h{pos}.yuv"))).unwrap();
    for (siting, same, other) in [(ChromaSiting::Left, 0, 128), (ChromaSiting::Center, 128, 0)] {
        let config = ScaleConfig { chroma_siting: siting, ..ScaleConfig::new(Size::Exact { width: 64, height: 64 }) };
        let (ours, l) = scale_fixture("filters/siting.y4m", config);
        assert_eq!(l, layout);
        let good = psnr(&layout, &ours, &oracle(same));
        let bad = psnr(&layout, &ours, &oracle(other));
        // Cb carries the vertical lines that horizontal siting moves.
        assert!(good[1] >= 45.0, "{siting:?}: Cb {:.2} dB against FFmpeg's position {same}", good[1]);
        assert!(bad[1] < 35.0, "{siting:?}: Cb {:.2} dB against position {other} (expected a visible shift)", bad[1]);
        // Luma is flat and Cr's horizontal lines are sited the same way in both.
        assert!(good[0] >= 45.0 && good[2] >= 45.0 && bad[2] >= 45.0, "{siting:?}: {good:.2?} {bad:.2?}");
    }
}

/// FFmpeg's `-2` rounding and SAR arithmetic.
#[test]
fn output_size_follows_the_display_aspect_ratio() {
    let geo = |size, sar_mode, w, h, sar| output_geometry(&ScaleConfig { sar: sar_mode, ..ScaleConfig::new(size) }, w, h, sar).unwrap();
    // HDV / 1080i broadcast anamorphic: square pixels, or the SAR kept.
    assert_eq!(geo(Size::Height(720), SarMode::Square, 1440, 1080, (4, 3)), ((1280, 720), (1, 1)));
    assert_eq!(geo(Size::Height(720), SarMode::Keep, 1440, 1080, (4, 3)), ((960, 720), (4, 3)));
    assert_eq!(geo(Size::Width(1280), SarMode::Square, 1440, 1080, (4, 3)), ((1280, 720), (1, 1)));
    // An exact size keeps the display aspect through the SAR.
    assert_eq!(geo(Size::Exact { width: 1280, height: 720 }, SarMode::Square, 1440, 1080, (4, 3)), ((1280, 720), (1, 1)));
    assert_eq!(geo(Size::Exact { width: 720, height: 576 }, SarMode::Square, 1920, 1080, (1, 1)), ((720, 576), (64, 45)));
    // PAL 16:9 anamorphic; -2 rounds to the nearest even width.
    assert_eq!(geo(Size::Height(576), SarMode::Square, 720, 576, (64, 45)), ((1024, 576), (1, 1)));
    assert_eq!(geo(Size::Height(240), SarMode::Square, 600, 400, (1, 1)), ((360, 240), (1, 1)));
    assert_eq!(geo(Size::Height(101), SarMode::Square, 640, 480, (1, 1)), ((134, 101), (1, 1)));
    let bad = |size, sar| output_geometry(&ScaleConfig::new(size), 640, 480, sar).unwrap_err().to_string();
    assert_eq!(bad(Size::Height(0), (1, 1)), "invalid data: scaled size 2x0 (expected 1..=32768 each way)");
    assert_eq!(bad(Size::Height(480), (0, 1)), "invalid data: sample aspect ratio 0:1 (expected both terms above 0)");
}

/// 1440x1080 at SAR 4:3 to 1280x720 square pixels, through the filter: the output
/// frame's layout and SAR, timestamps carried, striped output equal to serial.
#[test]
fn anamorphic_1080_becomes_square_720_and_stripes_change_nothing() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 1440, 1080).unwrap();
    let budget = budget();
    let mut pic = vec![0u8; layout.packed_size()];
    let mut seed = 7u32;
    for (i, b) in pic.iter_mut().enumerate() {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *b = ((i % 1440) as u32 / 6 + (seed >> 28)) as u8;
    }
    let mut outs = Vec::new();
    for parallelism in [Parallelism::Serial, Parallelism::Auto] {
        let mut input = frames(layout, &[(&pic, FieldOrder::Progressive)], &budget).remove(0);
        // Frames from `frames` are shared; make one with SAR 4:3 from its pixels.
        let mut f = transcode_frame_pool::FramePool::new(
            transcode_frame_pool::FramePoolConfig::new(layout, &MemoryConfig::default()),
            &budget,
        )
        .unwrap()
        .acquire();
        f.copy_from_packed(&pic).unwrap();
        *f.props_mut() = transcode_frame_pool::FrameProps { sar: Some((4, 3)), ..*input.props() };
        input = f.into_shared();
        let config = ScaleConfig { parallelism, ..ScaleConfig::new(Size::Height(720)) };
        let mut scale = Scale::new(config, layout, Some((4, 3)), &budget).unwrap();
        let out = scale_one(&mut scale, input);
        assert_eq!((out.width(), out.height()), (1280, 720));
        assert_eq!(out.props().sar, Some((1, 1)));
        assert_eq!(out.props().pts, Some(0));
        let mut packed = Vec::new();
        out.write_packed(&mut packed);
        outs.push(packed);
    }
    assert!(outs[0] == outs[1], "striped output differs from serial");
}

#[test]
fn misuse_and_unsupported_input_are_errors_saying_what_was_expected() {
    let budget = budget();
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 64, 48).unwrap();
    let e = Scale::new(ScaleConfig::new(Size::Height(24)), FrameLayout::new(PixelFormat::P010, 64, 48).unwrap(), None, &budget)
        .unwrap_err();
    assert_eq!(e.to_string(), "unsupported: scaling p010le (expected yuv420p, yuv422p or yuv444p)");
    let mut scale = Scale::new(ScaleConfig::new(Size::Height(24)), layout, None, &budget).unwrap();
    let pic = vec![128u8; layout.packed_size()];
    let mut f = frames(layout, &[(&pic, FieldOrder::Progressive)], &budget);
    let other = FrameLayout::new(PixelFormat::Yuv422p, 64, 48).unwrap();
    let pic422 = vec![128u8; other.packed_size()];
    let e = scale.push(frames(other, &[(&pic422, FieldOrder::Progressive)], &budget).remove(0)).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: 64x48 yuv422p frame pushed to a scaler (expected 64x48 yuv420p)");
    let mut sar_frame = transcode_frame_pool::FramePool::new(
        transcode_frame_pool::FramePoolConfig::new(layout, &MemoryConfig::default()),
        &budget,
    )
    .unwrap()
    .acquire();
    sar_frame.props_mut().sar = Some((4, 3));
    let e = scale.push(sar_frame.into_shared()).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: frame with SAR 4:3 pushed to a scaler (expected 1:1, the SAR it was made for)");
    let frame = f.remove(0);
    scale.push(frame.clone()).unwrap();
    let e = scale.push(frame).unwrap_err();
    assert!(e.to_string().contains("expected pull until need-more"), "{e}");
    // A flat picture stays flat through every kernel (coefficients sum to one).
    let Pull::Frame(out) = scale.pull().unwrap() else { panic!("output due") };
    assert!((0..3).all(|p| (0..out.plane_layout(p).rows).all(|y| out.row(p, y).iter().all(|&v| v == 128))));
    scale.flush();
    assert!(matches!(scale.pull().unwrap(), Pull::Ended));
    // 1x1 and 1-pixel-high frames scale without panicking.
    for (w, h, size) in [(1, 1, Size::Exact { width: 5, height: 3 }), (7, 1, Size::Height(2)), (3, 2, Size::Exact { width: 1, height: 1 })] {
        let l = FrameLayout::new(PixelFormat::Yuv420p, w, h).unwrap();
        let mut s = Scale::new(ScaleConfig::new(size), l, None, &budget).unwrap();
        let pic = vec![200u8; l.packed_size()];
        let out = scale_one(&mut s, frames(l, &[(&pic, FieldOrder::Progressive)], &budget).remove(0));
        assert!(out.row(0, 0).iter().all(|&v| v == 200), "{w}x{h}");
    }
}
