//! Hostile-input regressions: each test pins the error (or the clean end) that one kind
//! of malicious or damaged input must produce, with no panic, no hang and no allocation
//! sized from the file. The kinds are those of published bugs in media parsers (a 16-byte
//! MP4 asking for 37 PB, a sample-description count of 738 million, a 34 GB picture from
//! one header field, endless loops on size-0 boxes, panics on truncated PSI sections),
//! plus what `fuzz/` found. Inputs that once crashed a fuzz target are also kept in
//! `fuzz/regressions/<target>/` and replayed by every `cargo xtask fuzz` run.

use transcode_codec::h265::HvcC;
use transcode_core::{CodecId, Error, MemoryConfig};
use transcode_demux_bridge::es::{AnnexBDemuxer, Y4mDemuxer};
use transcode_demux_bridge::ts::TsDemuxer;
use transcode_demux_bridge::{open_demuxer, open_demuxer_as, DemuxStats, Demuxer, Format, Input};
use transcode_testkit::testdata_dir;

/// An input kept in `fuzz/regressions/` (where every fuzz run replays it).
fn fuzz_input(rel: &str) -> Vec<u8> {
    let path = testdata_dir().join("../fuzz/regressions").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pipe(data: Vec<u8>, config: &MemoryConfig) -> Input {
    Input::from_reader(Box::new(std::io::Cursor::new(data)), "pipe", config)
}

/// An MP4 box: 32-bit size, type, body.
fn bx(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(typ);
    v.extend_from_slice(body);
    v
}

/// A full box: version 0, flags 0, then `body`.
fn full(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 4];
    b.extend_from_slice(body);
    bx(typ, &b)
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn be32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// A one-track video MP4 whose `stbl` holds `stbl_children`, followed by an mdat.
fn mp4_with_stbl(stbl_children: &[Vec<u8>]) -> Vec<u8> {
    let mut mvhd = be32(&[0, 0, 1000, 0, 0x0001_0000]);
    mvhd.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    mvhd.extend_from_slice(&be32(&[0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]));
    mvhd.extend_from_slice(&be32(&[0, 0, 0, 0, 0, 0, 2]));
    let mut tkhd = be32(&[0, 0, 1, 0, 0, 0, 0, 0]);
    tkhd.extend_from_slice(&be32(&[0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]));
    tkhd.extend_from_slice(&be32(&[16 << 16, 16 << 16]));
    let mdhd = {
        let mut b = be32(&[0, 0, 90_000, 0]);
        b.extend_from_slice(&[0x55, 0xC4, 0, 0]);
        b
    };
    let hdlr = {
        let mut b = be32(&[0]);
        b.extend_from_slice(b"vide");
        b.extend_from_slice(&be32(&[0, 0, 0]));
        b.push(0);
        b
    };
    let stbl = bx(b"stbl", &cat(stbl_children));
    let minf = bx(b"minf", &stbl);
    let mdia = bx(b"mdia", &cat(&[full(b"mdhd", &mdhd), full(b"hdlr", &hdlr), minf]));
    let trak = bx(b"trak", &cat(&[full(b"tkhd", &tkhd), mdia]));
    let moov = bx(b"moov", &cat(&[full(b"mvhd", &mvhd), trak]));
    cat(&[bx(b"ftyp", b"isom\0\0\x02\0isom"), moov, bx(b"mdat", &[0u8; 64])])
}

/// An `avc1` sample entry with a real avcC (320x180 High profile).
fn avc1_entry() -> Vec<u8> {
    let avcc: &[u8] = &[
        1, 0x64, 0, 0x0C, 0xFF, 0xE1, 0, 26, 0x67, 0x64, 0x00, 0x0C, 0xAC, 0xD9, 0x41, 0x41, 0x9F, 0x9F, 0x01, 0x10,
        0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xF1, 0x42, 0x99, 0x60, 1, 0, 6, 0x68, 0xEA, 0xE3,
        0xCB, 0x22, 0xC0,
    ];
    let mut b = vec![0u8; 6];
    b.extend_from_slice(&[0, 1]);
    b.extend_from_slice(&[0u8; 16]);
    b.extend_from_slice(&[1, 0x40, 0, 0xB4]);
    b.extend_from_slice(&be32(&[0x0048_0000, 0x0048_0000, 0]));
    b.extend_from_slice(&[0, 1]);
    b.extend_from_slice(&[0u8; 32]);
    b.extend_from_slice(&[0, 0x18, 0xFF, 0xFF]);
    b.extend_from_slice(&bx(b"avcC", avcc));
    bx(b"avc1", &b)
}

fn stsd(count: u32, entries: &[u8]) -> Vec<u8> {
    let mut b = be32(&[count]);
    b.extend_from_slice(entries);
    full(b"stsd", &b)
}

/// The sample tables of one 16-byte sample in chunk 0 at `offset`.
fn one_sample_tables(offset: u32) -> Vec<Vec<u8>> {
    vec![
        stsd(1, &avc1_entry()),
        full(b"stts", &be32(&[1, 1, 3000])),
        full(b"stsc", &be32(&[1, 1, 1, 1])),
        full(b"stsz", &be32(&[16, 1])),
        full(b"stco", &be32(&[1, offset])),
    ]
}

fn open_mp4(data: Vec<u8>) -> Result<Box<dyn Demuxer + Send>, Error> {
    open_demuxer_as(Input::from_bytes(data, "mp4"), Format::Mp4, &MemoryConfig::default())
}

/// The error of a demuxer that must not open.
fn open_err(opened: Result<Box<dyn Demuxer + Send>, Error>) -> Error {
    match opened {
        Ok(d) => panic!("expected an error, got a {} demuxer", d.format_name()),
        Err(e) => e,
    }
}

/// Reads every packet; returns how many there were and the error that ended it, if any.
fn drain(demux: &mut dyn Demuxer) -> (usize, Option<Error>) {
    let mut n = 0;
    loop {
        match demux.next_packet() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return (n, None),
            Err(e) => return (n, Some(e)),
        }
        assert!(n < 1_000_000, "demuxing does not end");
    }
}

