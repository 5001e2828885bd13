//! Sample descriptions (`stsd`): which codec a track carries and its configuration.
//!
//! Recognised entries: `avc1`/`avc3` + `avcC`, `hvc1`/`hev1` + `hvcC`, `mp4a` + `esds`
//! (AAC, and MPEG audio with object type 0x69/0x6B), `.mp3`, `mp4v` + `esds` with an
//! MPEG-1/2 video object type (0x60-0x65, 0x6A), and `ac-3`. Anything else makes the
//! track unsupported; the demuxer skips it.

use super::boxes::{children, find, Rd};
use transcode_core::{AudioParams, BitstreamFormat, CodecId, ColorDescription, ColorRange, Error, Result, VideoParams};

/// What the first sample entry of a track says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SampleDesc {
    pub codec: CodecId,
    pub format: BitstreamFormat,
    pub extradata: Vec<u8>,
    pub video: Option<VideoParams>,
    pub audio: Option<AudioParams>,
    /// MPEG audio object types name "MPEG audio" without the layer; the first frame
    /// header tells MP2 from MP3.
    pub mpeg_audio_layer_unknown: bool,
}

/// Parses the `stsd` body at input offset `base`. `Ok(None)` for an entry this build
/// does not read (the track is skipped, not an error).
pub(crate) fn parse_stsd(body: &[u8], base: u64) -> Result<Option<SampleDesc>> {
    let mut r = Rd::new(body, base, "stsd");
    r.version_flags()?;
    let count = r.u32()?;
    if count == 0 {
        return Err(Error::invalid_at(base, "stsd has no sample entries (expected at least 1)"));
    }
    let entries_base = r.offset();
    let entries = r.rest();
    // Only the first sample entry is used: tracks that switch descriptions mid-stream are
    // rare and a remux could not express the switch in most outputs anyway.
    let Some(first) = children(entries, entries_base).next() else {
        return Err(Error::invalid_at(entries_base, "stsd entry missing (expected a sample entry box)"));
    };
    let entry = first?;
    match &entry.typ {
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"mp4v" | b"encv" => visual(entry.typ, entry.body, entry.base),
        b"mp4a" | b".mp3" | b"ac-3" => audio(entry.typ, entry.body, entry.base),
        other => {
            tracing::warn!("skipping a track with sample entry '{}'", super::boxes::fourcc_str(other));
            Ok(None)
        }
    }
}

