//! Frame layouts against FFmpeg: every pixel format's packed frames round-trip through a
//! padded, aligned pooled frame with the sizes and MD5s of FFmpeg's framemd5 tables
//! (`tests/data`, made by `tests/data/make.sh`), and planes land where the format says.

use std::path::PathBuf;
use transcode_core::MemoryConfig;
use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat};
use transcode_testkit::{md5_hex, read_framemd5};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// The frames of one format, as pooled frames filled from FFmpeg's rawvideo.
fn load(format: PixelFormat, pool_capacity: u32) -> (FramePool, Vec<transcode_frame_pool::SharedFrame>) {
    let raw = std::fs::read(data(&format!("{}.raw", format.name()))).unwrap();
    let layout = FrameLayout::new(format, 33, 17).unwrap();
    let memory = MemoryConfig::default();
    let pool = FramePool::new(
        FramePoolConfig { capacity: pool_capacity, ..FramePoolConfig::new(layout, &memory) },
        &Budget::from_config(&memory),
    )
    .unwrap();
    let frames = raw
        .chunks(layout.packed_size())
        .map(|chunk| {
            let mut f = pool.try_acquire().ready().expect("pool has room for every fixture frame");
            f.copy_from_packed(chunk).unwrap();
            f.into_shared()
        })
        .collect();
    (pool, frames)
}

#[test]
fn every_format_round_trips_with_ffmpeg_sizes_and_md5s() {
    for format in PixelFormat::ALL {
        let oracle = read_framemd5(&data(&format!("{}.framemd5", format.name())));
        let raw_len = std::fs::metadata(data(&format!("{}.raw", format.name()))).unwrap().len() as usize;
        let layout = FrameLayout::new(format, 33, 17).unwrap();
        assert_eq!(oracle.entries.len(), 2, "{}", format.name());
        assert_eq!(raw_len, layout.packed_size() * oracle.entries.len(), "{}", format.name());
        let (_pool, frames) = load(format, 2);
        let mut packed = Vec::new();
        for (frame, entry) in frames.iter().zip(&oracle.entries) {
            assert_eq!(layout.packed_size(), entry.size, "{} frame size", format.name());
            for (i, p) in layout.planes().iter().enumerate() {
                assert_eq!(frame.plane(i).as_ptr() as usize % 64, 0, "{} plane {i} aligned", format.name());
                assert_eq!(p.stride % 64, 0);
                assert!(p.stride >= p.row_bytes);
            }
            packed.clear();
            frame.write_packed(&mut packed);
            assert_eq!(md5_hex(&packed), entry.md5, "{} frame md5", format.name());
        }
    }
}

#[test]
fn semi_planar_chroma_interleaves_the_planar_chroma() {
    // The semi-planar fixtures are FFmpeg's repacking of the planar ones: same samples,
    // interleaved chroma, and for P010 the ten bits moved to the top of each word.
    for (planar, semi, shift) in [(PixelFormat::Yuv420p, PixelFormat::Nv12, 0), (PixelFormat::Yuv420p10, PixelFormat::P010, 6)] {
        let (_a, p) = load(planar, 2);
        let (_b, s) = load(semi, 2);
        let bps = planar.bytes_per_sample();
        let sample = |row: &[u8], i: usize| -> u16 {
            if bps == 1 {
                row[i] as u16
            } else {
                u16::from_le_bytes([row[2 * i], row[2 * i + 1]])
            }
        };
        for (pf, sf) in p.iter().zip(&s) {
            assert_eq!(pf.plane_layout(1).rows, 9);
            for y in 0..9 {
                let (u, v, uv) = (pf.row(1, y), pf.row(2, y), sf.row(1, y));
                assert_eq!(uv.len(), 2 * u.len());
                // FFmpeg 5.1's swscale writes only width / 2 chroma pairs of P010 rows
                // and leaves the last pair of an odd width zero; NV12 gets all 17.
                let pairs = if semi == PixelFormat::P010 { 16 } else { 17 };
                for x in 0..pairs {
                    assert_eq!(sample(uv, 2 * x) >> shift, sample(u, x), "{} u at {x},{y}", semi.name());
                    assert_eq!(sample(uv, 2 * x + 1) >> shift, sample(v, x), "{} v at {x},{y}", semi.name());
                }
            }
            for y in 0..17 {
                let (a, b) = (pf.row(0, y), sf.row(0, y));
                for x in 0..33 {
                    assert_eq!(sample(b, x) >> shift, sample(a, x));
                }
            }
        }
    }
}

#[test]
fn decoded_fixture_frame_sizes_match_the_layout() {
    // Every video oracle in testdata decodes to yuv420p (yuv422p for the MPEG-2 4:2:2
    // fixture, whose oracle keeps its native format); its frame size is the packed size
    // of the layout at the fixture's dimensions.
    let dir = transcode_testkit::testdata_dir();
    let mut checked = 0;
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap() {
            let path = f.unwrap().path();
            if path.extension() != Some(std::ffi::OsStr::new("frames")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let dims = text.lines().find_map(|l| l.strip_prefix("#dimensions 0: ")).unwrap();
            let (w, h) = dims.split_once('x').unwrap();
            let (w, h) = (w.parse().unwrap(), h.parse().unwrap());
            let sizes = [PixelFormat::Yuv420p, PixelFormat::Yuv422p]
                .map(|f| FrameLayout::new(f, w, h).unwrap().packed_size());
            let oracle = read_framemd5(&path);
            assert!(!oracle.entries.is_empty());
            let first = oracle.entries[0].size;
            assert!(sizes.contains(&first), "{}: frame size {first}", path.display());
            for e in &oracle.entries {
                assert_eq!(e.size, first, "{}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} frame tables found");
}

#[test]
fn a_packed_frame_of_the_wrong_size_is_an_error() {
    let (pool, _frames) = load(PixelFormat::Yuv420p, 3);
    let mut f = pool.try_acquire().ready().unwrap();
    let e = f.copy_from_packed(&[0; 866]).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: packed yuv420p frame of 866 bytes (expected 867 for 33x17)");
}