#[test]
fn mp4_the_builder_makes_a_valid_file() {
    // The hostile variants below differ from this file in one field each.
    let data = mp4_with_stbl(&one_sample_tables(0));
    let at = data.len() as u32 - 64;
    let mut d = open_mp4(mp4_with_stbl(&one_sample_tables(at))).unwrap();
    assert_eq!(d.streams().len(), 1);
    assert_eq!(d.streams()[0].codec, CodecId::H264);
    let p = d.next_packet().unwrap().unwrap();
    assert_eq!((p.data.len(), p.pos), (16, Some(at as u64)));
    assert!(d.next_packet().unwrap().is_none());
}

#[test]
fn mp4_16_byte_file_asking_for_37_petabytes() {
    // A moov whose 64-bit size asks for 37 PB, in a 16-byte file: refused against the
    // memory budget before anything is read or allocated.
    let mut data = vec![0, 0, 0, 1];
    data.extend_from_slice(b"moov");
    data.extend_from_slice(&37_000_000_000_000_000u64.to_be_bytes());
    assert_eq!(data.len(), 16);
    let err = open_err(open_mp4(data));
    assert!(
        matches!(err, Error::LimitExceeded { what: "moov box bytes", requested: 37_000_000_000_000_000, .. }),
        "{err}"
    );
}

#[test]
fn mp4_sample_description_count_of_738_million() {
    // Only the first entry is used (as FFmpeg does for a track); the count is neither
    // allocated for nor walked, so the track opens as if the count were 1.
    let data = mp4_with_stbl(&one_sample_tables(0));
    let at = data.len() as u32 - 64;
    let mut tables = one_sample_tables(at);
    tables[0] = stsd(738_000_000, &avc1_entry());
    let mut d = open_mp4(mp4_with_stbl(&tables)).unwrap();
    assert_eq!(d.streams().len(), 1);
    assert_eq!(d.streams()[0].codec, CodecId::H264);
    assert_eq!(drain(d.as_mut()).0, 1);
}

#[test]
fn mp4_sample_count_of_738_million_without_entries() {
    // A constant sample size lets stsz claim any count in 20 bytes; the count is
    // checked against max_table_entries.
    let mut tables = one_sample_tables(0);
    tables[3] = full(b"stsz", &be32(&[16, 738_000_000]));
    let err = open_err(open_mp4(mp4_with_stbl(&tables)));
    assert!(matches!(err, Error::LimitExceeded { what: "stsz entries", requested: 738_000_000, .. }), "{err}");
}

