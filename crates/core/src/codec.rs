//! Stream and codec descriptions.

use crate::{ColorDescription, TimeBase};

/// What kind of data a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    Video,
    Audio,
    Data,
}

/// The codecs transcode recognises. Remux copies any of them; decoding is per codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecId {
    H264,
    H265,
    /// MPEG-1 video (ISO/IEC 11172-2): no sequence extension.
    Mpeg1Video,
    Mpeg2Video,
    /// Uncompressed planar video (Y4M frames).
    RawVideo,
    Aac,
    /// MPEG-1/2 Audio Layer II.
    Mp2,
    /// MPEG-1/2 Audio Layer III.
    Mp3,
    Ac3,
    /// An MPEG-TS stream type transcode does not interpret; its payload can still be
    /// copied between TS files.
    Unknown(u8),
}

impl CodecId {
    /// The media type this codec belongs to.
    pub fn media_type(self) -> MediaType {
        match self {
            CodecId::H264 | CodecId::H265 | CodecId::Mpeg1Video | CodecId::Mpeg2Video | CodecId::RawVideo => MediaType::Video,
            CodecId::Aac | CodecId::Mp2 | CodecId::Mp3 | CodecId::Ac3 => MediaType::Audio,
            CodecId::Unknown(_) => MediaType::Data,
        }
    }

    /// Short lowercase name, as ffprobe spells it where it has one.
    pub fn name(self) -> &'static str {
        match self {
            CodecId::H264 => "h264",
            CodecId::H265 => "hevc",
            CodecId::Mpeg1Video => "mpeg1video",
            CodecId::Mpeg2Video => "mpeg2video",
            CodecId::RawVideo => "rawvideo",
            CodecId::Aac => "aac",
            CodecId::Mp2 => "mp2",
            CodecId::Mp3 => "mp3",
            CodecId::Ac3 => "ac3",
            CodecId::Unknown(_) => "unknown",
        }
    }
}

/// How a stream's packets are framed.
///
/// Demuxers report the framing they deliver; muxers convert to the framing their
/// container needs (for example Annex-B to length-prefixed for MP4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitstreamFormat {
    /// H.264/H.265 NAL units separated by start codes (`00 00 01`), as in TS and `.h264`.
    AnnexB,
    /// H.264/H.265 NAL units each preceded by a big-endian length of `len_size` bytes, as
    /// in MP4; the parameter sets are in [`StreamInfo::extradata`] (avcC/hvcC).
    LengthPrefixed { len_size: u8 },
    /// AAC frames each with their ADTS header.
    Adts,
    /// Frames as the codec defines them with no extra framing (raw AAC with its
    /// AudioSpecificConfig in `extradata`, MPEG audio frames, MPEG-2 pictures, raw video).
    Raw,
}

/// Video properties, where known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoParams {
    /// Displayed width in pixels, after cropping.
    pub width: u32,
    /// Displayed height in pixels, after cropping.
    pub height: u32,
    /// Frames per second as `num / den`, when the stream says.
    pub frame_rate: Option<(u32, u32)>,
    /// Codec profile number (e.g. H.264 `profile_idc`), 0 when unknown.
    pub profile: u8,
    /// Codec level number (e.g. H.264 `level_idc`), 0 when unknown.
    pub level: u8,
    /// Colour range, primaries, transfer and matrix, where the stream says (H.264/H.265
    /// VUI, MPEG-2 sequence display extension, MP4 `colr`, Y4M `XCOLORRANGE`).
    pub color: ColorDescription,
    /// How the pictures' lines were captured, from the first picture: progressive, or
    /// interlaced with the field that comes first. `None` when the stream does not say
    /// before its pictures are decoded (H.264 with field coding allowed).
    pub field_order: Option<FieldOrder>,
    /// Sample aspect ratio `(num, den)`, the width of one pixel over its height, where
    /// the stream says (H.264 VUI, MPEG-2 display aspect ratio over the picture size,
    /// Y4M `A` tag). `None` when unknown.
    pub sar: Option<(u32, u32)>,
    /// The first picture repeats a field (MPEG-2 `repeat_first_field`): soft telecine
    /// ("3:2 pulldown"), shown at a higher field rate than it is coded.
    pub pulldown: bool,
}

/// How the lines of a picture were captured.
///
/// ffprobe prints these as `field_order` `progressive`, `tt` and `bb`
/// ([`FieldOrder::ffprobe_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum FieldOrder {
    /// One picture, all lines captured at once. Default.
    #[default]
    Progressive,
    /// Two interlaced fields; the top one (even lines) was captured first.
    TopFirst,
    /// Two interlaced fields; the bottom one (odd lines) was captured first.
    BottomFirst,
}

impl FieldOrder {
    /// True for the two interlaced orders.
    pub fn is_interlaced(self) -> bool {
        self != FieldOrder::Progressive
    }

    /// The name ffprobe gives it (`field_order`).
    pub fn ffprobe_name(self) -> &'static str {
        match self {
            FieldOrder::Progressive => "progressive",
            FieldOrder::TopFirst => "tt",
            FieldOrder::BottomFirst => "bb",
        }
    }
}

/// Audio properties, where known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioParams {
    pub sample_rate: u32,
    pub channels: u8,
    /// Samples per frame (1024 for AAC-LC, 1152 for MP2 and MP3 at 32-48 kHz).
    pub frame_samples: u32,
}

/// One stream of a container, as a demuxer describes it and a muxer consumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Position in the demuxer's stream list; packets refer to streams by this index.
    pub index: usize,
    /// The container's own identifier: the PID in MPEG-TS, the `track_ID` in MP4.
    pub id: u32,
    pub codec: CodecId,
    /// Framing of this stream's packets as delivered.
    pub format: BitstreamFormat,
    /// Timestamps of this stream's packets count ticks of this time base.
    pub time_base: TimeBase,
    /// Codec configuration, whatever the packet framing: the avcC/hvcC record for
    /// H.264/H.265 (demuxers of Annex-B sources build it from the first parameter sets),
    /// the AudioSpecificConfig for AAC (derived from the first ADTS header for ADTS
    /// sources), the sequence header for MPEG-2 video; empty while unknown.
    pub extradata: Vec<u8>,
    pub video: Option<VideoParams>,
    pub audio: Option<AudioParams>,
    /// Duration in `time_base` ticks, when the container says.
    pub duration: Option<i64>,
    /// ISO 639-2 language code, when the container says.
    pub language: Option<[u8; 3]>,
}

impl StreamInfo {
    /// A stream with only its identity known; demuxers fill in the rest as they learn it.
    pub fn new(index: usize, id: u32, codec: CodecId, format: BitstreamFormat, time_base: TimeBase) -> Self {
        StreamInfo {
            index,
            id,
            codec,
            format,
            time_base,
            extradata: Vec::new(),
            video: None,
            audio: None,
            duration: None,
            language: None,
        }
    }

    /// The media type of this stream's codec.
    pub fn media_type(&self) -> MediaType {
        self.codec.media_type()
    }
}
