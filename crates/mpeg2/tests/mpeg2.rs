//! Integration tests of the MPEG-1/MPEG-2 video decoder: every fixture against its
//! FFmpeg framemd5 table, fed whole and in odd chunks, plus damaged input.

use std::path::{Path, PathBuf};
use transcode_core::{Error, MemoryConfig};
use transcode_mpeg2::{DecodeStatus, Decoder, Kernels};
use transcode_testkit::{md5_hex, read_framemd5, testdata};

/// Decodes `data` sent in pieces of `chunk` bytes, returning frame MD5s in output
/// order and the errors met.
fn decode_md5s(data: &[u8], chunk: usize) -> (Vec<String>, Vec<Error>) {
    decode_md5s_with(data, chunk, Kernels::Native)
}

/// [`decode_md5s`] with the given pixel kernels.
fn decode_md5s_with(data: &[u8], chunk: usize, kernels: Kernels) -> (Vec<String>, Vec<Error>) {
    let (md5s, _, errors) = decode_with_infos(data, chunk, kernels);
    (md5s, errors)
}

/// [`decode_md5s_with`], also returning every frame's properties.
fn decode_with_infos(
    data: &[u8],
    chunk: usize,
    kernels: Kernels,
) -> (Vec<String>, Vec<transcode_mpeg2::PictureInfo>, Vec<Error>) {
    let mut dec = Decoder::new(&MemoryConfig::default());
    dec.set_kernels(kernels);
    let mut md5s = Vec::new();
    let mut infos = Vec::new();
    let mut errors = Vec::new();
    let mut buf = Vec::new();
    let mut drain = |dec: &mut Decoder, md5s: &mut Vec<String>, infos: &mut Vec<_>| {
        while let Some(f) = dec.next_frame() {
            buf.clear();
            f.write_planar(&mut buf);
            md5s.push(md5_hex(&buf));
            infos.push(f.info);
        }
    };
    for piece in data.chunks(chunk.max(1)) {
        let mut rest = piece;
        loop {
            match dec.send(rest) {
                Ok(DecodeStatus::Done) => break,
                Ok(DecodeStatus::NeedsOutput { consumed }) => {
                    rest = &rest[consumed..];
                    drain(&mut dec, &mut md5s, &mut infos);
                }
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        drain(&mut dec, &mut md5s, &mut infos);
    }
    dec.flush();
    drain(&mut dec, &mut md5s, &mut infos);
    (md5s, infos, errors)
}

/// Every stream with a `.frames` oracle in `testdata/mpeg2/` and `testdata/mpeg2-synth/`
/// (the synthetic field-picture and dual-prime streams). Both folders must exist: a
/// missing one fails the tests instead of leaving field pictures untested.
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, at_least) in [("mpeg2", 25), ("mpeg2-synth", 8)] {
        let path = testdata(dir);
        let rd = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let before = out.len();
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".frames") {
                out.push(p.with_file_name(name.trim_end_matches(".frames")));
            }
        }
        assert!(
            out.len() - before >= at_least,
            "{}: {} streams with oracles, expected at least {at_least}",
            path.display(),
            out.len() - before
        );
    }
    out.sort();
    out
}

fn oracle(path: &Path) -> Vec<String> {
    let o = read_framemd5(&path.with_file_name(format!(
        "{}.frames",
        path.file_name().unwrap().to_string_lossy()
    )));
    o.entries.iter().map(|e| e.md5.clone()).collect()
}

mod conformance {
    use super::*;
    use transcode_mpeg2::PictureCoding;