fn visual(typ: [u8; 4], body: &[u8], base: u64) -> Result<Option<SampleDesc>> {
    let mut r = Rd::new(body, base, "visual sample entry");
    // SampleEntry: 6 reserved + data_reference_index; VisualSampleEntry: 16 bytes of
    // pre_defined/reserved, then width and height.
    r.skip(8 + 16)?;
    let width = r.u16()? as u32;
    let height = r.u16()? as u32;
    // resolutions, reserved, frame_count, compressorname[32], depth, pre_defined.
    r.skip(4 + 4 + 4 + 2 + 32 + 2 + 2)?;
    let kids_base = r.offset();
    let kids = r.rest();
    let mut video = VideoParams { width, height, ..Default::default() };
    match &typ {
        b"avc1" | b"avc3" => {
            let c = find(kids, kids_base, b"avcC")?
                .ok_or_else(|| Error::invalid_at(base, "avc1 sample entry without an avcC box"))?;
            if c.body.len() < 7 || c.body[0] != 1 {
                return Err(Error::invalid_at(c.base, "avcC record too short or not version 1"));
            }
            video.profile = c.body[1];
            video.level = c.body[3];
            // The first SPS read in place (no copy of the record per open).
            let sps = first_avcc_sps(c.body).and_then(|s| transcode_codec::h264::parse_sps(s).ok());
            video.color = match colr(kids, kids_base) {
                Some(color) => color,
                None => sps.as_ref().map_or(ColorDescription::UNSPECIFIED, |sps| sps.color),
            };
            if let Some(sps) = &sps {
                // As in the codec's own description (`transcode_codec::describe`).
                video.field_order = sps.frame_mbs_only.then_some(transcode_core::FieldOrder::Progressive);
                video.sar = sps.sar.filter(|&(n, d)| n > 0 && d > 0);
            }
            let len_size = (c.body[4] & 3) + 1;
            Ok(Some(SampleDesc {
                codec: CodecId::H264,
                format: BitstreamFormat::LengthPrefixed { len_size },
                extradata: c.body.to_vec(),
                video: Some(video),
                audio: None,
                mpeg_audio_layer_unknown: false,
            }))
        }
        b"hvc1" | b"hev1" => {
            let c = find(kids, kids_base, b"hvcC")?
                .ok_or_else(|| Error::invalid_at(base, "hvc1 sample entry without an hvcC box"))?;
            if c.body.len() < 23 {
                return Err(Error::invalid_at(c.base, "hvcC record shorter than its 23-byte header"));
            }
            video.profile = c.body[1] & 0x1F;
            video.level = c.body[12];
            let sps = transcode_codec::h265::HvcC::parse(c.body)
                .ok()
                .and_then(|rec| rec.first_sps().and_then(|s| transcode_codec::h265::parse_sps(s).ok()));
            video.color = match colr(kids, kids_base) {
                Some(color) => color,
                None => sps.as_ref().map_or(ColorDescription::UNSPECIFIED, |sps| sps.color),
            };
            video.sar = sps.and_then(|sps| sps.sar).filter(|&(n, d)| n > 0 && d > 0);
            let len_size = (c.body[21] & 3) + 1;
            Ok(Some(SampleDesc {
                codec: CodecId::H265,
                format: BitstreamFormat::LengthPrefixed { len_size },
                extradata: c.body.to_vec(),
                video: Some(video),
                audio: None,
                mpeg_audio_layer_unknown: false,
            }))
        }
        b"mp4v" => {
            let Some(c) = find(kids, kids_base, b"esds")? else {
                return Err(Error::invalid_at(base, "mp4v sample entry without an esds box"));
            };
            let es = parse_esds(c.body, c.base)?;
            match es.object_type {
                0x60..=0x65 | 0x6A => Ok(Some(SampleDesc {
                    codec: if es.object_type == 0x6A { CodecId::Mpeg1Video } else { CodecId::Mpeg2Video },
                    format: BitstreamFormat::Raw,
                    extradata: es.config.to_vec(),
                    video: Some(video),
                    audio: None,
                    mpeg_audio_layer_unknown: false,
                })),
                oti => {
                    tracing::warn!("skipping an mp4v track with object type {oti:#04x} (expected MPEG-1/2 video)");
                    Ok(None)
                }
            }
        }
        _ => {
            tracing::warn!("skipping an encrypted video track");
            Ok(None)
        }
    }
}

/// The first SPS of an avcC record, in place (the record is not copied apart: a
/// demuxer opens each track once per pass).
fn first_avcc_sps(avcc: &[u8]) -> Option<&[u8]> {
    if avcc.get(5)? & 0x1F == 0 {
        return None;
    }
    let len = u16::from_be_bytes([*avcc.get(6)?, *avcc.get(7)?]) as usize;
    avcc.get(8..8 + len)
}

/// The colour description of a visual sample entry's `colr` box, as FFmpeg reads it:
/// `nclx` (ISO, with the full-range flag) or `nclc` (QuickTime, without); `None`
/// without a box of either kind (an ICC profile says nothing transcode uses). Without
/// one, the codec configuration's SPS says. A damaged box is ignored: it costs the
/// colour description, not the track.
fn colr(kids: &[u8], base: u64) -> Option<ColorDescription> {
    colr_box(kids, base).ok().flatten()
}

fn colr_box(kids: &[u8], base: u64) -> Result<Option<ColorDescription>> {
    let Some(c) = find(kids, base, b"colr")? else { return Ok(None) };
    let mut r = Rd::new(c.body, c.base, "colr");
    let kind = [r.u8()?, r.u8()?, r.u8()?, r.u8()?];
    if &kind != b"nclx" && &kind != b"nclc" {
        return Ok(None);
    }
    let code = |v: u16| u8::try_from(v).unwrap_or(transcode_core::COLOR_UNSPECIFIED);
    let (p, t, m) = (code(r.u16()?), code(r.u16()?), code(r.u16()?));
    let range = match &kind {
        b"nclx" if r.u8()? & 0x80 != 0 => ColorRange::Full,
        b"nclx" => ColorRange::Limited,
        _ => ColorRange::Unspecified,
    };
    Ok(Some(ColorDescription::from_codes(range, p, t, m)))
}

