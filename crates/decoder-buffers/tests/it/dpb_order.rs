//! The DPB against FFmpeg: pictures of real H.264 streams, stored in decode order with
//! the POCs and reference flags of their slice headers, come out in FFmpeg's display
//! order, as many as FFmpeg decoded, within the DPB size of the stream's level.

use crate::h264_headers::{pictures, Pic, Sps};
use transcode_core::MemoryConfig;
use transcode_decoder_buffers::{dpb_frames_for_level, Dpb, DpbConfig, Output, PictureInfo, Reference};
use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat};
use transcode_testkit::{read_framemd5, testdata};

/// Runs the pictures through a DPB and returns the decode indices in output order and
/// the most frames the pool had in use.
fn run(sps: &Sps, pics: &[Pic], config: DpbConfig) -> (Vec<usize>, u64) {
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, sps.width_mbs * 16, sps.height_mbs * 16).unwrap();
    let pool_config = FramePoolConfig { capacity: config.capacity + 1, ..FramePoolConfig::new(layout, &memory) };
    let pool = FramePool::new(pool_config, &budget).unwrap();
    let mut dpb = Dpb::new(config).unwrap();
    let mut shown = Vec::new();
    for (i, pic) in pics.iter().enumerate() {
        if pic.idr {
            dpb.unmark_all();
            dpb.flush().unwrap();
        } else if pic.reference {
            dpb.sliding_window();
        }
        while let Some(f) = dpb.pop_output() {
            shown.push(f.props().pts.unwrap() as usize);
        }
        let mut frame = pool.try_acquire().ready().expect("the pool covers the dpb and the current picture");
        frame.props_mut().pts = Some(i as i64);
        let reference = if pic.reference { Reference::ShortTerm } else { Reference::Unused };
        let info = PictureInfo { poc: pic.poc, frame_num: pic.frame_num, reference, output: Output::Needed };
        dpb.store(frame.into_shared(), info).unwrap();
        while let Some(f) = dpb.pop_output() {
            shown.push(f.props().pts.unwrap() as usize);
        }
    }
    dpb.unmark_all();
    dpb.flush().unwrap();
    while let Some(f) = dpb.pop_output() {
        shown.push(f.props().pts.unwrap() as usize);
    }
    assert!(dpb.is_empty());
    drop(dpb);
    let stats = pool.stats();
    assert_eq!(stats.available, stats.allocated, "every frame came back to the pool");
    (shown, stats.peak_in_use)
}

fn level_config(sps: &Sps) -> DpbConfig {
    let memory = MemoryConfig::default();
    DpbConfig::for_stream(&memory, sps.level_idc, sps.width_mbs * 16, sps.height_mbs * 16, sps.max_num_ref_frames, None)
        .unwrap()
}

#[test]
fn h264_fixtures_come_out_in_poc_order_within_their_level_dpb() {
    let dir = testdata("h264");
    let mut checked = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let path = f.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("h264") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (sps, pics) = pictures(&std::fs::read(&path).unwrap());
        let oracle = read_framemd5(&path.with_file_name(format!("{name}.frames")));
        let config = level_config(&sps);
        assert!(config.capacity <= 16 && config.capacity >= sps.max_num_ref_frames, "{name}");
        let (shown, peak) = run(&sps, &pics, config);
        assert_eq!(shown.len(), oracle.entries.len(), "{name}: as many frames as FFmpeg decoded");
        // Within each IDR period, output is in increasing POC order.
        for w in shown.windows(2) {
            let (a, b) = (&pics[w[0]], &pics[w[1]]);
            let same_period = !pics[w[0].min(w[1]) + 1..=w[0].max(w[1])].iter().any(|p| p.idr);
            if same_period {
                assert!(a.poc < b.poc, "{name}: poc {} before {}", a.poc, b.poc);
            }
        }
        assert!(peak <= u64::from(config.capacity) + 1, "{name}: {peak} frames in use");
        checked += 1;
    }
    assert!(checked >= 16, "only {checked} h264 fixtures checked");
}

#[test]
fn x264_stream_with_b_frames_matches_ffmpeg_display_order() {
    // es/h264.h264 and the video of mp4/h264_aac.mp4 are the same encode; the MP4's
    // packet table gives each decode-order picture its presentation time, and the
    // decoded-frame table FFmpeg's display order.
    let (sps, pics) = pictures(&std::fs::read(testdata("es/h264.h264")).unwrap());
    let packets = read_framemd5(&testdata("mp4/h264_aac.mp4.packets"));
    let pts: Vec<i64> = packets.stream(0).iter().map(|p| p.pts.unwrap() / 512).collect();
    assert_eq!(pics.len(), pts.len());
    let expected: Vec<i64> = read_framemd5(&testdata("mp4/h264_aac.mp4.frames")).entries.iter().map(|e| e.pts.unwrap()).collect();
    assert_eq!(sps.level_idc, 12);
    assert_eq!(dpb_frames_for_level(sps.level_idc, 320, 180), 9);

    let full = level_config(&sps);
    let (shown, _) = run(&sps, &pics, full);
    assert_eq!(shown.iter().map(|&i| pts[i]).collect::<Vec<_>>(), expected);

    // With FFmpeg's reorder depth (ffprobe's has_b_frames = 2) the order is the same
    // and fewer frames are held.
    let (shown, peak) = run(&sps, &pics, DpbConfig { max_num_reorder: 2, ..full });
    assert_eq!(shown.iter().map(|&i| pts[i]).collect::<Vec<_>>(), expected);
    assert!(peak <= u64::from(sps.max_num_ref_frames) + 3, "{peak}");
}

#[test]
fn a_stream_needing_more_references_than_the_memory_bound_is_rejected() {
    let memory = MemoryConfig { max_dpb_frames: 2, ..MemoryConfig::default() };
    let e = DpbConfig::for_stream(&memory, 40, 1920, 1080, 4, None).unwrap_err();
    assert_eq!(e.to_string(), "dpb reference frames needs 4 but the limit is 2");
    let ok = DpbConfig::for_stream(&memory, 40, 1920, 1080, 2, None).unwrap();
    assert_eq!((ok.capacity, ok.max_num_reorder), (2, 2));
    let vui = DpbConfig::for_stream(&MemoryConfig::default(), 40, 1920, 1080, 1, Some((3, 1))).unwrap();
    assert_eq!((vui.capacity, vui.max_num_reorder), (3, 1));
}