#[test]
fn mp4_table_count_larger_than_its_box() {
    // 738 million stco entries announced in a box that holds one.
    let mut tables = one_sample_tables(0);
    tables[4] = full(b"stco", &be32(&[738_000_000, 0]));
    let err = open_err(open_mp4(mp4_with_stbl(&tables)));
    assert!(matches!(err, Error::LimitExceeded { what: "stco entries", .. } | Error::InvalidData { .. }), "{err}");
}

#[test]
fn mp4_size_zero_boxes_do_not_loop() {
    // Size 0 means "to the end of the enclosing space"; inside the stbl it must not be
    // read as a zero-length step.
    let mut tables = one_sample_tables(0);
    tables.insert(1, vec![0, 0, 0, 0, b'f', b'r', b'e', b'e']);
    let outcome = open_mp4(mp4_with_stbl(&tables)).map(|mut d| drain(d.as_mut()));
    assert!(outcome.is_err() || outcome.is_ok_and(|(n, _)| n <= 1));
    // At the top level, a size-0 box after the ftyp swallows the rest of the file.
    let mut data = bx(b"ftyp", b"isom\0\0\x02\0isom");
    data.extend_from_slice(&[0, 0, 0, 0]);
    data.extend_from_slice(b"free");
    data.extend_from_slice(&[0u8; 100]);
    let err = open_err(open_mp4(data));
    assert!(matches!(err, Error::InvalidData { .. }), "{err}");
}

#[test]
fn mp4_sample_larger_than_max_packet_size() {
    let data = mp4_with_stbl(&one_sample_tables(0));
    let at = data.len() as u32 - 64;
    let mut tables = one_sample_tables(at);
    tables[3] = full(b"stsz", &be32(&[0, 1, 0xFFFF_FFF0]));
    let mut d = open_mp4(mp4_with_stbl(&tables)).unwrap();
    let err = d.next_packet().unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { what: "mp4 sample bytes", requested: 0xFFFF_FFF0, .. }), "{err}");
}

/// A 188-byte TS packet with `pid`, payload_unit_start and the given payload.
fn ts_packet(pid: u16, cc: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | (cc & 0xF)];
    p.extend_from_slice(payload);
    p.resize(188, 0xFF);
    p
}

#[test]
fn ts_truncated_psi_sections() {
    // A PAT whose section_length (1021) runs past its packet, then the file ends; then
    // the same with a PMT cut short. Nothing to demux, no panic, a clean end.
    let pat_long = [0, 0x00, 0xB3, 0xFD, 0, 1, 0xC1, 0, 0, 0, 1, 0xE1, 0x00];
    let pat = [0, 0x00, 0xB0, 0x0D, 0, 1, 0xC1, 0, 0, 0, 1, 0xE1, 0x00, 0xE8, 0xF9, 0x5E, 0x7D];
    let pmt_cut = [0, 0x02, 0xB0, 0x17, 0, 1, 0xC1, 0, 0, 0xE1, 0x00, 0xF0, 0x00, 0x1B];
    for data in [
        cat(&[ts_packet(0, 0, &pat_long), ts_packet(0, 1, &pat_long)]),
        cat(&[ts_packet(0, 0, &pat), ts_packet(0x100, 0, &pmt_cut), ts_packet(0x100, 1, &[])]),
        cat(&[ts_packet(0, 0, &pat[..3])]),
    ] {
        let config = MemoryConfig::default();
        let mut d =
            open_demuxer_as(Input::from_bytes(data, "ts"), Format::MpegTs { packet_size: 188 }, &config).unwrap();
        let (n, err) = drain(d.as_mut());
        assert_eq!(n, 0);
        assert!(err.is_none(), "{err:?}");
    }
}

#[test]
fn y4m_header_asking_for_a_34_gb_picture() {
    // 65536 x 65536 4:4:4 at 16 bits: 25.8 GB for one picture, from one header line.
    let data = b"YUV4MPEG2 W65536 H65536 C444p16\nFRAME\n".to_vec();
    let err = open_err(open_demuxer(Input::from_bytes(data, "y4m"), &MemoryConfig::default()));
    assert!(matches!(err, Error::LimitExceeded { what: "y4m picture", .. }), "{err}");
}

