//! Elementary-stream muxers: one stream written bare, as `.h264`/`.h265` (Annex-B),
//! `.aac` (ADTS), `.mp2`/`.mp3` (frames as they are), `.m2v`, or `.y4m`.
//!
//! # Design
//!
//! - Packets already in the file's framing are written unchanged, so Annex-B → `.h264`
//!   and ADTS → `.aac` reproduce the input byte for byte.
//! - Length-prefixed H.264/H.265 (from MP4) is converted with FFmpeg's
//!   `h264_mp4toannexb`/`hevc_mp4toannexb` rules ([`Mp4ToAnnexB`]): the parameter sets of
//!   the avcC/hvcC go before keyframes, so the output equals `ffmpeg -c:v copy -f h264`.
//! - Raw AAC gets the 7-byte ADTS header FFmpeg's ADTS muxer writes.
//! - One conversion buffer is reused for every packet: no allocation per packet.

use std::io::Write;

use transcode_codec::aac::{write_adts_header, AudioSpecificConfig};
use transcode_codec::h264::AvcC;
use transcode_codec::h265::HvcC;
use transcode_codec::nal::Mp4ToAnnexB;
use transcode_codec::y4m::Y4mHeader;
use transcode_core::{BitstreamFormat, CodecId, Error, PacketView, Result, StreamInfo};

use crate::Muxer;

/// Which elementary-stream file to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsKind {
    /// H.264 Annex-B (`.h264`, `.264`, `.avc`).
    H264,
    /// H.265 Annex-B (`.h265`, `.265`, `.hevc`).
    H265,
    /// AAC in ADTS frames (`.aac`, `.adts`).
    Adts,
    /// MPEG audio frames (`.mp2`, `.mp3`, `.mpa`).
    MpegAudio,
    /// MPEG-1/2 video elementary stream (`.m2v`, `.m1v`, `.mpv`).
    Mpeg2Video,
    /// YUV4MPEG2 raw video (`.y4m`).
    Y4m,
}

impl EsKind {
    /// The kind for a file extension (without the dot, any case), if it is one.
    pub fn from_extension(ext: &str) -> Option<EsKind> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "h264" | "264" | "avc" => EsKind::H264,
            "h265" | "265" | "hevc" => EsKind::H265,
            "aac" | "adts" => EsKind::Adts,
            "mp2" | "mp3" | "mpa" => EsKind::MpegAudio,
            "m2v" | "m1v" | "mpv" => EsKind::Mpeg2Video,
            "y4m" => EsKind::Y4m,
            _ => return None,
        })
    }

    /// Whether this kind can carry `codec`.
    pub fn accepts(self, codec: CodecId) -> bool {
        matches!(
            (self, codec),
            (EsKind::H264, CodecId::H264)
                | (EsKind::H265, CodecId::H265)
                | (EsKind::Adts, CodecId::Aac)
                | (EsKind::MpegAudio, CodecId::Mp2 | CodecId::Mp3)
                | (EsKind::Mpeg2Video, CodecId::Mpeg1Video | CodecId::Mpeg2Video)
                | (EsKind::Y4m, CodecId::RawVideo)
        )
    }
}

/// How packets of the chosen stream become file bytes.
#[derive(Debug)]
enum Conv {
    /// Written as they are.
    Copy,
    /// Length-prefixed NAL units to Annex-B.
    AnnexB(Box<Mp4ToAnnexB>),
    /// Raw AAC to ADTS.
    Adts(AudioSpecificConfig),
    /// Raw pictures, each after a `FRAME` line, of this many bytes.
    Y4m(usize),
}

/// Writes the first stream that fits its [`EsKind`]; packets of other streams are
/// ignored (an elementary stream holds one stream).
pub struct EsMuxer {
    out: Box<dyn Write + Send>,
    kind: EsKind,
    stream: Option<usize>,
    conv: Conv,
    buf: Vec<u8>,
    written: u64,
}

impl std::fmt::Debug for EsMuxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsMuxer")
            .field("kind", &self.kind)
            .field("stream", &self.stream)
            .field("written", &self.written)
            .finish()
    }
}

impl EsMuxer {
    /// A muxer writing to `out`.
    pub fn new(out: Box<dyn Write + Send>, kind: EsKind) -> Self {
        EsMuxer { out, kind, stream: None, conv: Conv::Copy, buf: Vec::new(), written: 0 }
    }

