//! Writing `ftyp` and `moov`: movie and track headers, edit lists, sample descriptions
//! and (for progressive files) the sample tables.

use super::boxes::{close_descriptor, open_descriptor, BoxBuf, Head, Table, MATRIX};
use super::track::{Plan, TrackSetup};
use transcode_core::{CodecId, ColorRange, Result, TimeBase};

/// An edit list of at most two entries: an empty edit that delays the track, then the
/// media from `media_time` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Edit {
    /// Empty-edit duration in movie ticks (0: none).
    pub delay: u64,
    /// First media time presented, in track ticks.
    pub media_time: i64,
    /// Duration of the media segment in movie ticks (0 when unknown: fragmented).
    pub duration: u64,
}

/// What the moov needs to know about one track.
#[derive(Debug)]
pub(crate) struct MoovTrack<'a> {
    pub setup: &'a TrackSetup,
    /// Sample table sizes of a progressive file, whose entries are left as holes;
    /// `None` writes empty tables (fragmented).
    pub plan: Option<&'a Plan>,
    pub edit: Option<Edit>,
}

/// Writes the `ftyp`.
pub(crate) fn write_ftyp(b: &mut Head, fragmented: bool, tracks: &[&TrackSetup]) {
    let f = b.open(b"ftyp");
    if fragmented {
        b.bytes(b"iso5");
        b.u32(512);
        b.bytes(b"iso5iso6mp41");
    } else {
        b.bytes(b"isom");
        b.u32(512);
        b.bytes(b"isomiso2");
        if tracks.iter().any(|t| t.info.codec == CodecId::H264) {
            b.bytes(b"avc1");
        }
        b.bytes(b"mp41");
    }
    b.close(f);
}

/// Writes the `moov`. The entries of a planned track's sample tables are left as holes
/// in `b` (see [`Head`]), the chunk offsets with the width chosen by `co64`.
pub(crate) fn write_moov(
    b: &mut Head,
    tracks: &[MoovTrack<'_>],
    movie_timescale: u32,
    fragmented: bool,
    co64: bool,
) -> Result<()> {
    let movie_tb = TimeBase::new(1, movie_timescale);
    let track_duration = |t: &MoovTrack<'_>| -> u64 {
        let Some(plan) = t.plan else { return 0 };
        let media = TimeBase::new(1, t.setup.timescale).rescale(plan.duration() as i64, movie_tb).max(0) as u64;
        match t.edit {
            Some(e) => e.delay + e.duration,
            None => media,
        }
    };
    let movie_duration = tracks.iter().map(track_duration).max().unwrap_or(0);

    let moov = b.open(b"moov");
    let v = u8::from(movie_duration > u32::MAX as u64);
    let mvhd = b.open_full(b"mvhd", v, 0);
    times(b, v, movie_timescale, movie_duration);
    b.u32(0x0001_0000);
    b.u16(0x0100);
    b.zeros(10);
    MATRIX.iter().for_each(|&m| b.u32(m));
    b.zeros(24);
    b.u32(tracks.iter().map(|t| t.setup.id).max().unwrap_or(0) + 1);
    b.close(mvhd);

    for (k, t) in tracks.iter().enumerate() {
        write_trak(b, k, t, track_duration(t), co64)?;
    }
    if fragmented {
        let mvex = b.open(b"mvex");
        for t in tracks {
            let trex = b.open_full(b"trex", 0, 0);
            b.u32(t.setup.id);
            b.u32(1);
            b.u32(0);
            b.u32(0);
            b.u32(0);
            b.close(trex);
        }
        b.close(mvex);
    }
    b.close(moov);
    Ok(())
}

/// Creation and modification times (0: unknown, which keeps output reproducible), then
/// timescale and duration, in the width `version` asks for.
fn times(b: &mut Head, version: u8, timescale: u32, duration: u64) {
    if version == 1 {
        b.u64(0);
        b.u64(0);
        b.u32(timescale);
        b.u64(duration);
    } else {
        b.u32(0);
        b.u32(0);
        b.u32(timescale);
        b.u32(duration as u32);
    }
}

