//! The movie box: tracks, their timing, edit lists, sample descriptions and tables.

use super::boxes::{children, find, Child, Rd};
use super::stsd::{parse_stsd, SampleDesc};
use super::tables::{table, SampleTables, Sizes};
use transcode_core::{Error, MemoryConfig, Result, StreamInfo, TimeBase};

/// Most tracks one movie may declare. Real files have a handful; the bound only keeps
/// a hostile moov from making thousands of stream descriptions.
pub(crate) const MAX_TRACKS: u64 = 1024;

/// Per-track defaults from `mvex/trex`, used by track fragments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Trex {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
}

/// One track the demuxer can deliver.
#[derive(Debug, Clone)]
pub(crate) struct Track {
    /// The stream description; `index` is set by the demuxer.
    pub info: StreamInfo,
    pub tables: SampleTables,
    /// Edit-list shift in track ticks, added to every decode and presentation time.
    pub shift: i64,
    pub trex: Trex,
    pub is_audio: bool,
    /// Whether the codec still needs telling apart from the first frame (MPEG audio).
    pub probe_layer: bool,
}

/// What the moov says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Movie {
    pub tracks: Vec<Track>,
    /// `mvex` present: samples (also) come in movie fragments.
    pub fragmented: bool,
    /// `trak` boxes in the moov, read or not.
    pub declared_tracks: u64,
}

/// Parses a whole moov box. `moov` holds the box from its first header byte, which is at
/// input offset `base`; table positions are recorded relative to `moov[0]`.
pub(crate) fn parse_moov(moov: &[u8], header_len: usize, base: u64, config: &MemoryConfig) -> Result<Movie> {
    let body = &moov[header_len..];
    let body_base = base + header_len as u64;
    let mut movie = Movie::default();
    let mut movie_timescale = 1000;
    let mut trex: Vec<(u32, Trex)> = Vec::new();
    let mut traks = 0u64;
    for c in children(body, body_base) {
        let c = c?;
        match &c.typ {
            b"mvhd" => {
                let mut r = Rd::new(c.body, c.base, "mvhd");
                let (v, _) = r.version_flags()?;
                r.skip(if v == 1 { 16 } else { 8 })?;
                movie_timescale = r.u32()?;
            }
            b"trak" => {
                traks += 1;
                Error::check_limit("mp4 tracks", traks, MAX_TRACKS)?;
            }
            b"mvex" => {
                movie.fragmented = true;
                for k in children(c.body, c.base) {
                    let k = k?;
                    if &k.typ == b"trex" {
                        let mut r = Rd::new(k.body, k.base, "trex");
                        r.version_flags()?;
                        let id = r.u32()?;
                        r.u32()?;
                        let t = Trex { duration: r.u32()?, size: r.u32()?, flags: r.u32()? };
                        Error::check_limit("mp4 trex boxes", trex.len() as u64 + 1, MAX_TRACKS)?;
                        trex.push((id, t));
                    }
                }
            }
            _ => {}
        }
    }
    movie.declared_tracks = traks;
    for c in children(body, body_base) {
        let c = c?;
        if &c.typ == b"trak" {
            if let Some(mut t) = parse_trak(moov, &c, base, movie_timescale, config)? {
                if let Some((_, x)) = trex.iter().find(|(id, _)| *id == t.info.id) {
                    t.trex = *x;
                }
                movie.tracks.push(t);
            }
        }
    }
    Ok(movie)
}

fn need<'a>(c: Option<Child<'a>>, what: &str, at: u64) -> Result<Child<'a>> {
    c.ok_or_else(|| Error::invalid_at(at, format!("track without a {what} box")))
}

