//! AAC framing: ADTS headers and the AudioSpecificConfig (ISO/IEC 14496-3).

use crate::bits::BitReader;
use transcode_core::{Error, Result};

/// Sampling frequencies by `sampling_frequency_index`.
pub const SAMPLE_RATES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// The index of a sampling frequency, if it has one.
pub fn sample_rate_index(rate: u32) -> Option<u8> {
    SAMPLE_RATES.iter().position(|&r| r == rate).map(|i| i as u8)
}

/// Channel counts by `channel_configuration` (0 = defined in the payload).
const CHANNELS: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 8];

/// A parsed ADTS fixed + variable header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// 0 for MPEG-4, 1 for MPEG-2.
    pub mpeg_version_id: u8,
    /// Audio object type (profile + 1): 2 for AAC-LC.
    pub object_type: u8,
    pub sample_rate_index: u8,
    pub sample_rate: u32,
    pub channel_config: u8,
    pub channels: u8,
    /// Whole frame length in bytes, header included.
    pub frame_len: u16,
    /// 7, or 9 with a CRC.
    pub header_len: u8,
    pub buffer_fullness: u16,
    /// `number_of_raw_data_blocks_in_frame + 1`.
    pub raw_blocks: u8,
}

impl AdtsHeader {
    /// The fixed header size without CRC.
    pub const SIZE: usize = 7;

    /// Parses the header at the start of `b`; `None` unless it is a valid ADTS header
    /// whose frame length covers at least the header.
    pub fn parse(b: &[u8]) -> Option<AdtsHeader> {
        if b.len() < 7 || b[0] != 0xFF || b[1] & 0xF6 != 0xF0 {
            return None;
        }
        let protection_absent = b[1] & 1 == 1;
        let profile = b[2] >> 6;
        let sample_rate_index = (b[2] >> 2) & 0xF;
        let sample_rate = *SAMPLE_RATES.get(sample_rate_index as usize)?;
        let channel_config = ((b[2] & 1) << 2) | (b[3] >> 6);
        let frame_len = (((b[3] & 3) as u16) << 11) | ((b[4] as u16) << 3) | ((b[5] as u16) >> 5);
        let header_len = if protection_absent { 7 } else { 9 };
        if frame_len < header_len as u16 {
            return None;
        }
        Some(AdtsHeader {
            mpeg_version_id: (b[1] >> 3) & 1,
            object_type: profile + 1,
            sample_rate_index,
            sample_rate,
            channel_config,
            channels: CHANNELS[channel_config as usize],
            frame_len,
            header_len,
            buffer_fullness: (((b[5] & 0x1F) as u16) << 6) | ((b[6] as u16) >> 2),
            raw_blocks: (b[6] & 3) + 1,
        })
    }
}

/// An AudioSpecificConfig: the codec configuration of raw AAC (MP4 `esds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type: 2 AAC-LC, 5 SBR, 29 PS, ...
    pub object_type: u8,
    pub sample_rate_index: u8,
    pub sample_rate: u32,
    pub channel_config: u8,
    /// The record as given, when parsed; re-emitted unchanged by [`Self::to_bytes`].
    pub raw: Vec<u8>,
}

impl AudioSpecificConfig {
    /// Parses the leading fields of a config (object type, rate, channels).
    pub fn parse(b: &[u8]) -> Result<AudioSpecificConfig> {
        let mut r = BitReader::new(b);
        let mut object_type = r.bits(5).map_err(|_| Error::invalid("audio specific config is cut off"))?;
        if object_type == 31 {
            object_type = 32 + r.bits(6).map_err(|_| Error::invalid("audio specific config is cut off"))?;
        }
        let sample_rate_index = r.bits(4).map_err(|_| Error::invalid("audio specific config is cut off"))? as u8;
        let sample_rate = if sample_rate_index == 15 {
            r.bits(24).map_err(|_| Error::invalid("audio specific config is cut off"))?
        } else {
            *SAMPLE_RATES.get(sample_rate_index as usize).ok_or_else(|| {
                Error::invalid(format!("sampling frequency index {sample_rate_index} (expected 0..=12 or 15)"))
            })?
        };
        let channel_config = r.bits(4).map_err(|_| Error::invalid("audio specific config is cut off"))? as u8;
        if sample_rate == 0 {
            return Err(Error::invalid("sampling frequency 0 (expected a positive rate)"));
        }
        Ok(AudioSpecificConfig {
            object_type: object_type as u8,
            sample_rate_index,
            sample_rate,
            channel_config,
            raw: b.to_vec(),
        })
    }

    /// The config from an ADTS header, as FFmpeg's `aac_adtstoasc` writes it (2 bytes).
    pub fn from_adts(h: &AdtsHeader) -> AudioSpecificConfig {
        let v: u16 = (h.object_type as u16) << 11 | (h.sample_rate_index as u16) << 7 | (h.channel_config as u16) << 3;
        AudioSpecificConfig {
            object_type: h.object_type,
            sample_rate_index: h.sample_rate_index,
            sample_rate: h.sample_rate,
            channel_config: h.channel_config,
            raw: v.to_be_bytes().to_vec(),
        }
    }

    /// The config's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.raw.clone()
    }

    /// Channel count from the channel configuration (0 when defined in the payload).
    pub fn channels(&self) -> u8 {
        CHANNELS.get(self.channel_config as usize).copied().unwrap_or(0)
    }
}

/// A 7-byte ADTS header (no CRC) for a payload of `payload_len` bytes, as FFmpeg's ADTS
/// and MPEG-TS muxers write it: MPEG-4 id, buffer fullness 0x7FF, one raw data block.
/// Fails when the frame would not fit the 13-bit length or the config cannot be
/// expressed in ADTS (object type above 4, explicit sampling frequency).
pub fn write_adts_header(asc: &AudioSpecificConfig, payload_len: usize) -> Result<[u8; 7]> {
    let full = payload_len + 7;
    if full > 0x1FFF {
        return Err(Error::invalid(format!("aac frame of {full} bytes (expected at most 8191 for adts)")));
    }
    if !(1..=4).contains(&asc.object_type) || asc.sample_rate_index > 12 || asc.channel_config > 7 {
        return Err(Error::unsupported(format!(
            "aac object type {} at sampling index {} cannot be written as adts",
            asc.object_type, asc.sample_rate_index
        )));
    }
    let profile = asc.object_type - 1;
    let full = full as u32;
    Ok([
        0xFF,
        0xF1,
        profile << 6 | asc.sample_rate_index << 2 | asc.channel_config >> 2,
        (asc.channel_config & 3) << 6 | (full >> 11) as u8,
        (full >> 3) as u8,
        ((full & 7) as u8) << 5 | 0x1F,
        0xFC,
    ])
}