fn write_trak(b: &mut Head, k: usize, t: &MoovTrack<'_>, duration: u64, co64: bool) -> Result<()> {
    let s = t.setup;
    let video = s.is_video();
    let trak = b.open(b"trak");

    let v = u8::from(duration > u32::MAX as u64);
    let tkhd = b.open_full(b"tkhd", v, 3);
    if v == 1 {
        b.u64(0);
        b.u64(0);
        b.u32(s.id);
        b.u32(0);
        b.u64(duration);
    } else {
        b.u32(0);
        b.u32(0);
        b.u32(s.id);
        b.u32(0);
        b.u32(duration as u32);
    }
    b.zeros(8);
    b.u16(0); // layer
    b.u16(u16::from(!video)); // alternate group
    b.u16(if video { 0 } else { 0x0100 });
    b.u16(0);
    MATRIX.iter().for_each(|&m| b.u32(m));
    let (w, h) = s.info.video.map_or((0, 0), |v| (v.width, v.height));
    b.u32(w << 16);
    b.u32(h << 16);
    b.close(tkhd);

    if let Some(e) = t.edit {
        let edts = b.open(b"edts");
        let v = u8::from(e.delay > u32::MAX as u64 || e.duration > u32::MAX as u64 || e.media_time > i32::MAX as i64);
        let elst = b.open_full(b"elst", v, 0);
        b.u32(1 + u32::from(e.delay > 0));
        let entry = |b: &mut Head, dur: u64, media: i64| {
            if v == 1 {
                b.u64(dur);
                b.u64(media as u64);
            } else {
                b.u32(dur as u32);
                b.u32(media as i32 as u32);
            }
            b.u32(0x0001_0000);
        };
        if e.delay > 0 {
            entry(b, e.delay, -1);
        }
        entry(b, e.duration, e.media_time);
        b.close(elst);
        b.close(edts);
    }

    let mdia = b.open(b"mdia");
    let media_duration = t.plan.map_or(0, |p| p.duration());
    let v = u8::from(media_duration > u32::MAX as u64);
    let mdhd = b.open_full(b"mdhd", v, 0);
    times(b, v, s.timescale, media_duration);
    let lang = s.info.language.unwrap_or(*b"und");
    let packed = lang.iter().fold(0u16, |a, &c| (a << 5) | (c.wrapping_sub(0x60) & 0x1F) as u16);
    b.u16(packed);
    b.u16(0);
    b.close(mdhd);

    let hdlr = b.open_full(b"hdlr", 0, 0);
    b.u32(0);
    b.bytes(if video { b"vide" } else { b"soun" });
    b.zeros(12);
    b.bytes(if video { b"VideoHandler\0" } else { b"SoundHandler\0" });
    b.close(hdlr);

    let minf = b.open(b"minf");
    if video {
        let vmhd = b.open_full(b"vmhd", 0, 1);
        b.zeros(8);
        b.close(vmhd);
    } else {
        let smhd = b.open_full(b"smhd", 0, 0);
        b.zeros(4);
        b.close(smhd);
    }
    let dinf = b.open(b"dinf");
    let dref = b.open_full(b"dref", 0, 0);
    b.u32(1);
    let url = b.open_full(b"url ", 0, 1);
    b.close(url);
    b.close(dref);
    b.close(dinf);

    let stbl = b.open(b"stbl");
    write_stsd(b, t)?;
    write_tables(b, k, t, co64);
    b.close(stbl);
    b.close(minf);
    b.close(mdia);
    b.close(trak);
    Ok(())
}

fn write_stsd(b: &mut Head, t: &MoovTrack<'_>) -> Result<()> {
    let s = t.setup;
    let stsd = b.open_full(b"stsd", 0, 0);
    b.u32(1);
    let config = s.config_record()?;
    let (avg, max_size) = bitrate(t);
    match s.info.codec {
        CodecId::H264 | CodecId::H265 | CodecId::Mpeg1Video | CodecId::Mpeg2Video => {
            let (typ, cfg): (&[u8; 4], &[u8; 4]) = match s.info.codec {
                CodecId::H264 => (b"avc1", b"avcC"),
                CodecId::H265 => (b"hvc1", b"hvcC"),
                _ => (b"mp4v", b"esds"),
            };
            let e = b.open(typ);
            b.zeros(6);
            b.u16(1);
            b.zeros(16);
            let (w, h) = s.info.video.map_or((0, 0), |v| (v.width, v.height));
            b.u16(w.min(0xFFFF) as u16);
            b.u16(h.min(0xFFFF) as u16);
            b.u32(0x0048_0000);
            b.u32(0x0048_0000);
            b.u32(0);
            b.u16(1);
            b.zeros(32);
            b.u16(0x18);
            b.u16(0xFFFF);
            if cfg == b"esds" {
                // MPEG-2 video (main profile object type) or MPEG-1 video.
                let oti = if s.info.codec == CodecId::Mpeg1Video { 0x6A } else { 0x61 };
                write_esds(b, s.id, oti, 0x04, &config, avg, max_size);
            } else {
                let c = b.open(cfg);
                b.bytes(&config);
                b.close(c);
            }
            if let Some(color) = s.info.video.map(|v| v.color).filter(|c| c.has_all_codes()) {
                // FFmpeg writes the colour description when primaries, transfer and
                // matrix are all known, after the decoder configuration.
                let c = b.open(b"colr");
                b.bytes(b"nclx");
                b.u16(color.primaries.into());
                b.u16(color.transfer.into());
                b.u16(color.matrix.into());
                b.u8(if color.range == ColorRange::Full { 0x80 } else { 0 });
                b.close(c);
            }
            b.close(e);
        }
        _ => {
            let a = s.info.audio.unwrap_or_default();
            let e = b.open(b"mp4a");
            b.zeros(6);
            b.u16(1);
            b.zeros(8);
            b.u16(a.channels.max(1) as u16);
            b.u16(16);
            b.u16(0);
            b.u16(0);
            b.u32(if s.timescale < 0x10000 { s.timescale << 16 } else { 0 });
            let oti = match s.info.codec {
                CodecId::Aac => 0x40,
                // MPEG-1 audio; the MPEG-2 low sample rates are object type 0x69.
                _ if a.sample_rate >= 32_000 || a.sample_rate == 0 => 0x6B,
                _ => 0x69,
            };
            write_esds(b, s.id, oti, 0x05, &config, avg, max_size);
            b.close(e);
        }
    }
    b.close(stsd);
    Ok(())
}