#[test]
fn annexb_access_unit_larger_than_max_packet_size() {
    // One slice that never ends: refused at max_packet_size instead of buffered whole.
    let mut data = vec![0, 0, 0, 1, 0x65, 0x88];
    data.resize(300_000, 0x55);
    let config = MemoryConfig { max_packet_size: 100_000, ..Default::default() };
    let outcome = AnnexBDemuxer::new(Input::from_bytes(data, "h264"), CodecId::H264, &config)
        .and_then(|mut d| d.next_packet().map(|p| p.map(|p| p.data.len())));
    assert!(
        matches!(outcome, Err(Error::LimitExceeded { what: "access unit", requested: 100_001.., limit: 100_000 })),
        "{outcome:?}"
    );
}

#[test]
fn adts_frame_length_shorter_than_its_header() {
    // frame_length 0 would make a reader that trusts it step by nothing, forever.
    let mut data = Vec::new();
    for _ in 0..4 {
        data.extend_from_slice(&[0xFF, 0xF1, 0x50, 0x80, 0x00, 0x1F, 0xFC]);
    }
    let outcome = open_demuxer_as(Input::from_bytes(data, "aac"), Format::Adts, &MemoryConfig::default())
        .map(|mut d| drain(d.as_mut()));
    match outcome {
        Ok((n, _)) => assert_eq!(n, 0),
        Err(e) => assert!(matches!(e, Error::InvalidData { offset: Some(0), .. }), "{e}"),
    }
}

// Found by the fuzz targets.

/// Fixed in 157df08: `Y4mHeader::parse` split each tag with `str::split_at(1)`, which
/// panicked when a tag started with a multi-byte UTF-8 character ("end byte index 1 is
/// not a char boundary"); non-ASCII headers are now refused.
#[test]
fn y4m_header_with_non_ascii_tag() {
    let data = b"YUV4MPEG2 W16 H16 \xcd\xa8\nFRAME\n".to_vec();
    let err = Y4mDemuxer::new(Input::from_bytes(data, "y4m"), &MemoryConfig::default()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidData { offset: Some(0), reason } if reason == "y4m header is not ascii"),
        "{err}"
    );
    let found = fuzz_input("y4m/non-ascii-header-tag.y4m");
    let err = Y4mDemuxer::new(Input::from_bytes(found, "y4m"), &MemoryConfig::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidData { offset: Some(0), .. }), "{err}");
}

/// Fixed in 157df08: `HvcC::from_annexb` took `vps_max_sub_layers_minus1 = 7` (forbidden)
/// and recorded 8 temporal layers, which the record's 3-bit field cannot hold (`to_bytes`
/// wrote 0). Such a VPS now gives no record.
#[test]
fn hvcc_with_eight_temporal_layers() {
    let config = MemoryConfig::default();
    let data = fuzz_input("annexb/hvcc-eight-temporal-layers.h265");
    // The fuzz target met it in an access unit as the H.264 demuxer splits this input.
    for codec in [CodecId::H264, CodecId::H265] {
        let mut demux = AnnexBDemuxer::new(Input::from_bytes(data.clone(), "h265"), codec, &config).unwrap();
        while let Ok(Some(p)) = demux.next_packet() {
            if let Some(rec) = HvcC::from_annexb(p.data) {
                assert!(rec.num_temporal_layers <= 7, "num_temporal_layers {}", rec.num_temporal_layers);
                assert_eq!(HvcC::parse(&rec.to_bytes()).unwrap(), rec);
            }
        }
    }
}

/// Fixed in 157df08. The Annex-B demuxer timed packets with
/// `dts = (index - reorder_delay) * frame_duration`, from values it learns while reading.
/// A stream whose first access units come before its SPS (a recording cut mid-GOP) was
/// timed at the default 25 fps first, then at its own rate, so dts went back.
/// `cut-mid-gop-50fps.h264` is a 50 fps x264 stream (`ffmpeg -f lavfi -i
/// testsrc=size=64x64:rate=50 -t 0.4 -c:v libx264 -bf 2 -g 10`) after three of its own
/// access units without parameter sets (dts were 0, 3600, 7200, 5400, ...); the fuzzed
/// input learns a rate from a damaged SPS (dts were 0, 3600, 10, 15, ...).
#[test]
fn annexb_dts_monotonic_when_sps_comes_late() {
    let config = MemoryConfig::default();
    for name in ["annexb/cut-mid-gop-50fps.h264", "annexb/dts-backwards-when-sps-comes-late.h264"] {
        let data = fuzz_input(name);
        let mut d = AnnexBDemuxer::new(Input::from_bytes(data, name), CodecId::H264, &config).unwrap();
        let mut last = None;
        let mut n = 0;
        while let Some(p) = d.next_packet().unwrap() {
            let dts = p.dts.unwrap();
            if let Some(prev) = last {
                assert!(dts > prev, "{name}: packet {n}: dts {dts} after {prev}");
                assert!(p.pts.unwrap() >= dts, "{name}: packet {n}: pts {:?} before dts {dts}", p.pts);
            }
            last = Some(dts);
            n += 1;
        }
        assert!(n > 10, "{name}: {n} packets");
    }
}

