//! Integration tests of the H.264 decoder: every fixture against its FFmpeg framemd5
//! table, expected failures for unsupported features, and damaged input.

use transcode_core::{Error, MemoryConfig};
use transcode_h264::{DecodeStatus, Decoder};
use transcode_testkit::{md5_hex, read_framemd5, testdata};

/// Decodes `data` unit by unit, as a demuxer would feed it, returning the frame MD5s in
/// output order and the first error.
fn decode_md5s(data: &[u8], config: &MemoryConfig) -> (Vec<String>, Option<Error>) {
    let mut dec = Decoder::new(config);
    let mut md5s = Vec::new();
    let mut buf = Vec::new();
    let mut first_err = None;
    let mut unit = Vec::new();
    let mut drain = |dec: &mut Decoder, md5s: &mut Vec<String>| {
        while let Some(f) = dec.next_frame() {
            buf.clear();
            f.write_yuv420p(&mut buf);
            md5s.push(md5_hex(&buf));
        }
    };
    for nal in transcode_h264::nal_units(data) {
        unit.clear();
        unit.extend_from_slice(&[0, 0, 1]);
        unit.extend_from_slice(nal);
        if let Err(e) = dec.decode(&unit) {
            let stop = matches!(e, Error::Unsupported(_) | Error::LimitExceeded { .. });
            first_err.get_or_insert(e);
            if stop {
                break;
            }
        }
        drain(&mut dec, &mut md5s);
    }
    dec.flush();
    drain(&mut dec, &mut md5s);
    (md5s, first_err)
}

mod conformance {
    use super::*;