    /// Decodes every fixture in pieces of `chunk` bytes with `kernels`, checks every
    /// frame against FFmpeg's MD5s, and runs `also` on each stream and its frames'
    /// properties (from the same decode, so that no fixture is decoded twice for it).
    fn check_with(
        chunk: usize,
        kernels: Kernels,
        also: impl Fn(&str, &[u8], &[transcode_mpeg2::PictureInfo]),
    ) {
        let mut failures = Vec::new();
        let all = fixtures();
        for path in &all {
            let data = std::fs::read(path).unwrap();
            let want = oracle(path);
            let (got, infos, errors) = decode_with_infos(&data, chunk, kernels);
            let name = path.file_name().unwrap().to_string_lossy();
            if !errors.is_empty() {
                failures.push(format!("{name}: errors {errors:?}"));
            }
            if want != got {
                let first = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i));
                failures.push(format!(
                    "{name}: {} frames vs {} expected, first mismatch at frame {first:?}",
                    got.len(),
                    want.len()
                ));
            }
            also(&name, &data, &infos);
        }
        assert!(
            failures.is_empty(),
            "chunk {chunk}, {kernels:?} kernels:\n{}",
            failures.join("\n")
        );
    }

    // Each fixture is decoded three times, once per kernel set, and each of those
    // passes feeds it differently (whole, in TS-payload-sized pieces, in seven-byte
    // pieces): how the input is cut reaches only the start-code scanner and the
    // kernels only see pixels, so every kernel set and every way of feeding is
    // checked on every frame of every fixture without a pass for each pair (the
    // debug-build suite took over 100 s with six passes).

    /// The default kernels (AVX2 where the CPU has it), each stream whole; the same
    /// decode checks that field pictures come out as field pairs and frame pictures
    /// as frames.
    #[test]
    fn every_fixture_matches_ffmpeg_whole_with_field_pairs_as_frames() {
        check_with(usize::MAX, Kernels::Native, field_pairs_and_frames);
    }

    /// The portable kernels must match FFmpeg too, with the stream in pieces of a TS
    /// packet's payload.
    #[test]
    fn every_fixture_matches_ffmpeg_with_the_portable_kernels_in_ts_payload_sized_chunks() {
        check_with(184, Kernels::Portable, |_, _, _| {});
    }

    /// SSE2 alone (no AVX2), with the stream in seven-byte pieces, which split start
    /// codes and headers everywhere.
    #[test]
    fn every_fixture_matches_ffmpeg_with_the_sse2_kernels_in_seven_byte_chunks() {
        check_with(7, Kernels::Sse2, |_, _, _| {});
    }

    /// picture_structure of every picture coding extension in a stream.
    fn structures(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, w) in data.windows(4).enumerate() {
            if w == [0, 0, 1, 0xb5]
                && data.get(i + 4).is_some_and(|b| b >> 4 == 8)
                && i + 7 < data.len()
            {
                // 4 bits id, 16 bits f_code, 2 bits intra_dc_precision, then the structure.
                out.push(data[i + 6] & 3);
            }
        }
        out
    }

    /// Field pictures come out as field pairs and frame pictures as frames: the
    /// frames' codings against the picture structures written in the stream.
    fn field_pairs_and_frames(name: &str, data: &[u8], infos: &[transcode_mpeg2::PictureInfo]) {
        let fields = structures(data).iter().filter(|&&s| s != 3).count();
        let mut frames = structures(data).iter().filter(|&&s| s == 3).count();
        if structures(data).is_empty() {
            // MPEG-1: every picture is a frame.
            frames = data.windows(4).filter(|w| *w == [0, 0, 1, 0]).count();
        }
        let pairs = infos
            .iter()
            .filter(|f| matches!(f.coding, PictureCoding::FieldPair { .. }))
            .count();
        let whole = infos
            .iter()
            .filter(|f| f.coding == PictureCoding::Frame)
            .count();
        // Dropped pictures (cut streams) only make the output smaller.
        assert!(
            2 * pairs <= fields && whole <= frames,
            "{name}: {pairs} pairs of {fields} fields, {whole} of {frames} frames"
        );
        assert_eq!(pairs + whole, infos.len(), "{name}: lone fields");
        if !name.starts_with("r_") && !name.starts_with("s_") {
            assert_eq!((2 * pairs, whole), (fields, frames), "{name}");
        }
        for f in infos
            .iter()
            .filter(|f| matches!(f.coding, PictureCoding::FieldPair { .. }))
        {
            let PictureCoding::FieldPair { top_first } = f.coding else {
                unreachable!()
            };
            assert_eq!(f.top_field_first, top_first, "{name}");
            assert_eq!(f.duration_fields, 2);
        }
    }
}