fn audio(typ: [u8; 4], body: &[u8], base: u64) -> Result<Option<SampleDesc>> {
    let mut r = Rd::new(body, base, "audio sample entry");
    r.skip(8)?;
    // QuickTime sound descriptions put a version here; ISO files have zero.
    let version = r.u16()?;
    r.skip(6)?;
    let channels = r.u16()?;
    r.skip(2 + 2 + 2)?;
    let rate_fixed = r.u32()?;
    match version {
        0 => {}
        1 => r.skip(16)?,
        2 => {
            // Version 2 carries the rate as a float64 and the channel count again.
            r.skip(4)?;
            let rate = f64::from_bits(r.u64()?);
            let ch = r.u32()?;
            r.skip(20)?;
            let audio = AudioParams { sample_rate: rate as u32, channels: ch.min(255) as u8, frame_samples: 0 };
            return audio_kids(typ, r, base, audio);
        }
        v => return Err(Error::invalid_at(base + 8, format!("audio sample entry version {v} (expected 0, 1 or 2)"))),
    }
    let audio = AudioParams { sample_rate: rate_fixed >> 16, channels: channels.min(255) as u8, frame_samples: 0 };
    audio_kids(typ, r, base, audio)
}

fn audio_kids(typ: [u8; 4], mut r: Rd<'_>, base: u64, mut audio: AudioParams) -> Result<Option<SampleDesc>> {
    let kids_base = r.offset();
    let kids = r.rest();
    let mpeg_audio = |audio: AudioParams| SampleDesc {
        codec: CodecId::Mp3,
        format: BitstreamFormat::Raw,
        extradata: Vec::new(),
        video: None,
        audio: Some(AudioParams { frame_samples: 1152, ..audio }),
        mpeg_audio_layer_unknown: true,
    };
    match &typ {
        b".mp3" => Ok(Some(mpeg_audio(audio))),
        b"ac-3" => Ok(Some(SampleDesc {
            codec: CodecId::Ac3,
            format: BitstreamFormat::Raw,
            extradata: find(kids, kids_base, b"dac3")?.map(|c| c.body.to_vec()).unwrap_or_default(),
            video: None,
            audio: Some(AudioParams { frame_samples: 1536, ..audio }),
            mpeg_audio_layer_unknown: false,
        })),
        _ => {
            // esds directly in the entry (ISO) or inside a 'wave' box (QuickTime).
            let mut esds = find(kids, kids_base, b"esds")?;
            if esds.is_none() {
                if let Some(w) = find(kids, kids_base, b"wave")? {
                    esds = find(w.body, w.base, b"esds")?;
                }
            }
            let Some(c) = esds else {
                return Err(Error::invalid_at(base, "mp4a sample entry without an esds box"));
            };
            let es = parse_esds(c.body, c.base)?;
            match es.object_type {
                0x40 | 0x66..=0x68 => {
                    if let Some(asc) = asc_summary(es.config) {
                        audio.sample_rate = asc.0;
                        if asc.1 != 0 {
                            audio.channels = asc.1;
                        }
                        audio.frame_samples = asc.2;
                    } else {
                        audio.frame_samples = 1024;
                    }
                    Ok(Some(SampleDesc {
                        codec: CodecId::Aac,
                        format: BitstreamFormat::Raw,
                        extradata: es.config.to_vec(),
                        video: None,
                        audio: Some(audio),
                        mpeg_audio_layer_unknown: false,
                    }))
                }
                0x69 | 0x6B => Ok(Some(mpeg_audio(audio))),
                oti => {
                    tracing::warn!("skipping an mp4a track with object type {oti:#04x}");
                    Ok(None)
                }
            }
        }
    }
}

/// The parts of an `esds` ES_Descriptor the demuxer needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Esds<'a> {
    pub object_type: u8,
    /// DecoderSpecificInfo: the AudioSpecificConfig, the MPEG-2 sequence header, ...
    pub config: &'a [u8],
}