/// Fixed in 157df08. The MP4 demuxer checked that a sample ends inside the file only
/// when the length is known: from a pipe, a sample of size 0 whose `stco` offset lies far
/// past the end came out as an empty packet there (pos 1639622 in a 2112-byte input),
/// while from a map the file ended as truncated with no packet.
#[test]
fn mp4_pipe_zero_size_sample_past_the_end() {
    let data = fuzz_input("mp4/pipe-zero-size-sample-past-end.mp4");
    let len = data.len() as u64;
    let config = MemoryConfig { read_buffer_size: 4096, ..Default::default() };
    let mut outcomes = Vec::new();
    for input in [Input::from_bytes(data.clone(), "mapped"), pipe(data.clone(), &config)] {
        let mut d = open_demuxer_as(input, Format::Mp4, &config).unwrap();
        let mut packets = 0;
        while let Some(p) = d.next_packet().unwrap() {
            let pos = p.pos.unwrap();
            assert!(
                pos + p.data.len() as u64 <= len,
                "packet at {pos} of {} bytes past the {len}-byte input",
                p.data.len()
            );
            packets += 1;
        }
        let stats = d.stats();
        assert!(stats.bytes_read <= len, "bytes_read {} past the {len}-byte input", stats.bytes_read);
        outcomes.push((packets, stats.truncated));
    }
    assert_eq!(outcomes[0], outcomes[1], "mapped and piped inputs end differently");
    assert_eq!(outcomes[0], (0, true));
}

/// `HvcC::from_annexb` (codec/src/h265.rs) copies the SPS bit depths into the record's
/// 3-bit `bit_depth_luma_minus8` / `bit_depth_chroma_minus8` fields. A 16-bit SPS
/// (`bit_depth_luma_minus8 = 8`, allowed by the range extensions) does not fit:
/// `to_bytes` writes `0xF8 | 8 = 0xF8`, i.e. 8-bit, and the written record describes
/// another stream. Fix: have `from_annexb` return `None` when a bit depth does not fit
/// (hvcC cannot describe the stream), as 157df08 did for 8 sub-layers.
#[test]
fn hvcc_bit_depth_overflow() {
    let config = MemoryConfig::default();
    let name = "annexb/hvcc-16-bit-luma.h265";
    let data = fuzz_input(name);
    // The fuzz target met it in an access unit as the H.264 demuxer splits this input.
    for codec in [CodecId::H264, CodecId::H265] {
        let mut demux = AnnexBDemuxer::new(Input::from_bytes(data.clone(), name), codec, &config).unwrap();
        while let Ok(Some(p)) = demux.next_packet() {
            if let Some(rec) = HvcC::from_annexb(p.data) {
                assert!(rec.bit_depth_luma_minus8 <= 7, "bit_depth_luma_minus8 {}", rec.bit_depth_luma_minus8);
                assert!(rec.bit_depth_chroma_minus8 <= 7, "bit_depth_chroma_minus8 {}", rec.bit_depth_chroma_minus8);
                assert_eq!(HvcC::parse(&rec.to_bytes()).unwrap(), rec);
            }
        }
    }
}

