//! Crop, pad and pixel-format conversion against FFmpeg's frame MD5s (and PSNR for the
//! resampling 4:2:2 to 4:2:0).

use crate::{frames, read_y4m, run};
use transcode_core::MemoryConfig;
use transcode_filters::{Conversion, Convert, Crop, Filter, Pad, Parallelism, Pull, Rect, ScaleFilter};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, PixelFormat, SharedFrame};
use transcode_testkit::{read_framemd5, testdata};

fn budget() -> Budget {
    Budget::from_config(&MemoryConfig::default())
}

fn inputs(rel: &str, budget: &Budget) -> (FrameLayout, Vec<SharedFrame>) {
    let y = read_y4m(rel);
    let pics: Vec<(&[u8], FieldOrder)> = y.pictures.iter().map(|p| (p.as_slice(), y.field_order)).collect();
    (y.layout, frames(y.layout, &pics, budget))
}

/// Every output frame's MD5 and pts against the oracle table (same time base: these
/// filters keep timestamps).
fn check(filter: &mut dyn Filter, inputs: Vec<SharedFrame>, oracle: &str) {
    let got = run(filter, inputs);
    let want: Vec<(String, Option<i64>)> =
        read_framemd5(&testdata(oracle)).entries.iter().map(|e| (e.md5.clone(), e.pts)).collect();
    assert!(!want.is_empty());
    assert_eq!(got, want, "{oracle}");
}

#[test]
fn crop_matches_ffmpeg_including_its_rounding_to_chroma_samples() {
    let budget = budget();
    let (layout, frames) = inputs("filters/tff_420.y4m", &budget);
    // crop=101:81:13:9 on 4:2:0 is 100x80 at 12,8.
    let mut crop = Crop::new(Rect { x: 13, y: 9, width: 101, height: 81 }, layout, 2, &budget).unwrap();
    assert_eq!((crop.output_layout().width(), crop.output_layout().height()), (100, 80));
    check(&mut crop, frames, "filters/tff_420.crop.framemd5");
    let (layout, frames) = inputs("filters/bff_422.y4m", &budget);
    let mut crop = Crop::new(Rect { x: 7, y: 5, width: 99, height: 51 }, layout, 2, &budget).unwrap();
    assert_eq!((crop.output_layout().width(), crop.output_layout().height()), (98, 51));
    check(&mut crop, frames, "filters/bff_422.crop.framemd5");
    let e = Crop::new(Rect { x: 100, y: 0, width: 100, height: 10 }, layout, 2, &budget).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: crop 100x10 at 100,0 (expected a non-empty rectangle inside the 176x144 frame)");
    let e = Crop::new(Rect { x: 0, y: 0, width: 1, height: 10 }, layout, 2, &budget).unwrap_err();
    assert!(e.to_string().contains("non-empty"), "{e}");
}

#[test]
fn pad_matches_ffmpeg_including_its_rounding_to_chroma_samples() {
    let budget = budget();
    let (layout, frames) = inputs("filters/tff_420.y4m", &budget);
    let mut pad = Pad::new(Rect { x: 11, y: 7, width: 201, height: 161 }, Pad::BLACK, layout, 2, &budget).unwrap();
    assert_eq!((pad.output_layout().width(), pad.output_layout().height()), (200, 160));
    check(&mut pad, frames, "filters/tff_420.pad.framemd5");
    let (layout, frames) = inputs("filters/bff_422.y4m", &budget);
    let mut pad = Pad::new(Rect { x: 3, y: 3, width: 180, height: 150 }, Pad::BLACK, layout, 2, &budget).unwrap();
    check(&mut pad, frames, "filters/bff_422.pad.framemd5");
    let e = Pad::new(Rect { x: 10, y: 0, width: 180, height: 150 }, Pad::BLACK, layout, 2, &budget).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: pad of 180x150 with the 176x144 frame at 10,0 (expected the frame inside the canvas)");
}

#[test]
fn full_to_limited_range_is_sample_exact() {
    let budget = budget();
    let (layout, frames) = inputs("filters/full_420.y4m", &budget);
    let mut c = Convert::new(Conversion::FullToLimited, layout, 2, Parallelism::Auto, &budget).unwrap();
    check(&mut c, frames, "filters/full_420.limited.framemd5");
}

#[test]
fn ten_to_eight_bits_is_sample_exact_with_ffmpegs_dither() {
    let budget = budget();
    let (layout, frames) = inputs("filters/ten_420.y4m", &budget);
    assert_eq!(layout.format(), PixelFormat::Yuv420p10);
    let mut c = Convert::new(Conversion::TenToEight, layout, 2, Parallelism::Auto, &budget).unwrap();
    assert_eq!(c.output_layout().format(), PixelFormat::Yuv420p);
    check(&mut c, frames, "filters/ten_420.eight.framemd5");
}

/// 4:2:2 to 4:2:0 resamples chroma: luma is copied exactly, chroma within 45 dB of
/// FFmpeg's for its default (bicubic) and for Lanczos.
#[test]
fn yuv422_to_420_is_within_45_db_of_ffmpeg() {
    let budget = budget();
    let (layout, mut frames) = inputs("filters/bff_422.y4m", &budget);
    let first = frames.remove(0);
    for (filter, name) in [(ScaleFilter::Bicubic, "bicubic"), (ScaleFilter::Lanczos, "lanczos")] {
        let mut c = Convert::new(Conversion::Yuv422To420 { filter }, layout, 2, Parallelism::Serial, &budget).unwrap();
        c.push(first.clone()).unwrap();
        let Pull::Frame(out) = c.pull().unwrap() else { panic!("output due") };
        let mut ours = Vec::new();
        out.write_packed(&mut ours);
        let theirs = std::fs::read(testdata(&format!("filters/bff_422.to420.{name}.yuv"))).unwrap();
        assert_eq!(ours.len(), theirs.len());
        let luma = 176 * 144;
        assert!(ours[..luma] == theirs[..luma], "{name}: luma is copied");
        let se: f64 = ours[luma..].iter().zip(&theirs[luma..]).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
        let db = 10.0 * (255.0f64 * 255.0 / (se / (ours.len() - luma) as f64).max(1e-9)).log10();
        assert!(db >= 45.0, "{name}: chroma PSNR {db:.2} dB (expected at least 45)");
    }
    let e = Convert::new(Conversion::Yuv422To420 { filter: ScaleFilter::Bicubic }, FrameLayout::new(PixelFormat::Yuv420p, 8, 8).unwrap(), 2, Parallelism::Auto, &budget)
        .unwrap_err();
    assert_eq!(e.to_string(), "unsupported: 4:2:2 to 4:2:0 conversion of yuv420p (expected yuv422p)");
}