    /// Walks `testdata/h264/expected.txt`: each listed stream either decodes to exactly
    /// FFmpeg's frames, or fails with the recorded `unsupported:` message.
    #[test]
    fn every_fixture_matches_its_expected_outcome() {
        let table = std::fs::read_to_string(testdata("h264/expected.txt")).expect("expected.txt");
        let mut listed = Vec::new();
        let mut failures = Vec::new();
        for line in table.lines().filter(|l| !l.trim().is_empty()) {
            let (file, outcome) = line.split_once(' ').expect("`file outcome` lines");
            listed.push(file.to_string());
            let path = testdata(&format!("h264/{file}"));
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let (got, err) = decode_md5s(&data, &MemoryConfig::default());
            let got_outcome = match &err {
                None => "ok".to_string(),
                Some(Error::Unsupported(what)) => format!("unsupported: {what}"),
                Some(e) => format!("error: {e}"),
            };
            if got_outcome != outcome {
                failures.push(format!("{file}: expected `{outcome}`, got `{got_outcome}`"));
                continue;
            }
            if outcome == "ok" {
                let oracle = read_framemd5(&path.with_file_name(format!(
                    "{}.frames",
                    path.file_name().unwrap().to_string_lossy()
                )));
                let want: Vec<&str> = oracle.entries.iter().map(|e| e.md5.as_str()).collect();
                if want != got {
                    let first = (0..want.len().max(got.len()))
                        .find(|&i| want.get(i).copied() != got.get(i).map(|s| s.as_str()));
                    failures.push(format!(
                        "{file}: {} frames vs {} expected, first mismatch at frame {first:?}",
                        got.len(),
                        want.len()
                    ));
                }
            }
        }
        // Every fixture in the folder must be listed, so new files cannot be forgotten.
        for entry in std::fs::read_dir(testdata("h264")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            if name.ends_with(".h264") && !listed.contains(&name) {
                failures.push(format!("{name} is not listed in expected.txt"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// The interlaced streams (`testdata/h264-interlaced/`): JVT conformance and x264
/// field pictures (PAFF) and MBAFF frames decode to FFmpeg's frames.
mod interlaced {
    use super::*;

    fn check(file: &str) -> Result<(), String> {
        let path = testdata(&format!("h264-interlaced/{file}"));
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (got, err) = decode_md5s(&data, &MemoryConfig::default());
        if let Some(e) = err {
            return Err(format!("{file}: error {e}"));
        }
        let oracle = read_framemd5(&testdata(&format!("h264-interlaced/{file}.framemd5")));
        let want: Vec<&str> = oracle.entries.iter().map(|e| e.md5.as_str()).collect();
        if want != got {
            let first = (0..want.len().max(got.len()))
                .find(|&i| want.get(i).copied() != got.get(i).map(|s| s.as_str()));
            return Err(format!(
                "{file}: {} frames vs {} expected, first mismatch at frame {first:?}",
                got.len(),
                want.len()
            ));
        }
        Ok(())
    }

    /// PAFF, CAVLC, every picture a field pair; B fields with temporal direct.
    #[test]
    fn freh6_field_pictures_cavlc_match_ffmpeg() {
        check("freh6.264").unwrap();
    }

    /// PAFF, CABAC, frame and field pictures mixed; spatial direct across frame and
    /// field co-located pictures.
    #[test]
    fn hcaff1_frames_and_fields_cabac_match_ffmpeg() {
        check("HCAFF1_HHI.264").unwrap();
    }

    /// A lost second field leaves its first field unpaired: the frame is still output
    /// (the field's rows repeated), in order, and the frames decoded before it match
    /// FFmpeg's.
    #[test]
    fn lost_second_field_leaves_an_unpaired_field() {
        let data = std::fs::read(testdata("h264-interlaced/freh6.264")).unwrap();
        let oracle = read_framemd5(&testdata("h264-interlaced/freh6.264.framemd5"));
        let units: Vec<&[u8]> = transcode_h264::nal_units(&data).collect();
        // Units: SPS, PPS, then one slice per field. Drop the bottom field of the
        // fourth frame in decoding order (the second B pair, POC 2 in display order).
        let slices: Vec<usize> = (0..units.len())
            .filter(|&i| units[i][0] & 0x1f == 1 || units[i][0] & 0x1f == 5)
            .collect();
        let dropped = slices[7];
        let mut stream = Vec::new();
        for (i, u) in units.iter().enumerate() {
            if i != dropped {
                stream.extend_from_slice(&[0, 0, 1]);
                stream.extend_from_slice(u);
            }
        }
        let (got, _err) = decode_md5s(&stream, &MemoryConfig::default());
        assert_eq!(got.len(), 100);
        // Display order: POC 0 (I/P pair), 1 (B pair), 2 (the damaged pair).
        assert_eq!(got[0], oracle.entries[0].md5);
        assert_eq!(got[1], oracle.entries[1].md5);
        assert_ne!(got[2], oracle.entries[2].md5);
        // B fields are not references: the next reference pair is unharmed.
        assert_eq!(got[3], oracle.entries[3].md5);
    }

    /// Field streams with flipped bits, truncations and lost fields never panic and
    /// still give frames.
    #[test]
    fn damaged_field_streams_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let config = MemoryConfig::default();
        for (name, prefix) in [("HCAFF1_HHI.264", usize::MAX), ("freh6.264", 60_000)] {
            let full = std::fs::read(testdata(&format!("h264-interlaced/{name}"))).unwrap();
            let data = &full[..prefix.min(full.len())];
            for round in 0..8 {
                let mut d = data.to_vec();
                let flips = 1 + (rand() % 8) as usize;
                for _ in 0..flips {
                    let i = 40 + (rand() as usize) % (d.len() - 40);
                    d[i] ^= 1 << (rand() % 8);
                }
                if round % 3 == 1 {
                    // Lose a run of bytes: fields (or their pairs) go missing.
                    let at = 40 + (rand() as usize) % (d.len() - 40);
                    let n = ((rand() as usize) % 8_000).min(d.len() - at);
                    d.drain(at..at + n);
                }
                if round % 3 == 0 {
                    let cut = (rand() as usize) % d.len();
                    d.truncate(cut);
                }
                let (frames, _) = decode_md5s(&d, &config);
                std::hint::black_box(frames);
            }
        }
    }

    /// MBAFF, CABAC (JVT): frame and field pairs mixed in every picture; I, P and B
    /// with spatial direct across pairs of either structure.
    #[test]
    fn hcamff1_mbaff_cabac_matches_ffmpeg() {
        check("HCAMFF1_HHI.264").unwrap();
    }

    /// MBAFF, CAVLC, 8x8 transform (JVT FRExt).
    #[test]
    fn frext02_mbaff_cavlc_8x8_matches_ffmpeg() {
        check("FREXT02_JVC_C.264").unwrap();
    }

    /// Field pictures and MBAFF frames in one stream (JVT FRExt): fields reference
    /// MBAFF frames and MBAFF frames field pairs, for motion and direct prediction.
    #[test]
    fn frext4_paff_and_mbaff_mixed_match_ffmpeg() {
        check("FRExt4_Panasonic.264").unwrap();
    }

    /// x264 `--tff`, CABAC, 3 B-frames and `--weightp 2` at 720x576.
    #[test]
    fn x264_576i_tff_cabac_matches_ffmpeg() {
        check("x264_576i_tff_cabac.264").unwrap();
    }

    /// x264 `--bff`, CAVLC, 2 B-frames and `--weightp 2` at 720x576.
    #[test]
    fn x264_576i_bff_cavlc_matches_ffmpeg() {
        check("x264_576i_bff_cavlc.264").unwrap();
    }

    /// x264 `--tff --preset veryfast` at 1920x1080 (the broadcast case).
    #[test]
    fn x264_1080i_tff_veryfast_matches_ffmpeg() {
        check("x264_1080i_tff_veryfast.264").unwrap();
    }

    /// x264 `--direct temporal`, CABAC: co-located pairs of either structure with
    /// the vertical vector and reference scaling between frame and field macroblocks.
    #[test]
    fn x264_288i_temporal_direct_cabac_matches_ffmpeg() {
        check("x264_288i_tff_temporal.264").unwrap();
    }

    /// Temporal direct in CAVLC with a B-pyramid and four references.
    #[test]
    fn x264_288i_temporal_direct_cavlc_pyramid_matches_ffmpeg() {
        check("x264_288i_tff_temporal_cavlc.264").unwrap();
    }

    /// Four slices per MBAFF picture: pairs beside another slice's are unavailable.
    #[test]
    fn x264_288i_bff_four_slices_match_ffmpeg() {
        check("x264_288i_bff_slices.264").unwrap();
    }

    /// Constrained intra prediction in MBAFF frames is not decoded: refused with a
    /// clear error instead of frames predicted from the wrong samples.
    #[test]
    fn mbaff_constrained_intra_is_refused_as_unsupported() {
        let path = testdata("h264-interlaced/x264_288i_tff_constrained_intra.264");
        let data = std::fs::read(&path).unwrap();
        let (frames, err) = decode_md5s(&data, &MemoryConfig::default());
        assert!(frames.is_empty(), "{} frames", frames.len());
        match err {
            Some(Error::Unsupported(what)) => {
                assert_eq!(what, "h264 mbaff with constrained intra prediction")
            }
            other => panic!("expected unsupported, got {other:?}"),
        }
    }

    /// MBAFF streams with flipped bits, truncations and lost bytes never panic and
    /// still give frames.
    #[test]
    fn damaged_mbaff_streams_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let config = MemoryConfig::default();
        for name in [
            "HCAMFF1_HHI.264",
            "FREXT02_JVC_C.264",
            "FRExt4_Panasonic.264",
            "x264_576i_bff_cavlc.264",
        ] {
            let data = std::fs::read(testdata(&format!("h264-interlaced/{name}"))).unwrap();
            for round in 0..6 {
                let mut d = data.clone();
                let flips = 1 + (rand() % 8) as usize;
                for _ in 0..flips {
                    let i = 40 + (rand() as usize) % (d.len() - 40);
                    d[i] ^= 1 << (rand() % 8);
                }
                if round % 3 == 1 {
                    let at = 40 + (rand() as usize) % (d.len() - 40);
                    let n = ((rand() as usize) % 8_000).min(d.len() - at);
                    d.drain(at..at + n);
                }
                if round % 3 == 0 {
                    let cut = (rand() as usize) % d.len();
                    d.truncate(cut);
                }
                let (frames, _) = decode_md5s(&d, &config);
                assert!(!frames.is_empty() || d.len() < 2_000, "{name}: no frames");
            }
        }
    }
}

/// Monochrome (4:0:0, High profile) streams made with x264 (`testdata/h264-mono/`):
/// luma decoded, chroma neutral, as FFmpeg 5.1 outputs them (yuv420p, chroma 128).
mod monochrome {
    use super::*;

    fn check(file: &str) {
        let data = std::fs::read(testdata(&format!("h264-mono/{file}"))).unwrap();
        let (got, err) = decode_md5s(&data, &MemoryConfig::default());
        assert!(err.is_none(), "{file}: {err:?}");
        let oracle = read_framemd5(&testdata(&format!("h264-mono/{file}.framemd5")));
        let want: Vec<&str> = oracle.entries.iter().map(|e| e.md5.as_str()).collect();
        assert_eq!(got, want, "{file}");
    }

    /// CABAC: no chroma prediction mode, no chroma bins of coded_block_pattern.
    #[test]
    fn cabac_with_b_frames_matches_ffmpeg() {
        check("mono-cabac.264");
    }

    /// CAVLC: coded_block_pattern through the 4:0:0 column of Table 9-4.
    #[test]
    fn cavlc_with_b_frames_matches_ffmpeg() {
        check("mono-cavlc.264");
    }

    /// Explicit weighted prediction: the weight table carries luma weights only.
    #[test]
    fn weighted_p_matches_ffmpeg() {
        check("mono-weightp.264");
    }

    /// Damaged 4:0:0 streams never panic, and every frame that comes out, concealed
    /// or not, still has neutral chroma: nothing writes chroma from damaged syntax.
    #[test]
    fn damaged_streams_keep_neutral_chroma() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut frames = 0;
        for name in ["mono-cabac.264", "mono-cavlc.264", "mono-weightp.264"] {
            let data = std::fs::read(testdata(&format!("h264-mono/{name}"))).unwrap();
            for _ in 0..12 {
                let mut d = data.clone();
                for _ in 0..1 + rand() % 8 {
                    let i = 40 + (rand() as usize) % (d.len() - 40);
                    d[i] ^= 1 << (rand() % 8);
                }
                let mut dec = Decoder::new(&MemoryConfig::default());
                let mut check = |dec: &mut Decoder| {
                    while let Some(f) = dec.next_frame() {
                        let (cw, ch) = (f.width.div_ceil(2), f.height.div_ceil(2));
                        for p in 1..3 {
                            for y in 0..ch {
                                let row = &f.planes[p][y * f.strides[p]..][..cw];
                                assert!(row.iter().all(|&c| c == 128), "{name}: plane {p} row {y}");
                            }
                        }
                        frames += 1;
                    }
                };
                for nal in transcode_h264::nal_units(&d) {
                    let mut unit = vec![0, 0, 1];
                    unit.extend_from_slice(nal);
                    let _ = dec.decode(&unit);
                    check(&mut dec);
                }
                dec.flush();
                check(&mut dec);
            }
        }
        assert!(frames > 0, "no frame came out of any damaged stream");
    }
}

mod robustness {
    use super::*;

    /// A stream whose IDR picture is missing: later P pictures have no reference. The
    /// decoder reports the damage and still outputs concealed frames.
    #[test]
    fn missing_reference_is_concealed_and_reported() {
        let data = std::fs::read(testdata("h264/c_baseline_p.h264")).unwrap();
        let mut stripped = Vec::new();
        for nal in transcode_h264::nal_units(&data) {
            if nal[0] & 0x1f == 5 {
                continue;
            }
            stripped.extend_from_slice(&[0, 0, 0, 1]);
            stripped.extend_from_slice(nal);
        }
        let (frames, err) = decode_md5s(&stripped, &MemoryConfig::default());
        assert!(matches!(err, Some(Error::InvalidData { .. })), "{err:?}");
        assert_eq!(frames.len(), 9);
    }

    /// A lost slice (the second of four in the first picture) is concealed: every frame
    /// still comes out, the damaged one is flagged, and the count is reported.
    #[test]
    fn lost_slice_is_concealed_and_flagged() {
        let data = std::fs::read(testdata("h264/j_slices.h264")).unwrap();
        let mut dec = Decoder::new(&MemoryConfig::default());
        let (mut slices, mut flags) = (0, Vec::new());
        let mut unit = Vec::new();
        for nal in transcode_h264::nal_units(&data) {
            let t = nal[0] & 0x1f;
            if t == 1 || t == 5 {
                slices += 1;
                if slices == 2 {
                    continue;
                }
            }
            unit.clear();
            unit.extend_from_slice(&[0, 0, 1]);
            unit.extend_from_slice(nal);
            let _ = dec.decode(&unit);
            while let Some(f) = dec.next_frame() {
                flags.push(f.concealed);
            }
        }
        dec.flush();
        while let Some(f) = dec.next_frame() {
            flags.push(f.concealed);
        }
        assert_eq!(flags.len(), 10);
        assert!(flags[0], "{flags:?}");
        assert!(dec.concealed_macroblocks() > 0);
    }

    /// Deterministic byte corruption and truncation of every fixture: decoding must
    /// never panic, whatever it returns.
    #[test]
    fn corrupted_streams_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let config = MemoryConfig::default();
        for name in [
            "a_intra_cavlc_nodeblock.h264",
            "c_baseline_p.h264",
            "e_main_bframes.h264",
            "j_slices.h264",
            "q_high_cavlc_8x8.h264",
        ] {
            let data = std::fs::read(testdata(&format!("h264/{name}"))).unwrap();
            for round in 0..12 {
                let mut d = data.clone();
                let flips = 1 + (rand() % 8) as usize;
                for _ in 0..flips {
                    let i = 40 + (rand() as usize) % (d.len() - 40);
                    d[i] ^= 1 << (rand() % 8);
                }
                if round % 3 == 0 {
                    let cut = (rand() as usize) % d.len();
                    d.truncate(cut);
                }
                let _ = decode_md5s(&d, &config);
            }
        }
    }

    /// A decoded picture buffer larger than the configured bound is refused up front.
    #[test]
    fn dpb_limit_is_enforced_before_allocating() {
        let data = std::fs::read(testdata("h264/i_multiref.h264")).unwrap();
        let config = MemoryConfig {
            max_dpb_frames: 2,
            ..MemoryConfig::default()
        };
        let (frames, err) = decode_md5s(&data, &config);
        assert!(matches!(err, Some(Error::LimitExceeded { .. })), "{err:?}");
        assert!(frames.is_empty());
    }
}

mod api {
    use super::*;

    /// Cropped geometry and plane layout of the 100x60 stream (coded as 112x64).
    #[test]
    fn cropped_frame_geometry() {
        let data = std::fs::read(testdata("h264/m_crop_100x60.h264")).unwrap();
        let mut dec = Decoder::new(&MemoryConfig::default());
        let mut seen = 0;
        dec.decode_with(&data, |f| {
            assert_eq!((f.width, f.height), (100, 60));
            // Coded 112x64 in pooled frames whose rows start on 64-byte boundaries.
            assert_eq!(f.strides, [128, 64, 64]);
            assert!(f
                .planes
                .iter()
                .all(|p| (p.as_ptr() as usize).is_multiple_of(64)));
            let mut out = Vec::new();
            f.write_yuv420p(&mut out);
            assert_eq!(out.len(), 100 * 60 + 2 * 50 * 30);
            seen += 1;
        })
        .unwrap();
        dec.flush();
        while dec.next_frame().is_some() {
            seen += 1;
        }
        assert_eq!(seen, 10);
    }

    /// Feeding a whole stream to `decode` without taking frames fills the pool: the
    /// compatibility call says so with an error instead of growing.
    #[test]
    fn undrained_pool_is_reported_not_grown() {
        let data = std::fs::read(testdata("h264/a_intra_cavlc_nodeblock.h264")).unwrap();
        let mut dec = Decoder::new(&MemoryConfig::default());
        let before = dec.decode(&data);
        assert!(
            matches!(before, Err(Error::LimitExceeded { .. })),
            "{before:?}"
        );
    }

    /// Backpressure is a status: `send` stops when the pool is full, says how much it
    /// consumed, and resumes exactly where it stopped once frames are taken. The frames
    /// are FFmpeg's.
    #[test]
    fn full_pool_is_a_status_and_decoding_resumes() {
        let path = testdata("h264/h_bpyramid.h264");
        let data = std::fs::read(&path).unwrap();
        let oracle = read_framemd5(&testdata("h264/h_bpyramid.h264.frames"));
        let mut dec = Decoder::new(&MemoryConfig::default());
        let (mut md5s, mut buf, mut stops) = (Vec::new(), Vec::new(), 0);
        let mut rest = &data[..];
        loop {
            match dec.send(rest).unwrap() {
                DecodeStatus::Done => break,
                DecodeStatus::NeedsOutput { consumed } => {
                    stops += 1;
                    // Nothing fits until frames are taken.
                    assert_eq!(
                        dec.send(&rest[consumed..]).unwrap(),
                        DecodeStatus::NeedsOutput { consumed: 0 }
                    );
                    while let Some(f) = dec.next_frame() {
                        buf.clear();
                        f.write_yuv420p(&mut buf);
                        md5s.push(md5_hex(&buf));
                    }
                    rest = &rest[consumed..];
                }
            }
        }
        dec.flush();
        while let Some(f) = dec.next_frame() {
            buf.clear();
            f.write_yuv420p(&mut buf);
            md5s.push(md5_hex(&buf));
        }
        assert!(stops >= 1, "a 10-picture stream must fill the pool");
        let want: Vec<&str> = oracle.entries.iter().map(|e| e.md5.as_str()).collect();
        assert_eq!(md5s, want);
    }

    /// Pictures the caller keeps hold pool frames (shared, not copied): with all of
    /// them held the decoder answers `NeedsOutput`, and dropping them lets it go on.
    #[test]
    fn held_pictures_apply_backpressure() {
        let data = std::fs::read(testdata("h264/c_baseline_p.h264")).unwrap();
        let mut dec = Decoder::new(&MemoryConfig::default());
        let mut held = Vec::new();
        let mut total = 0;
        let mut stalls = 0;
        for nal in transcode_h264::nal_units(&data) {
            let mut unit = vec![0, 0, 1];
            unit.extend_from_slice(nal);
            loop {
                match dec.send(&unit).unwrap() {
                    DecodeStatus::Done => break,
                    DecodeStatus::NeedsOutput { consumed } => {
                        assert_eq!(consumed, 0);
                        stalls += 1;
                        let cap = dec.frame_pool().unwrap().capacity();
                        assert!(
                            held.len() >= cap - dec.dpb_config().unwrap().capacity as usize - 1
                        );
                        // The same frame is shared by the decoder's reference and the
                        // caller: no copy.
                        held.clear();
                    }
                }
            }
            while let Some(p) = dec.next_picture() {
                total += 1;
                held.push(p);
            }
        }
        dec.flush();
        while dec.next_picture().is_some() {
            total += 1;
        }
        assert_eq!(total, 10);
        assert!(stalls >= 1);
    }

    /// The decoder's memory is bounded before the first frame is decoded: the pool
    /// holds at most DPB size + 1 + OUTPUT_FRAMES frames and allocates them on demand,
    /// and once the stream has warmed up nothing grows.
    #[test]
    fn memory_does_not_grow_after_warm_up() {
        let data = std::fs::read(testdata("es/h264.h264")).unwrap();
        let mut dec = Decoder::new(&MemoryConfig::default());
        let mut sizes = Vec::new();
        for nal in transcode_h264::nal_units(&data) {
            let mut unit = vec![0, 0, 1];
            unit.extend_from_slice(nal);
            dec.decode(&unit).unwrap();
            while dec.next_frame().is_some() {}
            sizes.push(dec.memory_bytes());
        }
        let pool = dec.frame_pool().unwrap();
        let dpb = dec.dpb_config().unwrap();
        assert_eq!(
            pool.capacity(),
            dpb.capacity as usize + 1 + transcode_h264::OUTPUT_FRAMES as usize
        );
        let stats = pool.stats();
        assert!(stats.allocated <= stats.capacity);
        let warm = sizes[20];
        assert!(sizes[20..].iter().all(|&s| s == warm), "{sizes:?}");
    }
}

mod limits {
    use super::*;

    /// A picture buffer bound below the stream's declared size but above its reference
    /// count still decodes every frame exactly.
    #[test]
    fn tighter_dpb_bound_still_decodes_exactly() {
        let path = testdata("es/h264.h264");
        let data = std::fs::read(&path).unwrap();
        let config = MemoryConfig {
            max_dpb_frames: 4,
            ..MemoryConfig::default()
        };
        let (got, err) = decode_md5s(&data, &config);
        assert!(err.is_none(), "{err:?}");
        let oracle = read_framemd5(&testdata("es/h264.h264.frames"));
        let want: Vec<&str> = oracle.entries.iter().map(|e| e.md5.as_str()).collect();
        assert_eq!(got, want);
    }
}

/// The inputs the `h264` fuzz target found crashes with (fuzz/regressions/h264), each
/// decoded unit by unit: no panic, and frames of the sizes the stream's sequences give,
/// in order.
mod fuzz_regressions {
    use super::*;
    use std::path::PathBuf;

    fn regression(name: &str) -> Vec<u8> {
        let dir = transcode_testkit::testdata_dir().join("../fuzz/regressions/h264");
        let path: PathBuf = dir.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Frame sizes in output order, with repeats collapsed, and the first error.
    fn size_runs(data: &[u8]) -> (Vec<(usize, usize)>, usize, Option<Error>) {
        size_runs_with(data, &MemoryConfig::default())
    }

    fn size_runs_with(
        data: &[u8],
        config: &MemoryConfig,
    ) -> (Vec<(usize, usize)>, usize, Option<Error>) {
        let mut dec = Decoder::new(config);
        let (mut runs, mut frames, mut first_err) = (Vec::new(), 0, None);
        let mut unit = Vec::new();
        let drain = |dec: &mut Decoder, runs: &mut Vec<(usize, usize)>, frames: &mut usize| {
            while let Some(f) = dec.next_frame() {
                *frames += 1;
                if runs.last() != Some(&(f.width, f.height)) {
                    runs.push((f.width, f.height));
                }
            }
        };
        for nal in transcode_h264::nal_units(data) {
            unit.clear();
            unit.extend_from_slice(&[0, 0, 1]);
            unit.extend_from_slice(nal);
            if let Err(e) = dec.decode(&unit) {
                first_err.get_or_insert(e);
            }
            drain(&mut dec, &mut runs, &mut frames);
        }
        dec.flush();
        drain(&mut dec, &mut runs, &mut frames);
        (runs, frames, first_err)
    }

    #[test]
    fn pictures_pending_at_a_new_sps_keep_their_own_cropping() {
        // 176x144 B-frame stream, then the 100x60 cropped one: the B-pictures still
        // waiting for output when the second SPS arrives must come out at 176x144.
        let (runs, frames, err) = size_runs(&regression(
            "resolution-change-pending-pictures-take-new-crop.h264",
        ));
        assert_eq!(runs, [(176, 144), (100, 60)], "{err:?}");
        assert!(frames > 2);
        let (runs, _, err) = size_runs(&regression(
            "resolution-change-pending-pictures-lose-crop.h264",
        ));
        assert_eq!(runs, [(100, 60), (176, 144)], "{err:?}");
        // The second sequence crops 80 rows off a 176x144 picture (crop larger than the
        // first sequence's whole picture): this panicked on a subtraction.
        let (runs, _, err) = size_runs(&regression(
            "resolution-change-crop-larger-than-old-picture.h264",
        ));
        assert_eq!(runs, [(100, 60), (176, 64)], "{err:?}");
    }

    #[test]
    fn sps_with_the_same_id_over_budget_does_not_crop_the_old_sequence() {
        // A 176x144 stream whose second SPS (same id 0) asks for 1920x1080 cropped to
        // 1080 rows, under the fuzz target's 8 MiB budget. The activation failed on the
        // budget after storing the new cropping, and left the old sequence active: the
        // slices after it were decoded into 176x144 pictures that came out 176x136.
        // Now a failed activation leaves no sequence active, so those slices are refused.
        let data = regression("sps-same-id-over-budget-crops-old-pictures.h264");
        let small = MemoryConfig::with_max_memory(8 << 20);
        let (runs, frames, err) = size_runs_with(&data, &small);
        assert_eq!(runs, [(176, 144)], "{err:?}");
        assert_eq!(frames, 2);
        // Every slice of the second sequence (units 5.., after SPS, PPS, SEI and two
        // slices of the first) is refused on the budget.
        let mut dec = Decoder::new(&small);
        let mut refused = 0;
        for (i, nal) in transcode_h264::nal_units(&data).enumerate() {
            let unit = [&[0, 0, 1][..], nal].concat();
            let res = dec.decode(&unit);
            let slice = matches!(nal[0] & 0x1f, 1 | 5);
            if i >= 5 && slice {
                assert!(
                    matches!(res, Err(Error::LimitExceeded { what: "h264 picture buffers (bytes)", .. })),
                    "unit {i}: {res:?}"
                );
                refused += 1;
            }
            while dec.next_frame().is_some() {}
        }
        assert_eq!(refused, 10);
        // With room for it, the second sequence decodes at its own size.
        let (runs, frames, _) = size_runs(&data);
        assert_eq!(runs, [(176, 144), (1920, 1080)]);
        assert!(frames > 2);
    }

    #[test]
    fn damaged_cavlc_levels_and_motion_are_errors_not_overflows() {
        for name in [
            "cavlc-level-dequant-mul-overflow.h264",
            "cavlc-mvd-add-overflow.h264",
        ] {
            let (runs, frames, err) = size_runs(&regression(name));
            // Damaged slices are concealed: pictures still come out, at the stream's size,
            // and the damage is reported.
            assert!(frames > 0, "{name}");
            assert!(
                runs.iter().all(|&s| s == (176, 144) || s == (100, 60)),
                "{name}: {runs:?}"
            );
            assert!(
                matches!(err, Some(Error::InvalidData { .. })),
                "{name}: {err:?}"
            );
        }
    }
}

mod encode;