/// `h265::parse_sps` (codec/src/h265.rs:283-288) computes `r.ue()? + 8` for the bit
/// depths and `r.ue()? + 4` for log2_max_pic_order_cnt_lsb. `ue()` returns up to
/// 2^32 - 2, so the addition overflows: a panic with overflow checks (debug builds, the
/// fuzz build), and in release a wrapped value (bit depth 0..=7) that passes the
/// `> 16` check, after which `HvcC::from_annexb` computes `bit_depth_luma - 8` on a u8
/// and wraps again. This input (found by the probe target) has such an SPS; the stack was
/// `parse_sps` <- `HvcC::from_annexb` (h265.rs:616) <- `describe` (describe.rs:67) <-
/// `AnnexBDemuxer::look_ahead`. The same `ue()? + k` pattern is in h264.rs (lines 132,
/// 133, 147, 504, 556, 582, 609, 610) and h265.rs:715. Fix: `checked_add` (or
/// `saturating_add` before the existing range checks) so that the SPS is refused with
/// "bit depth ... (expected 8..=16)".
#[test]
fn h265_sps_bit_depth_ue_overflow() {
    use transcode_codec::{h265, nal};
    let data = fuzz_input("probe/h265-sps-bit-depth-ue-overflow.h265");
    let mut sps_units = 0;
    for unit in nal::split_annexb(&data) {
        if h265::nal_type(unit) == 33 {
            sps_units += 1;
            if let Ok(sps) = h265::parse_sps(unit) {
                assert!((8..=16).contains(&sps.bit_depth_luma), "bit depth {}", sps.bit_depth_luma);
                assert!((8..=16).contains(&sps.bit_depth_chroma), "bit depth {}", sps.bit_depth_chroma);
            }
        }
    }
    assert!(sps_units > 0);
    let config = MemoryConfig::default();
    let mut demux = AnnexBDemuxer::new(Input::from_bytes(data, "h265"), CodecId::H265, &config).unwrap();
    let mut packets = 0;
    while let Ok(Some(_)) = demux.next_packet() {
        packets += 1;
    }
    assert!(packets > 0);
}

/// A reader that hands its bytes out in short, uneven pieces, like a pipe under load.
struct Stutter {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl std::io::Read for Stutter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const PIECES: [usize; 5] = [1, 1000, 4093, 7, 65536];
        let n = PIECES[self.step % PIECES.len()].min(buf.len()).min(self.data.len() - self.pos);
        self.step += 1;
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A demuxed TS packet, everything a consumer sees: stream, pts, dts, duration,
/// keyframe, pos, and the MD5 of the bytes.
type TsRow = (usize, Option<i64>, Option<i64>, Option<i64>, bool, Option<u64>, String);

fn ts_rows(input: Input, packet_size: usize, config: &MemoryConfig) -> (Vec<TsRow>, DemuxStats) {
    let mut d = TsDemuxer::new(input, packet_size, config).unwrap();
    let mut rows = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        rows.push((p.stream, p.pts, p.dts, p.duration, p.keyframe, p.pos, transcode_testkit::md5_hex(p.data)));
    }
    (rows, d.stats())
}

/// Bytes per window the TS demuxer reads from a pipe with `config` (64 KiB, less when
/// the pipe's read-ahead limit is smaller; see `TsDemuxer::new`). A map is read in
/// 1 MiB windows, more than any input here.
fn ts_pipe_window(packet_size: usize, config: &MemoryConfig) -> usize {
    let limit = (config.max_packet_size as usize).max(config.read_buffer_size.max(4096));
    packet_size * ((64 << 10).min(limit) / packet_size).max(8)
}

/// Pipe configurations with windows of 21, 47 and 348 TS packets (21, 46 and 341 M2TS
/// packets); the packet limit is what sizes a pipe's window, and the map is read with
/// the same configuration.
fn ts_window_configs() -> [MemoryConfig; 3] {
    let small = |max_packet_size| MemoryConfig { read_buffer_size: 4096, max_packet_size, ..Default::default() };
    [small(4096), small(9000), MemoryConfig { read_buffer_size: 4096, ..Default::default() }]
}

/// Demuxes `data` from a map and from a stuttering pipe with `config`; asserts that
/// both give the same packets and the same counters, and returns them.
fn ts_same_from_map_and_pipe(what: &str, data: &[u8], packet_size: usize, config: &MemoryConfig) -> (Vec<TsRow>, DemuxStats) {
    let window = ts_pipe_window(packet_size, config);
    let mapped = ts_rows(Input::from_bytes(data.to_vec(), "mapped"), packet_size, config);
    let reader = Stutter { data: data.to_vec(), pos: 0, step: 0 };
    let piped = ts_rows(Input::from_reader(Box::new(reader), "pipe", config), packet_size, config);
    if let Some(i) = mapped.0.iter().zip(&piped.0).position(|(m, p)| m != p) {
        panic!("{what}, {window}-byte pipe windows: packet {i} differs\nmap:  {:?}\npipe: {:?}", mapped.0[i], piped.0[i]);
    }
    assert_eq!(mapped.0.len(), piped.0.len(), "{what}, {window}-byte pipe windows: packet count");
    assert_eq!(mapped.1, piped.1, "{what}, {window}-byte pipe windows: stats");
    assert_eq!(mapped.1.bytes_read, data.len() as u64, "{what}");
    mapped
}