/// Decodes `data` whole, returning every frame's properties.
fn infos(data: &[u8]) -> (Decoder, Vec<transcode_mpeg2::PictureInfo>) {
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut out = Vec::new();
    dec.decode_with(data, |f| out.push(f.info)).unwrap();
    dec.flush();
    while let Some(f) = dec.next_frame() {
        out.push(f.info);
    }
    (dec, out)
}

mod properties {
    use super::*;
    use transcode_mpeg2::{ChromaFormat, PictureCoding, PictureType, PixelFormat};

    #[test]
    fn sequence_info_is_readable_before_the_first_frame() {
        let data = std::fs::read(testdata("mpeg2/l_yuv422.m2v")).unwrap();
        let mut dec = Decoder::new(&MemoryConfig::default());
        // The sequence header, its extension and the GOP header: no picture yet.
        let first_picture = data.windows(4).position(|w| w == [0, 0, 1, 0]).unwrap();
        assert_eq!(
            dec.send(&data[..first_picture]).unwrap(),
            DecodeStatus::Done
        );
        assert!(dec.next_frame().is_none());
        let info = dec.sequence_info().expect("sequence header seen").clone();
        assert!(info.mpeg2);
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.chroma, ChromaFormat::Yuv422);
        assert_eq!((info.frame_rate.num, info.frame_rate.den), (25, 1));
        assert!(!info.progressive_sequence);
        // 4:2:2 Profile escape (profile_and_level_indication 0x85 = 4:2:2@Main).
        assert_eq!(info.profile_and_level & 0x80, 0x80);
        let (_, frames) = infos(&data);
        assert_eq!(frames.len(), 10);
        let mut dec = Decoder::new(&MemoryConfig::default());
        let mut fmt = None;
        dec.decode_with(&data, |f| fmt = Some(f.format)).unwrap();
        assert_eq!(fmt, Some(PixelFormat::Yuv422p));
    }

    #[test]
    fn field_order_and_picture_types_follow_the_stream() {
        for (file, tff) in [
            ("d_interlaced_tff.m2v", true),
            ("e_interlaced_bff.m2v", false),
        ] {
            let data = std::fs::read(testdata(&format!("mpeg2/{file}"))).unwrap();
            let (dec, frames) = infos(&data);
            assert_eq!(frames.len(), 16, "{file}");
            assert_eq!(
                dec.sequence_info().unwrap().first_top_field_first,
                Some(tff)
            );
            for f in &frames {
                assert_eq!(f.top_field_first, tff, "{file}");
                assert!(!f.progressive_frame);
                assert_eq!(f.coding, PictureCoding::Frame);
                assert_eq!(f.duration_fields, 2);
                assert_eq!(f.concealed_macroblocks, 0);
            }
            // -g 8 -bf 2 in display order: I B B P B B P B ...
            assert_eq!(frames[0].picture_type, PictureType::I);
            assert_eq!(frames[1].picture_type, PictureType::B);
            assert_eq!(frames[3].picture_type, PictureType::P);
        }
    }

    #[test]
    fn pulldown_shows_in_repeat_first_field_and_durations() {
        let data = std::fs::read(testdata("mpeg2/t_mpeg2enc_pulldown.m2v")).unwrap();
        let (dec, frames) = infos(&data);
        let info = dec.sequence_info().unwrap();
        assert_eq!((info.frame_rate.num, info.frame_rate.den), (30000, 1001));
        assert!(!info.progressive_sequence);
        let rff = frames.iter().filter(|f| f.repeat_first_field).count();
        assert_eq!(rff, 4);
        let fields: u32 = frames.iter().map(|f| f.duration_fields as u32).sum();
        // 8 film frames in 3:2 cadence: 4 x 3 + 4 x 2 fields.
        assert_eq!(fields, 20);
        for f in &frames {
            assert_eq!(f.duration_fields, 2 + f.repeat_first_field as u8);
        }
    }

    #[test]
    fn mpeg1_streams_say_so() {
        let data = std::fs::read(testdata("mpeg2/m_mpeg1.m1v")).unwrap();
        let (dec, frames) = infos(&data);
        let info = dec.sequence_info().unwrap();
        assert!(!info.mpeg2);
        assert!(info.progressive_sequence);
        assert_eq!((info.sar.num, info.sar.den), (1, 1));
        assert_eq!(frames.len(), 20);
        assert!(frames.iter().all(|f| f.progressive_frame));
    }

    #[test]
    fn mid_gop_starts_drop_what_ffmpeg_drops() {
        for file in ["r_cut_at_p.m2v", "s_cut_at_b.m2v"] {
            let data = std::fs::read(testdata(&format!("mpeg2/{file}"))).unwrap();
            let (dec, frames) = infos(&data);
            assert_eq!(
                frames.len(),
                oracle(&testdata(&format!("mpeg2/{file}"))).len()
            );
            assert!(dec.dropped_pictures() > 0, "{file}");
            assert_eq!(frames[0].picture_type, PictureType::I, "{file}");
        }
    }

    /// Inserts user data after every picture header's coding extension.
    fn with_user_data(data: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            // A picture coding extension: 00 00 01 B5 8x.
            if data[i..].starts_with(&[0, 0, 1, 0xb5])
                && data.get(i + 4).is_some_and(|b| b >> 4 == 8)
            {
                // Copy up to the next start code, then add the user data unit.
                let next = data[i + 4..]
                    .windows(3)
                    .position(|w| w == [0, 0, 1])
                    .map_or(data.len(), |p| p + i + 4);
                out.extend_from_slice(&data[i..next]);
                out.extend_from_slice(&[0, 0, 1, 0xb2]);
                out.extend_from_slice(payload);
                i = next;
            } else {
                out.push(data[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn captions_and_afd_travel_with_their_frames() {
        let data = std::fs::read(testdata("mpeg2/b_ipb_closed.m2v")).unwrap();
        let cc = [
            b'G',
            b'A',
            b'9',
            b'4',
            3,
            0x40 | 1,
            0xff,
            0xfc,
            0x94,
            0x20,
            0xff,
        ];
        let with_cc = with_user_data(&data, &cc);
        let with_both = with_user_data(&with_cc, &[b'D', b'T', b'G', b'1', 0x41, 0xfa]);
        let (_, frames) = infos(&with_both);
        assert_eq!(frames.len(), 20);
        for f in &frames {
            assert_eq!(f.user_data.captions(), &[0xfc, 0x94, 0x20]);
            assert_eq!(f.user_data.afd, Some(0xa));
        }
        // And the pictures are unchanged.
        let (got, errors) = decode_md5s(&with_both, 1000);
        assert!(errors.is_empty());
        assert_eq!(got, oracle(&testdata("mpeg2/b_ipb_closed.m2v")));
        let (_, plain) = infos(&data);
        assert!(plain
            .iter()
            .all(|f| f.user_data.captions().is_empty() && f.user_data.afd.is_none()));
    }

    #[test]
    fn a_sequence_change_flushes_and_marks_the_next_frame() {
        let a = std::fs::read(testdata("mpeg2/b_ipb_closed.m2v")).unwrap();
        let b = std::fs::read(testdata("mpeg2/l_yuv422.m2v")).unwrap();
        let joined = [a.as_slice(), b.as_slice()].concat();
        let mut dec = Decoder::new(&MemoryConfig::default());
        let mut seen = Vec::new();
        let mut md5s = Vec::new();
        let mut buf = Vec::new();
        dec.decode_with(&joined, |f| {
            seen.push((f.width, f.height, f.format, f.info.format_changed));
            buf.clear();
            f.write_planar(&mut buf);
            md5s.push(md5_hex(&buf));
        })
        .unwrap();
        dec.flush();
        while let Some(f) = dec.next_frame() {
            seen.push((f.width, f.height, f.format, f.info.format_changed));
            buf.clear();
            f.write_planar(&mut buf);
            md5s.push(md5_hex(&buf));
        }
        assert_eq!(seen.len(), 30);
        assert!(seen[..20]
            .iter()
            .all(|s| *s == (176, 144, PixelFormat::Yuv420p, false)));
        assert_eq!(seen[20], (320, 240, PixelFormat::Yuv422p, true));
        assert!(seen[21..].iter().all(|s| !s.3));
        let want: Vec<String> = [
            oracle(&testdata("mpeg2/b_ipb_closed.m2v")),
            oracle(&testdata("mpeg2/l_yuv422.m2v")),
        ]
        .concat();
        assert_eq!(md5s, want);
        assert_eq!(dec.sequence_info().unwrap().chroma, ChromaFormat::Yuv422);
    }
}

mod backpressure {
    use super::*;

    #[test]
    fn a_full_pool_is_a_status_and_decoding_resumes() {
        let data = std::fs::read(testdata("mpeg2/c_ipb_open.m2v")).unwrap();
        let want = oracle(&testdata("mpeg2/c_ipb_open.m2v"));
        let mut dec = Decoder::new(&MemoryConfig::default());
        let mut rest = data.as_slice();
        let mut held = Vec::new();
        let mut statuses = 0;
        loop {
            match dec.send(rest).unwrap() {
                DecodeStatus::Done => break,
                DecodeStatus::NeedsOutput { consumed } => {
                    statuses += 1;
                    rest = &rest[consumed..];
                    // Keep the pictures (as a slow consumer would), then let them go.
                    while let Some(p) = dec.next_picture() {
                        held.push(p);
                    }
                    assert!(held.len() <= transcode_mpeg2::OUTPUT_FRAMES as usize + 3);
                    let mut buf = Vec::new();
                    for p in held.drain(..) {
                        buf.clear();
                        p.frame().write_planar(&mut buf);
                        assert!(want.contains(&md5_hex(&buf)));
                    }
                }
            }
        }
        assert!(statuses > 0, "a whole stream sent at once fills the pool");
        dec.flush();
        let mut n = 0;
        while dec.next_frame().is_some() {
            n += 1;
        }
        assert!(n >= 1);
        // `decode` without taking frames reports the full pool as a limit.
        let mut dec = Decoder::new(&MemoryConfig::default());
        let err = dec.decode(&data).unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
    }

    #[test]
    fn a_budget_too_small_for_the_pictures_is_a_limit_error() {
        let data = std::fs::read(testdata("mpeg2/v_1440x1080i.m2v")).unwrap();
        let config = MemoryConfig {
            max_memory: 8 << 20,
            ..MemoryConfig::default()
        };
        let mut dec = Decoder::new(&config);
        let err = dec.decode_with(&data, |_| {}).unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
    }
}

mod damage {
    use super::*;

    /// A small deterministic generator for damage positions.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn truncated_streams_give_a_prefix_of_the_frames() {
        for file in [
            "b_ipb_closed.m2v",
            "d_interlaced_tff.m2v",
            "m_mpeg1.m1v",
            "l_yuv422.m2v",
            "w_mpeg2enc_dualprime.m2v",
        ] {
            let path = testdata(&format!("mpeg2/{file}"));
            let data = std::fs::read(&path).unwrap();
            let want = oracle(&path);
            for cut in [
                0,
                3,
                11,
                data.len() / 7,
                data.len() / 3,
                data.len() / 2,
                data.len() - 5,
            ] {
                let (got, _) = decode_md5s(&data[..cut], 4096);
                assert!(got.len() <= want.len(), "{file} cut {cut}");
                // Frames complete before the cut are exact; the rest may be concealed.
                let exact = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
                assert!(
                    exact + 3 >= got.len(),
                    "{file} cut {cut}: {exact} exact of {}",
                    got.len()
                );
            }
        }
    }

    #[test]
    fn bit_flips_never_panic_and_keep_frame_counts_sane() {
        let mut seed = 0x5eed;
        for file in [
            "c_ipb_open.m2v",
            "f_altscan.m2v",
            "m_mpeg1.m1v",
            "l_yuv422.m2v",
            "t_mpeg2enc_pulldown.m2v",
            "w_mpeg2enc_dualprime.m2v",
        ] {
            let path = testdata(&format!("mpeg2/{file}"));
            let clean = std::fs::read(&path).unwrap();
            let want = oracle(&path).len();
            for round in 0..12 {
                let mut data = clean.clone();
                for _ in 0..(1 + round * 3) {
                    let at = (lcg(&mut seed) as usize) % data.len();
                    data[at] ^= 1 << (lcg(&mut seed) % 8);
                }
                let (got, _) = decode_md5s(&data, 188);
                // Damage drives vectors to the picture's edges and coefficients to
                // their limits: both kernels must still agree.
                // One other kernel set per compared round, in turn, so that each of
                // them meets damage in every file without two extra decodes a round.
                if round % 4 == 0 {
                    let kernels = if round % 8 == 0 {
                        Kernels::Portable
                    } else {
                        Kernels::Sse2
                    };
                    let (other, _) = decode_md5s_with(&data, 188, kernels);
                    assert!(other == got, "{file} round {round}: {kernels:?} differs");
                }
                // A flipped bit can split or swallow a picture, never multiply them.
                assert!(
                    got.len() <= want + 2 * (1 + round * 3),
                    "{file} round {round}: {} frames",
                    got.len()
                );
            }
        }
    }

    #[test]
    fn garbage_and_lone_headers_give_no_frames() {
        let mut seed = 7;
        let noise: Vec<u8> = (0..100_000).map(|_| lcg(&mut seed) as u8).collect();
        let (got, _) = decode_md5s(&noise, 1000);
        assert!(got.is_empty());
        let data = std::fs::read(testdata("mpeg2/b_ipb_closed.m2v")).unwrap();
        let first_picture = data.windows(4).position(|w| w == [0, 0, 1, 0]).unwrap();
        let (got, errors) = decode_md5s(&data[..first_picture], 5);
        assert!(got.is_empty() && errors.is_empty());
    }
}

mod regression {
    use super::*;

    /// A skipped macroblock in a B frame picture after a field-predicted one is
    /// frame-predicted from the motion vector predictors (as FFmpeg does), not a
    /// repeat of the previous field prediction: found on a 720x576 interlaced stream
    /// whose first B picture differed from FFmpeg's in one macroblock.
    #[test]
    fn b_skip_after_field_motion_uses_frame_prediction_from_the_predictors() {
        for (file, frames) in [("x_bskip_after_field.m2v", 3), ("y_bskip_576i_bff.m2v", 20)] {
            let path = testdata(&format!("mpeg2/{file}"));
            let data = std::fs::read(&path).unwrap();
            let (got, errors) = decode_md5s(&data, usize::MAX);
            assert!(errors.is_empty(), "{file}: {errors:?}");
            assert_eq!(got.len(), frames, "{file}");
            assert_eq!(got, oracle(&path), "{file}");
        }
    }

    /// Found by the `mpeg2` fuzz target (fuzz/regressions/mpeg2/crash-38d6…): a
    /// sequence_error start code (`00 00 01 B4`) in the middle of a P picture ended the
    /// picture there, and the next slice started a second picture from the same
    /// header, so 16 picture headers gave 17 frames. A reserved or sequence_error start
    /// code is now skipped inside a picture.
    #[test]
    fn a_sequence_error_code_inside_a_picture_does_not_make_a_second_picture() {
        let data = std::fs::read(testdata("../fuzz/regressions/mpeg2/reserved_start_code_mid_picture.m2v")).unwrap();
        assert!(data.windows(4).any(|w| w == [0, 0, 1, 0xB4]));
        let pictures = data.windows(4).filter(|w| *w == [0, 0, 1, 0]).count();
        assert_eq!(pictures, 16);
        for chunk in [usize::MAX, 184, 7] {
            let (got, _) = decode_md5s(&data, chunk);
            assert_eq!(got.len(), pictures, "chunk {chunk}");
        }
    }
}