/// Average bit rate and largest sample, for the decoder config descriptor.
fn bitrate(t: &MoovTrack<'_>) -> (u32, u32) {
    match t.plan {
        Some(p) if p.duration() > 0 => {
            let bps = p.bytes as u128 * 8 * t.setup.timescale as u128 / p.duration() as u128;
            (bps.min(u32::MAX as u128) as u32, p.max_size)
        }
        Some(p) => (0, p.max_size),
        None => (0, 0),
    }
}

fn write_esds(b: &mut Head, es_id: u32, oti: u8, stream_type: u8, config: &[u8], avg: u32, max_size: u32) {
    let esds = b.open_full(b"esds", 0, 0);
    let es = open_descriptor(&mut b.buf, 3);
    b.u16(es_id.min(0xFFFF) as u16);
    b.u8(0);
    let dc = open_descriptor(&mut b.buf, 4);
    b.u8(oti);
    b.u8(stream_type << 2 | 1);
    b.bytes(&max_size.min(0xFF_FFFF).to_be_bytes()[1..]);
    b.u32(avg);
    b.u32(avg);
    if !config.is_empty() {
        let dsi = open_descriptor(&mut b.buf, 5);
        b.bytes(config);
        close_descriptor(&mut b.buf, dsi);
    }
    close_descriptor(&mut b.buf, dc);
    let sl = open_descriptor(&mut b.buf, 6);
    b.u8(2);
    close_descriptor(&mut b.buf, sl);
    close_descriptor(&mut b.buf, es);
    b.close(esds);
}

/// Writes stts, ctts, stss, stsc, stsz and stco/co64: empty for fragmented output,
/// else headers with holes for the entries of track `k`.
fn write_tables(b: &mut Head, k: usize, t: &MoovTrack<'_>, co64: bool) {
    let empty = Plan::default();
    let p = t.plan.unwrap_or(&empty);

    let stts = b.open_full(b"stts", 0, 0);
    b.u32(p.stts.runs);
    b.hole(k, Table::Stts, p.stts.runs as u64 * 8);
    b.close(stts);

    if p.needs_ctts() {
        let ctts = b.open_full(b"ctts", u8::from(p.ctts_negative), 0);
        b.u32(p.ctts.runs);
        b.hole(k, Table::Ctts, p.ctts.runs as u64 * 8);
        b.close(ctts);
    }

    if t.setup.is_video() && t.plan.is_some() && !p.all_keyframes() {
        let stss = b.open_full(b"stss", 0, 0);
        b.u32(p.keyframes);
        b.hole(k, Table::Stss, p.keyframes as u64 * 4);
        b.close(stss);
    }

    let stsc = b.open_full(b"stsc", 0, 0);
    b.u32(p.stsc_runs);
    b.hole(k, Table::Stsc, p.stsc_runs as u64 * 12);
    b.close(stsc);

    let stsz = b.open_full(b"stsz", 0, 0);
    b.u32(0);
    b.u32(p.samples());
    b.hole(k, Table::Stsz, p.samples() as u64 * 4);
    b.close(stsz);

    let stco = b.open_full(if co64 { b"co64" } else { b"stco" }, 0, 0);
    b.u32(p.chunks);
    b.hole(k, Table::Stco { wide: co64 }, p.chunks as u64 * if co64 { 8 } else { 4 });
    b.close(stco);
}