fn parse_trak(
    moov: &[u8],
    trak: &Child<'_>,
    moov_base: u64,
    movie_timescale: u32,
    config: &MemoryConfig,
) -> Result<Option<Track>> {
    let tkhd = need(find(trak.body, trak.base, b"tkhd")?, "tkhd", trak.base)?;
    let mut r = Rd::new(tkhd.body, tkhd.base, "tkhd");
    let (v, _) = r.version_flags()?;
    r.skip(if v == 1 { 16 } else { 8 })?;
    let id = r.u32()?;

    let mdia = need(find(trak.body, trak.base, b"mdia")?, "mdia", trak.base)?;
    let mdhd = need(find(mdia.body, mdia.base, b"mdhd")?, "mdhd", mdia.base)?;
    let mut r = Rd::new(mdhd.body, mdhd.base, "mdhd");
    let (v, _) = r.version_flags()?;
    r.skip(if v == 1 { 16 } else { 8 })?;
    let timescale_at = r.offset();
    let timescale = r.u32()?;
    if timescale == 0 {
        return Err(Error::invalid_at(timescale_at, "mdhd timescale 0 (expected at least 1)"));
    }
    let duration = if v == 1 { r.u64()? } else { r.u32()? as u64 };
    let lang = r.u16()?;
    let language = if lang == 0 || lang == 0x7FFF {
        None
    } else {
        let c = |s: u16| (((lang >> s) & 0x1F) as u8).wrapping_add(0x60);
        Some([c(10), c(5), c(0)])
    };

    let minf = need(find(mdia.body, mdia.base, b"minf")?, "minf", mdia.base)?;
    let stbl = need(find(minf.body, minf.base, b"stbl")?, "stbl", minf.base)?;
    let stsd = need(find(stbl.body, stbl.base, b"stsd")?, "stsd", stbl.base)?;
    let Some(desc) = parse_stsd(stsd.body, stsd.base)? else {
        return Ok(None);
    };
    let tables = parse_tables(&stbl, moov_base, config)?;
    let edit = match find(trak.body, trak.base, b"edts")? {
        Some(edts) => match find(edts.body, edts.base, b"elst")? {
            Some(elst) => Some(edit_list(&elst, movie_timescale, timescale, config)?),
            None => None,
        },
        None => None,
    };
    let shift = edit.map_or(0, |e| e.shift);
    // Like ffprobe, the presented duration: the edit list's when there is one.
    let duration = match edit {
        Some(e) if e.duration > 0 => e.duration as u64,
        _ => duration,
    };

    let SampleDesc { codec, format, extradata, mut video, audio, mpeg_audio_layer_unknown } = desc;
    let mut info = StreamInfo::new(0, id, codec, format, TimeBase::new(1, timescale));
    if let (Some(v), Some(delta)) = (video.as_mut(), tables.main_delta(moov)) {
        let g = gcd(timescale, delta);
        v.frame_rate = Some((timescale / g, delta / g));
    }
    info.extradata = extradata;
    info.video = video;
    info.audio = audio;
    info.duration = (duration != 0 && duration != u32::MAX as u64 && duration != u64::MAX).then_some(duration as i64);
    info.language = language;
    let is_audio = info.audio.is_some();
    Ok(Some(Track { info, tables, shift, trex: Trex::default(), is_audio, probe_layer: mpeg_audio_layer_unknown }))
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Reads the sample tables of one `stbl`, validating every entry count before use.
fn parse_tables(stbl: &Child<'_>, moov_base: u64, config: &MemoryConfig) -> Result<SampleTables> {
    let max = config.max_table_entries;
    let mut t = SampleTables::default();
    let (mut have_sizes, mut have_stsc, mut have_chunks, mut have_stts) = (false, false, false, false);
    for c in children(stbl.body, stbl.base) {
        let c = c?;
        let mut r = Rd::new(c.body, c.base, "sample table");
        match &c.typ {
            b"stts" => {
                r.version_flags()?;
                t.stts = table(&mut r, moov_base, 64, "stts entries", max)?;
                have_stts = true;
            }
            b"ctts" => {
                r.version_flags()?;
                t.ctts = Some(table(&mut r, moov_base, 64, "ctts entries", max)?);
            }
            b"stss" => {
                r.version_flags()?;
                t.stss = Some(table(&mut r, moov_base, 32, "stss entries", max)?);
            }
            b"stsz" => {
                r.version_flags()?;
                let constant = r.u32()?;
                if constant != 0 {
                    let count = r.u32()?;
                    Error::check_limit("stsz entries", count as u64, max)?;
                    t.sizes = Sizes { constant, field_bits: 0, table: Default::default(), sample_count: count };
                } else {
                    let tb = table(&mut r, moov_base, 32, "stsz entries", max)?;
                    t.sizes = Sizes { constant: 0, field_bits: 32, table: tb, sample_count: tb.count };
                }
                have_sizes = true;
            }
            b"stz2" => {
                r.version_flags()?;
                r.skip(3)?;
                let at = r.offset();
                let bits = r.u8()?;
                if !matches!(bits, 4 | 8 | 16) {
                    return Err(Error::invalid_at(at, format!("stz2 field size {bits} (expected 4, 8 or 16)")));
                }
                let tb = table(&mut r, moov_base, bits as u64, "stz2 entries", max)?;
                t.sizes = Sizes { constant: 0, field_bits: bits, table: tb, sample_count: tb.count };
                have_sizes = true;
            }
            b"stsc" => {
                r.version_flags()?;
                t.stsc = table(&mut r, moov_base, 96, "stsc entries", max)?;
                have_stsc = true;
            }
            b"stco" => {
                r.version_flags()?;
                t.chunks = table(&mut r, moov_base, 32, "stco entries", max)?;
                t.chunk_offset_64 = false;
                have_chunks = true;
            }
            b"co64" => {
                r.version_flags()?;
                t.chunks = table(&mut r, moov_base, 64, "co64 entries", max)?;
                t.chunk_offset_64 = true;
                have_chunks = true;
            }
            _ => {}
        }
    }
    // Fragmented files have empty tables; a progressive track needs all four.
    for (have, what) in [(have_sizes, "stsz"), (have_stsc, "stsc"), (have_chunks, "stco"), (have_stts, "stts")] {
        if !have && t.sizes.sample_count > 0 {
            return Err(Error::invalid_at(stbl.base, format!("sample table without a {what} box")));
        }
    }
    Ok(t)
}

/// What an edit list says, in track ticks.
#[derive(Debug, Clone, Copy)]
struct Edit {
    /// The timestamp shift: the initial empty edits (media_time -1) delay the track, the
    /// first real edit's media_time advances it. Later edits are ignored (FFmpeg applies
    /// them by dropping and re-timing samples; a remuxer keeps every sample).
    shift: i64,
    /// Sum of all segment durations: the presented duration.
    duration: i64,
}

fn edit_list(elst: &Child<'_>, movie_timescale: u32, track_timescale: u32, config: &MemoryConfig) -> Result<Edit> {
    let mut r = Rd::new(elst.body, elst.base, "elst");
    let (v, _) = r.version_flags()?;
    let at = r.offset();
    let count = r.u32()?;
    Error::check_limit("elst entries", count as u64, config.max_table_entries)?;
    let entry = if v == 1 { 20 } else { 12 };
    if count as u64 * entry > r.remaining() as u64 {
        return Err(Error::invalid_at(at, format!("elst: {count} entries do not fit in {} bytes", r.remaining())));
    }
    let to_track = |t: i64| TimeBase::new(1, movie_timescale.max(1)).rescale(t, TimeBase::new(1, track_timescale));
    let (mut empty, mut total, mut media) = (0i64, 0i64, None);
    for _ in 0..count {
        let (seg, media_time) =
            if v == 1 { (r.u64()? as i64, r.u64()? as i64) } else { (r.u32()? as i64, r.u32()? as i32 as i64) };
        r.skip(4)?;
        let seg = seg.max(0);
        total = total.saturating_add(seg);
        if media.is_none() {
            if media_time == -1 {
                empty = empty.saturating_add(seg);
            } else {
                media = Some(media_time);
            }
        }
    }
    Ok(Edit { shift: to_track(empty).saturating_sub(media.unwrap_or(0)), duration: to_track(total) })
}