    /// The index of the stream being written, once [`Muxer::begin`] has chosen it.
    pub fn stream(&self) -> Option<usize> {
        self.stream
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out.write_all(data)?;
        self.written += data.len() as u64;
        Ok(())
    }

    fn y4m_header(s: &StreamInfo) -> Result<Y4mHeader> {
        // A Y4M source keeps its own header line: reuse its tags where they still fit.
        if let Ok(h) = Y4mHeader::parse(&s.extradata) {
            if !s.video.is_some_and(|v| v.width != h.width || v.height != h.height) {
                return Ok(h);
            }
        }
        let v = s.video.ok_or_else(|| Error::invalid("raw video stream without a picture size"))?;
        let rate = v.frame_rate.unwrap_or((s.time_base.den, s.time_base.num.max(1)));
        let h = Y4mHeader {
            width: v.width,
            height: v.height,
            frame_rate: rate,
            colourspace: "420jpeg".into(),
            range: v.color.range,
            field_order: v.field_order,
            sar: v.sar,
        };
        if !(1..=65536).contains(&h.width) || !(1..=65536).contains(&h.height) {
            return Err(Error::invalid(format!("picture size {}x{} (expected 1..=65536 each)", h.width, h.height)));
        }
        Ok(h)
    }
}

impl Muxer for EsMuxer {
    fn begin(&mut self, streams: &[StreamInfo]) -> Result<()> {
        let s = streams.iter().find(|s| self.kind.accepts(s.codec)).ok_or_else(|| {
            Error::unsupported(format!("no stream can be written as {:?} (streams: {})", self.kind, {
                let names: Vec<&str> = streams.iter().map(|s| s.codec.name()).collect();
                names.join(", ")
            }))
        })?;
        self.stream = Some(s.index);
        self.conv = match (self.kind, s.format) {
            (EsKind::H264, BitstreamFormat::LengthPrefixed { .. }) => {
                let avcc = AvcC::parse(&s.extradata)?;
                Conv::AnnexB(Box::new(Mp4ToAnnexB::h264(&avcc)))
            }
            (EsKind::H265, BitstreamFormat::LengthPrefixed { .. }) => {
                let hvcc = HvcC::parse(&s.extradata)?;
                Conv::AnnexB(Box::new(Mp4ToAnnexB::h265(&hvcc)))
            }
            (EsKind::Adts, BitstreamFormat::Raw) => Conv::Adts(AudioSpecificConfig::parse(&s.extradata)?),
            (EsKind::Y4m, _) => {
                let h = Self::y4m_header(s)?;
                let size =
                    h.frame_size().ok_or_else(|| Error::unsupported(format!("y4m colourspace {}", h.colourspace)))?;
                let mut line = h.to_line().into_bytes();
                // Keep the source's own header line when it describes the same pictures.
                if Y4mHeader::parse(&s.extradata).is_ok_and(|x| x == h) {
                    line = s.extradata.clone();
                }
                line.push(b'\n');
                self.write(&line)?;
                Conv::Y4m(size as usize)
            }
            _ => Conv::Copy,
        };
        Ok(())
    }

    fn write_packet(&mut self, pkt: &PacketView<'_>) -> Result<()> {
        if Some(pkt.stream) != self.stream {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let result = match &mut self.conv {
            Conv::Copy => self.write(pkt.data),
            Conv::AnnexB(conv) => match conv.convert(pkt.data, &mut buf) {
                Ok(()) => self.write(&buf),
                Err(e) => Err(e),
            },
            Conv::Adts(asc) => match write_adts_header(asc, pkt.data.len()) {
                Ok(h) => self.write(&h).and_then(|_| self.write(pkt.data)),
                Err(e) => Err(e),
            },
            Conv::Y4m(size) => {
                if pkt.data.len() != *size {
                    Err(Error::invalid(format!("raw picture of {} bytes (expected {size})", pkt.data.len())))
                } else {
                    self.write(b"FRAME\n").and_then(|_| self.write(pkt.data))
                }
            }
        };
        self.buf = buf;
        result
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }

    fn bytes_written(&self) -> u64 {
        self.written
    }
}