/// [`ts_same_from_map_and_pipe`] with every configuration of [`ts_window_configs`];
/// returns what the default configuration gave.
fn ts_same_for_every_window(what: &str, data: &[u8], packet_size: usize) -> (Vec<TsRow>, DemuxStats) {
    let mut last = None;
    for config in ts_window_configs() {
        last = Some(ts_same_from_map_and_pipe(what, data, packet_size, &config));
    }
    last.unwrap()
}

/// A 188-byte transport packet; `payload` is padded with 0xFF.
fn ts_pkt(pid: u16, pusi: bool, cc: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x47, (pusi as u8) << 6 | (pid >> 8) as u8, pid as u8, 0x10 | (cc & 0xF)];
    p.extend_from_slice(payload);
    p.resize(188, 0xFF);
    p
}

/// A long-form PSI section with its CRC, after a pointer field.
fn psi_payload(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![0, table_id, 0xB0 | (len >> 8) as u8, len as u8, (id >> 8) as u8, id as u8, 0xC1, 0, 0];
    s.extend_from_slice(body);
    let crc = transcode_demux_bridge::ts::psi::crc32(&s[1..]);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// The 188-byte packets of a synthetic H.264 program (PMT on PID 0x1000, video on
/// 0x100): each of `blocks` is a 5-packet PES of declared length (pts 1 s + 0.04 s per
/// PES) followed by `nulls` null packets; the PAT and PMT come first, or after the
/// first `psi_after` blocks. No byte but the sync bytes is 0x47 (except in the PTS
/// fields), so damage makes only the false syncs a test puts there.
fn synthetic_ts(blocks: usize, nulls: usize, psi_after: usize) -> Vec<Vec<u8>> {
    let psi = [
        ts_pkt(0, true, 0, &psi_payload(0, 1, &[0, 1, 0xF0, 0x00])),
        ts_pkt(0x1000, true, 0, &psi_payload(2, 1, &[0xE1, 0x00, 0xF0, 0, 0x1B, 0xE1, 0x00, 0xF0, 0])),
    ];
    let mut pkts = Vec::new();
    let mut cc = 0u8;
    for j in 0..blocks {
        if j == psi_after {
            pkts.extend(psi.iter().cloned());
        }
        let pts = 90_000 + j as u64 * 3600;
        let mut pes = vec![0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5];
        pes.extend_from_slice(&[
            0x21 | ((pts >> 29) & 0x0E) as u8,
            (pts >> 22) as u8,
            ((pts >> 14) & 0xFE) as u8 | 1,
            (pts >> 7) as u8,
            ((pts << 1) & 0xFE) as u8 | 1,
        ]);
        let total = 5 * 184;
        let declared = (total - 6) as u16;
        pes[4..6].copy_from_slice(&declared.to_be_bytes());
        pes.extend((pes.len()..total).map(|i| match ((i * 13 + j * 7) % 251) as u8 {
            0x47 => 0x46,
            b => b,
        }));
        for (k, chunk) in pes.chunks(184).enumerate() {
            pkts.push(ts_pkt(0x100, k == 0, cc, chunk));
            cc = (cc + 1) & 0xF;
        }
        pkts.extend((0..nulls).map(|_| ts_pkt(0x1FFF, false, 0, &[])));
    }
    pkts
}

/// Joins 188-byte packets into a TS (`packet_size` 188) or an M2TS (192: each packet
/// after a 4-byte arrival timestamp).
fn ts_join(pkts: &[Vec<u8>], packet_size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        if packet_size == 192 {
            out.extend_from_slice(&((i as u32 * 1000) & 0x3FFF_FFFF).to_be_bytes());
        }
        out.extend_from_slice(p);
    }
    out
}

/// Bytes from a fixed pseudo-random sequence, with `0x47` allowed or not.
fn junk(n: usize, seed: u32, sync_bytes: bool) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match (x >> 24) as u8 {
                0x47 if !sync_bytes => 0x00,
                b => b,
            }
        })
        .collect()
}

