//! Frame-rate conversion against FFmpeg's `fps` filter: which frames are kept, dropped
//! and repeated, and their timestamps.

use crate::{frames, read_y4m, run, timed_frames};
use transcode_core::{MemoryConfig, TimeBase};
use transcode_filters::{Filter, Fps, Pull};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, PixelFormat};
use transcode_testkit::{read_framemd5, testdata};

/// 25 fps to 30 (repeats), 15 and 10 (drops) and 23.976: the frames and timestamps of
/// FFmpeg's tables, including the repeats of the last frame up to its end.
#[test]
fn every_rate_matches_ffmpegs_fps_filter() {
    let y = read_y4m("filters/tff_420.y4m");
    let budget = Budget::from_config(&MemoryConfig::default());
    for (rate, name) in [((30, 1), "30"), ((15, 1), "15"), ((10, 1), "10"), ((24000, 1001), "24000_1001")] {
        let pics: Vec<(&[u8], FieldOrder)> = y.pictures.iter().map(|p| (p.as_slice(), y.field_order)).collect();
        let mut fps = Fps::new(rate, TimeBase::new(1, 25), y.layout, 2, &budget).unwrap();
        assert_eq!(fps.output_time_base(TimeBase::new(1, 25)), TimeBase::new(rate.1, rate.0));
        let got = run(&mut fps, frames(y.layout, &pics, &budget));
        let oracle = read_framemd5(&testdata(&format!("filters/tff_420.fps.{name}.framemd5")));
        assert_eq!(oracle.time_bases[0], (rate.1, rate.0));
        let want: Vec<(String, Option<i64>)> = oracle.entries.iter().map(|e| (e.md5.clone(), e.pts)).collect();
        assert_eq!(got, want, "fps={name}");
    }
}

/// A gap in the input timestamps is filled by repeating the frame before it; frames
/// without timestamps are dropped; errors say what was expected.
#[test]
fn gaps_are_filled_and_untimed_frames_dropped() {
    let layout = FrameLayout::new(PixelFormat::Yuv420p, 16, 16).unwrap();
    let budget = Budget::from_config(&MemoryConfig::default());
    let pics: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i * 10; layout.packed_size()]).collect();
    let refs: Vec<(&[u8], FieldOrder)> = pics.iter().map(|p| (p.as_slice(), FieldOrder::Progressive)).collect();
    // Frames at 0, (no pts), 3 and 4 of 1/10 s, each 1/10 s long, out at 10 fps.
    let inputs = timed_frames(layout, &refs, &[Some(0), None, Some(3), Some(4)], &budget);
    let mut fps = Fps::new((10, 1), TimeBase::new(1, 10), layout, 1, &budget).unwrap();
    let mut shown = Vec::new();
    for f in inputs {
        fps.push(f).unwrap();
        while let Pull::Frame(o) = fps.pull().unwrap() {
            shown.push((o.props().pts.unwrap(), o.row(0, 0)[0]));
        }
    }
    fps.flush();
    while let Pull::Frame(o) = fps.pull().unwrap() {
        shown.push((o.props().pts.unwrap(), o.row(0, 0)[0]));
    }
    assert_eq!(shown, [(0, 0), (1, 0), (2, 0), (3, 20), (4, 30)]);
    let e = Fps::new((0, 1), TimeBase::new(1, 25), layout, 1, &budget).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: frame rate 0/1 (expected both terms above 0)");
}
