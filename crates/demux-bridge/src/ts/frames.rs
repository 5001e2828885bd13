//! Audio frame splitting and payload probing for PES payloads.

use transcode_codec::aac::AdtsHeader;
use transcode_codec::mpega::FrameHeader;
use transcode_core::CodecId;

/// How the payload of a stream's PES is cut into packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One packet per PES (video: one access unit per PES; unknown streams).
    WholePes,
    /// One packet per ADTS frame, header included.
    Adts,
    /// One packet per MPEG audio frame.
    MpegAudio,
    /// One packet per AC-3 sync frame.
    Ac3,
}

impl Framing {
    pub fn for_codec(codec: CodecId) -> Framing {
        match codec {
            CodecId::Aac => Framing::Adts,
            CodecId::Mp2 | CodecId::Mp3 => Framing::MpegAudio,
            CodecId::Ac3 => Framing::Ac3,
            _ => Framing::WholePes,
        }
    }
}

/// One audio frame found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFrame {
    /// Whole frame length in bytes, header included.
    pub len: usize,
    pub sample_rate: u32,
    pub channels: u8,
    /// Samples per channel.
    pub samples: u32,
    /// MPEG audio layer (1-3); 0 for AAC and AC-3.
    pub layer: u8,
}

impl AudioFrame {
    /// The frame's duration in 90 kHz ticks, rounded down as FFmpeg does when it
    /// timestamps the frames that follow the first of a PES.
    pub fn duration_90k(&self) -> i64 {
        if self.sample_rate == 0 {
            return 0;
        }
        self.samples as i64 * 90_000 / self.sample_rate as i64
    }
}

/// Parses an ADTS header at the start of `b`.
pub fn adts_frame(b: &[u8]) -> Option<AudioFrame> {
    let h = AdtsHeader::parse(b)?;
    Some(AudioFrame {
        len: h.frame_len as usize,
        sample_rate: h.sample_rate,
        channels: h.channels,
        samples: 1024 * h.raw_blocks as u32,
        layer: 0,
    })
}

/// Parses an MPEG audio header at the start of `b`.
pub fn mpeg_audio_frame(b: &[u8]) -> Option<AudioFrame> {
    let h = FrameHeader::parse(b)?;
    Some(AudioFrame {
        len: h.frame_len as usize,
        sample_rate: h.sample_rate,
        channels: h.channels,
        samples: h.samples,
        layer: h.layer,
    })
}

/// Parses an AC-3 header at the start of `b`.
pub fn ac3_frame(b: &[u8]) -> Option<AudioFrame> {
    let h = transcode_codec::ac3::FrameHeader::parse(b)?;
    Some(AudioFrame { len: h.frame_len as usize, sample_rate: h.sample_rate, channels: h.channels, samples: h.samples, layer: 0 })
}

/// The frame at the start of `b` in the given framing.
#[inline]
pub fn audio_frame(framing: Framing, b: &[u8]) -> Option<AudioFrame> {
    match framing {
        Framing::Adts => adts_frame(b),
        Framing::MpegAudio => mpeg_audio_frame(b),
        Framing::Ac3 => ac3_frame(b),
        Framing::WholePes => None,
    }
}

/// The offset of the next plausible frame header in `b` after position 0, or `b.len()`.
pub fn next_frame_start(framing: Framing, b: &[u8]) -> usize {
    // The first byte of the sync word: 0x0B77 for AC-3, 12 or more set bits otherwise.
    let sync = if framing == Framing::Ac3 { 0x0B } else { 0xFF };
    let mut i = 1;
    while i + 1 < b.len() {
        match b[i..].iter().position(|&x| x == sync) {
            Some(k) => i += k,
            None => return b.len(),
        }
        if audio_frame(framing, &b[i..]).is_some() {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// Identifies the codec of a private-data stream (stream type 0x06 without a descriptor
/// that says) from the payload of its first PES, as FFmpeg probes it: a chain of ADTS
/// frames is AAC, of MPEG audio frames MP2/MP3, an AC-3 sync word AC-3.
pub fn probe_private(payload: &[u8]) -> Option<CodecId> {
    let chain = |framing: Framing| -> bool {
        let Some(f) = audio_frame(framing, payload) else { return false };
        // The next frame must follow where the data reaches that far.
        f.len >= payload.len() || audio_frame(framing, &payload[f.len..]).is_some()
    };
    if chain(Framing::Adts) {
        Some(CodecId::Aac)
    } else if chain(Framing::MpegAudio) {
        let layer = mpeg_audio_frame(payload).map_or(2, |f| f.layer);
        Some(if layer == 3 { CodecId::Mp3 } else { CodecId::Mp2 })
    } else if payload.starts_with(&[0x0B, 0x77]) {
        Some(CodecId::Ac3)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adts_header_fields() {
        // The first ADTS header of testdata/ts/h264_aac.ts: AAC-LC, 48 kHz, stereo.
        let h = [0xFF, 0xF1, 0x4C, 0x80, 0x1E, 0xBF, 0xFC];
        let f = adts_frame(&h).unwrap();
        assert_eq!((f.len, f.sample_rate, f.channels, f.samples), (245, 48000, 2, 1024));
        assert_eq!(f.duration_90k(), 1920);
    }

    #[test]
    fn private_streams_are_probed() {
        let mut two = vec![0u8; 490];
        two[..7].copy_from_slice(&[0xFF, 0xF1, 0x4C, 0x80, 0x1E, 0xBF, 0xFC]);
        two[245..252].copy_from_slice(&[0xFF, 0xF1, 0x4C, 0x80, 0x1E, 0xBF, 0xFC]);
        assert_eq!(probe_private(&two), Some(CodecId::Aac));
        assert_eq!(probe_private(&[0x0B, 0x77, 0, 0]), Some(CodecId::Ac3));
        assert_eq!(probe_private(&[1, 2, 3]), None);
    }
}