/// Reads an MPEG-4 descriptor header (tag, expandable length) and checks the length fits.
fn descriptor<'a>(r: &mut Rd<'a>) -> Result<(u8, Rd<'a>)> {
    let tag = r.u8()?;
    let mut len: u32 = 0;
    for i in 0..4 {
        let b = r.u8()?;
        len = (len << 7) | (b & 0x7F) as u32;
        if b & 0x80 == 0 {
            break;
        }
        if i == 3 {
            return Err(Error::invalid_at(r.offset(), "descriptor length uses more than 4 bytes"));
        }
    }
    let at = r.offset();
    let len = len as usize;
    if len > r.remaining() {
        return Err(Error::invalid_at(
            at,
            format!("descriptor tag {tag} claims {len} bytes but {} are left", r.remaining()),
        ));
    }
    Ok((tag, Rd::new(r.bytes(len)?, at, "esds descriptor")))
}

/// Parses an `esds` body (full box header, then an ES_Descriptor).
pub(crate) fn parse_esds(body: &[u8], base: u64) -> Result<Esds<'_>> {
    let mut r = Rd::new(body, base, "esds");
    r.version_flags()?;
    let (tag, mut es) = descriptor(&mut r)?;
    if tag != 3 {
        return Err(Error::invalid_at(base + 4, format!("esds starts with descriptor tag {tag} (expected 3)")));
    }
    es.skip(2)?;
    let flags = es.u8()?;
    if flags & 0x80 != 0 {
        es.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let n = es.u8()? as usize;
        es.skip(n)?;
    }
    if flags & 0x20 != 0 {
        es.skip(2)?;
    }
    while es.remaining() > 0 {
        let (tag, mut d) = descriptor(&mut es)?;
        if tag != 4 {
            continue;
        }
        let object_type = d.u8()?;
        d.skip(12)?;
        let mut config: &[u8] = &[];
        while d.remaining() > 0 {
            let (tag, mut dsi) = descriptor(&mut d)?;
            if tag == 5 {
                config = dsi.rest();
                break;
            }
        }
        return Ok(Esds { object_type, config });
    }
    Err(Error::invalid_at(base, "esds without a DecoderConfigDescriptor (tag 4)"))
}

/// Sample rate, channel count and frame length from an AudioSpecificConfig.
///
/// Private stand-in for `transcode_codec::aac::AudioSpecificConfig`, to be replaced
/// once that exists.
pub(crate) fn asc_summary(asc: &[u8]) -> Option<(u32, u8, u32)> {
    const RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
    let mut bits = transcode_codec::bits::BitReader::new(asc);
    let mut aot = bits.bits(5).ok()?;
    if aot == 31 {
        aot = 32 + bits.bits(6).ok()?;
    }
    let idx = bits.bits(4).ok()?;
    let rate = if idx == 15 { bits.bits(24).ok()? } else { *RATES.get(idx as usize)? };
    let channels = bits.bits(4).ok()? as u8;
    // GASpecificConfig's frameLengthFlag for the usual object types.
    let frame = if matches!(aot, 1..=4 | 6 | 7 | 17 | 19..=23) && bits.bit().ok()? { 960 } else { 1024 };
    Some((rate, channels, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_48k_stereo_lc() {
        assert_eq!(asc_summary(&[0x11, 0x90]), Some((48000, 2, 1024)));
        assert_eq!(asc_summary(&[0x11]), None);
    }

    #[test]
    fn esds_of_the_fixture() {
        let esds = [
            0, 0, 0, 0, 3, 0x80, 0x80, 0x80, 0x25, 0, 2, 0, 4, 0x80, 0x80, 0x80, 0x17, 0x40, 0x15, 0, 0, 0, 0, 1, 0x78,
            0x8b, 0, 1, 0x78, 0x8b, 5, 0x80, 0x80, 0x80, 5, 0x11, 0x90, 0x56, 0xe5, 0, 6, 0x80, 0x80, 0x80, 1, 2,
        ];
        let es = parse_esds(&esds, 0).unwrap();
        assert_eq!(es.object_type, 0x40);
        assert_eq!(es.config, &[0x11, 0x90, 0x56, 0xe5, 0]);
        assert!(parse_esds(&esds[..20], 0).is_err());
    }
}