/// Fixed: after lost sync, the TS demuxer confirmed a candidate near the end of a read
/// window against fewer packets, accepting it from the next window on two sync bytes
/// where a window reaching its third sync byte rejected it. A map (1 MiB windows) and
/// a pipe (64 KiB) then disagreed on a damaged file: this M2TS input (a TS file read as
/// 192-byte packets, from the ts fuzz target) gave one PES of 2181 bytes with 4 resyncs,
/// 62656 bytes skipped and 2 continuity errors from a map, but 2365 bytes, 5, 62464 and
/// 3 from a pipe. A candidate is now decided only on data that reaches all its
/// confirmations (or on the true end of the input); the window stops at it otherwise.
#[test]
fn ts_resync_does_not_depend_on_the_read_window() {
    let found = fuzz_input("ts/m2ts-resync-differs-map-pipe.m2ts");
    let (rows, stats) = ts_same_for_every_window("m2ts-resync-differs-map-pipe", &found, 192);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].5, &rows[0].6[..]), (Some(6262), "c80a872b220f57f88d5997b8e2c59b3c"));
    // Three resyncs: the bytes before the first packet are skipped (and counted) without
    // being a loss of sync.
    assert_eq!((stats.resyncs, stats.bytes_skipped, stats.cc_errors), (3, 62656, 2));
    ts_same_for_every_window("m2ts-resync-differs-map-pipe as TS", &found, 188);

    let pkts = synthetic_ts(2, 360, 0);
    for size in [188, 192] {
        let so = size - 188;
        let clean = ts_join(&pkts, size);
        let (want, clean_stats) = ts_same_for_every_window("synthetic", &clean, size);
        assert_eq!((want.len(), clean_stats.resyncs), (2, 0));
        let unplaced = |rows: &[TsRow]| rows.iter().map(|r| (r.1, r.6.clone())).collect::<Vec<_>>();
        for config in ts_window_configs() {
            // Windows start where a PES completes, and a window that ends in a null
            // stretch is followed by one that starts a packet before its end. The first
            // null stretch starts after the PAT, the PMT and a 5-packet PES (7 packets),
            // and the first window that ends in it ends a window's length later. Damage
            // is put at every packet boundary from 8 packets before that end to 1 after.
            let end = 7 * size + ts_pipe_window(size, &config);
            for at in (-8..=1).map(|k| (end as isize + k * size as isize) as usize) {
                // Garbage between two packets, sync bytes included.
                let mut garbage = clean.clone();
                garbage.splice(at..at, junk(1000, at as u32, true));
                // One byte lost in the middle of a packet.
                let mut lost = clean.clone();
                lost.remove(at + so + 100);
                // Four packets of garbage, then a false sync: a copy of the first packet of
                // a PES and a sync byte one packet later, but not two; then the real
                // packets. Sync is lost at the packet before the garbage.
                let a = 4 * size + 50;
                let mut fake = junk(a + 2 * size + so + 9, at as u32, false);
                fake[a..a + size].copy_from_slice(&clean[2 * size..3 * size]);
                fake[a + size + so] = 0x47;
                let mut false_sync = clean.clone();
                false_sync.splice(at..at, fake);
                for (kind, data) in [("garbage", garbage), ("lost byte", lost), ("false sync", false_sync)] {
                    let what = format!("{size}-byte packets, {kind} at {at}");
                    let (rows, stats) = ts_same_from_map_and_pipe(&what, &data, size, &config);
                    // Damage in a null stretch costs no packet (only positions after it move).
                    assert_eq!(unplaced(&rows), unplaced(&want), "{what}");
                    assert_eq!(stats.resyncs, 1, "{what}");
                }
            }
        }
    }
}

/// Fixed with the above: the TS demuxer looked ahead one window for the PAT and PMTs
/// before the first packet, so a map (1 MiB) knew a stream whose PMT comes after the
/// first 64 KiB from the start, and delivered its PES before the PMT, while a pipe
/// (64 KiB) learned of it at the PMT and did not. The look-ahead is now the same for
/// both (1 MiB, at most `max_packet_size`).
#[test]
fn ts_streams_known_from_the_same_look_ahead_from_map_and_pipe() {
    for size in [188, 192] {
        // 30 blocks of 5 + 70 packets before the PAT and PMT: they start at 423 KB (TS).
        let data = ts_join(&synthetic_ts(40, 70, 30), size);
        let (rows, _) = ts_same_for_every_window("late PMT", &data, size);
        assert_eq!(rows.len(), 40);
    }
}
