//! The video decoders a job can run, behind one interface: H.264 (`transcode-h264`)
//! and MPEG-1/MPEG-2 video (`transcode-mpeg2`), with their frames described the same
//! way.

use transcode_codec::h264::AvcC;
use transcode_codec::nal::Mp4ToAnnexB;
use transcode_core::{BitstreamFormat, CodecId, ColorDescription, ColorRange, Error, FieldOrder, MemoryConfig, Result, StreamInfo};
use transcode_frame_pool::{Budget, Captions, PixelFormat};

/// A decoded frame in display order, borrowed from its decoder's picture pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VideoFrame<'a> {
    pub width: usize,
    pub height: usize,
    /// `Yuv420p` or `Yuv422p`.
    pub format: PixelFormat,
    /// Y, Cb, Cr planes, each starting at the top-left visible sample.
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    pub color: ColorDescription,
    pub field_order: FieldOrder,
    /// Some macroblocks were concealed because the stream was damaged.
    pub concealed: bool,
    /// The Y4M colourspace tag FFmpeg writes for these pictures, which also says where
    /// 4:2:0 chroma is sited: `420mpeg2` (left, MPEG-2's and H.264's default),
    /// `420jpeg` (centred: MPEG-1, FFmpeg's full-range `yuvj420p`, and H.264 with no
    /// VUI), `420paldv` (top-left), `422`.
    pub y4m_colourspace: &'static str,
    /// A/53 closed captions sent with the picture (MPEG-2 user data), with no `seq`
    /// yet: the job numbers them. Empty for H.264, whose SEI captions are not read yet.
    pub captions: Captions,
}

impl VideoFrame<'_> {
    /// Appends the visible picture as packed planar YUV (Y rows, then Cb, then Cr), the
    /// layout of a Y4M frame and of FFmpeg's framemd5.
    pub fn write_planar(&self, out: &mut Vec<u8>) {
        let (cw, ch) = match self.format {
            PixelFormat::Yuv422p => (self.width.div_ceil(2), self.height),
            _ => (self.width.div_ceil(2), self.height.div_ceil(2)),
        };
        for (p, plane) in self.planes.iter().enumerate() {
            let (w, h) = if p == 0 { (self.width, self.height) } else { (cw, ch) };
            for y in 0..h {
                let row = y * self.strides[p];
                out.extend_from_slice(&plane[row..row + w]);
            }
        }
    }
}

/// One of the decoders, chosen by the stream's codec.
#[derive(Debug)]
pub(crate) enum VideoDecoder {
    H264(Box<transcode_h264::Decoder>),
    Mpeg2(Box<transcode_mpeg2::Decoder>),
}

impl VideoDecoder {
    /// A decoder for `codec` whose pictures count in `budget`, or `Unsupported`.
    pub fn new(codec: CodecId, config: &MemoryConfig, budget: &Budget) -> Result<VideoDecoder> {
        match codec {
            CodecId::H264 => Ok(VideoDecoder::H264(Box::new(transcode_h264::Decoder::with_budget(config, budget)))),
            CodecId::Mpeg1Video | CodecId::Mpeg2Video => {
                Ok(VideoDecoder::Mpeg2(Box::new(transcode_mpeg2::Decoder::with_budget(config, budget))))
            }
            other => Err(Error::unsupported(format!(
                "decoding {} (h264, mpeg2video and mpeg1video can be decoded; remux it to another container instead)",
                other.name()
            ))),
        }
    }

    /// Decodes `data` (Annex-B H.264, or an MPEG video elementary stream chunk), handing
    /// every frame that becomes ready to `on_frame` at once, so the pool never fills.
    /// Damage is concealed and returned as the first error after the rest is decoded.
    pub fn decode_with(&mut self, data: &[u8], mut on_frame: impl FnMut(&VideoFrame<'_>)) -> Result<()> {
        match self {
            VideoDecoder::H264(d) => d.decode_with(data, |f| on_frame(&h264_frame(f))),
            VideoDecoder::Mpeg2(d) => {
                let mpeg1 = is_mpeg1(d);
                d.decode_with(data, |f| on_frame(&mpeg2_frame(f, mpeg1)))
            }
        }
    }

    /// Ends the stream; the remaining frames come from [`VideoDecoder::next_frame`].
    pub fn flush(&mut self) {
        match self {
            VideoDecoder::H264(d) => d.flush(),
            VideoDecoder::Mpeg2(d) => d.flush(),
        }
    }

    pub fn next_frame(&mut self) -> Option<VideoFrame<'_>> {
        match self {
            VideoDecoder::H264(d) => d.next_frame().map(|f| h264_frame(&f)),
            VideoDecoder::Mpeg2(d) => {
                let mpeg1 = is_mpeg1(d);
                d.next_frame().map(|f| mpeg2_frame(&f, mpeg1))
            }
        }
    }

    /// Bytes the decoder holds for pictures.
    pub fn memory_bytes(&self) -> usize {
        match self {
            VideoDecoder::H264(d) => d.memory_bytes(),
            VideoDecoder::Mpeg2(d) => d.memory_bytes(),
        }
    }

    /// Pictures the decoder left out: MPEG-2 pictures whose references were missing at
    /// the start of the stream (a recording that starts mid-GOP), dropped as FFmpeg
    /// drops them.
    pub fn dropped_pictures(&self) -> u64 {
        match self {
            VideoDecoder::H264(_) => 0,
            VideoDecoder::Mpeg2(d) => d.dropped_pictures(),
        }
    }
}

/// What became of one packet given to a [`PacketDecoder`].
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Decoded cleanly.
    Clean,
    /// A sample whose NAL lengths are broken could not be split into units and was not
    /// decoded; the decoder conceals the missing picture from its references.
    SkippedSample(Error),
    /// Decoded with damage concealed.
    Concealed(Error),
}

/// A stream's decoder with the framing conversion its packets need (length-prefixed
/// H.264 from MP4 becomes Annex-B) and the one policy for damage every job follows:
/// concealed unless the job is strict, while unsupported streams and exceeded limits
/// always fail.
#[derive(Debug)]
pub(crate) struct PacketDecoder {
    decoder: VideoDecoder,
    conv: Option<Mp4ToAnnexB>,
    annexb: Vec<u8>,
}

impl PacketDecoder {
    /// A decoder for the stream `info` whose pictures count in `budget`.
    pub fn new(info: &StreamInfo, config: &MemoryConfig, budget: &Budget) -> Result<PacketDecoder> {
        let decoder = VideoDecoder::new(info.codec, config, budget)?;
        let conv = match (info.codec, info.format) {
            (CodecId::H264, BitstreamFormat::LengthPrefixed { .. }) => Some(Mp4ToAnnexB::h264(&AvcC::parse(&info.extradata)?)),
            _ => None,
        };
        Ok(PacketDecoder { decoder, conv, annexb: Vec::new() })
    }

    /// Decodes one packet, handing every frame that becomes ready to `on_frame`.
    /// `Err` is what ends the job: an unsupported stream, an exceeded limit, or any
    /// damage when `strict`.
    pub fn decode(&mut self, data: &[u8], strict: bool, on_frame: impl FnMut(&VideoFrame<'_>)) -> Result<Decoded> {
        let data = match &mut self.conv {
            Some(c) => {
                self.annexb.clear();
                match c.convert(data, &mut self.annexb) {
                    Ok(()) => &self.annexb[..],
                    Err(e @ Error::InvalidData { .. }) if !strict => return Ok(Decoded::SkippedSample(e)),
                    Err(e) => return Err(e),
                }
            }
            None => data,
        };
        match self.decoder.decode_with(data, on_frame) {
            Ok(()) => Ok(Decoded::Clean),
            Err(e @ (Error::Unsupported(_) | Error::LimitExceeded { .. })) => Err(e),
            Err(e) if strict => Err(e),
            Err(e) => Ok(Decoded::Concealed(e)),
        }
    }

    pub fn decoder(&self) -> &VideoDecoder {
        &self.decoder
    }

    pub fn decoder_mut(&mut self) -> &mut VideoDecoder {
        &mut self.decoder
    }
}

fn h264_frame<'a>(f: &transcode_h264::Frame<'a>) -> VideoFrame<'a> {
    VideoFrame {
        width: f.width,
        height: f.height,
        format: PixelFormat::Yuv420p,
        planes: f.planes,
        strides: f.strides,
        color: f.color,
        // Field pairs carry their order; frame pictures are progressive.
        field_order: f.field_order,
        concealed: f.concealed,
        y4m_colourspace: h264_y4m_colourspace(f),
        captions: Captions::default(),
    }
}

/// The Y4M `C` tag FFmpeg writes for an H.264 stream's frames: full range is its
/// `yuvj420p`, `420jpeg`; otherwise the siting follows the VUI's chroma location (the
/// left default when a VUI omits it), and a stream without a VUI, whose siting is
/// unspecified, gets `420jpeg`, as do the sitings Y4M has no name for.
fn h264_y4m_colourspace(f: &transcode_h264::Frame<'_>) -> &'static str {
    if f.color.range == ColorRange::Full {
        return "420jpeg";
    }
    match f.chroma_loc {
        Some(0) => "420mpeg2",
        Some(2) => "420paldv",
        _ => "420jpeg",
    }
}

/// Whether the sequence being decoded is MPEG-1 (no sequence extension).
fn is_mpeg1(d: &transcode_mpeg2::Decoder) -> bool {
    d.sequence_info().is_some_and(|s| !s.mpeg2)
}

fn mpeg2_frame<'a>(f: &transcode_mpeg2::Frame<'a>, mpeg1: bool) -> VideoFrame<'a> {
    let i = &f.info;
    VideoFrame {
        width: f.width,
        height: f.height,
        format: f.format,
        planes: f.planes,
        strides: f.strides,
        // MPEG-2 video is limited range; the matrix and friends are on the sequence.
        color: ColorDescription { range: ColorRange::Limited, ..ColorDescription::UNSPECIFIED },
        field_order: match (i.progressive_frame, i.top_field_first) {
            (true, _) => FieldOrder::Progressive,
            (false, true) => FieldOrder::TopFirst,
            (false, false) => FieldOrder::BottomFirst,
        },
        concealed: i.concealed_macroblocks > 0,
        y4m_colourspace: match (f.format, mpeg1) {
            (PixelFormat::Yuv422p, _) => "422",
            (_, true) => "420jpeg",
            (_, false) => "420mpeg2",
        },
        captions: Captions::new(0, i.user_data.captions()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcode_testkit::{md5_hex, read_framemd5, testdata};

    /// Decodes an Annex-B H.264 file; returns each frame's Y4M `C` tag and MD5.
    fn decode(file: &str) -> Vec<(&'static str, String)> {
        let data = std::fs::read(testdata(file)).unwrap();
        let config = MemoryConfig::default();
        let budget = Budget::from_config(&config);
        let mut dec = VideoDecoder::new(CodecId::H264, &config, &budget).unwrap();
        let mut out = Vec::new();
        let mut take = |f: &VideoFrame<'_>| {
            let mut buf = Vec::new();
            f.write_planar(&mut buf);
            out.push((f.y4m_colourspace, md5_hex(&buf)));
        };
        dec.decode_with(&data, &mut take).unwrap();
        dec.flush();
        while let Some(f) = dec.next_frame() {
            take(&f);
        }
        out
    }

    /// The `C` tag of the Y4M header FFmpeg wrote, committed beside the stream.
    fn ffmpeg_tag(file: &str) -> String {
        let line = std::fs::read_to_string(testdata(&format!("{file}.y4mhead"))).unwrap();
        let tag = line.split_whitespace().find_map(|t| t.strip_prefix('C'));
        tag.expect("a C tag").to_string()
    }

    /// FFmpeg names the siting after the VUI's chroma location: none without a VUI
    /// (freh6, `420jpeg`), left when a VUI omits it (x264's default, `420mpeg2`),
    /// centre (`420jpeg`) and top-left (`420paldv`) when it says so.
    #[test]
    fn h264_y4m_chroma_tag_follows_the_chroma_location_as_ffmpeg_does() {
        for file in [
            "h264-interlaced/freh6.264",
            "h264-mono/mono-cabac.264",
            "h264-vui/chromaloc1.264",
            "h264-vui/chromaloc2.264",
        ] {
            let frames = decode(file);
            let want = ffmpeg_tag(file);
            let oracle = read_framemd5(&testdata(&format!("{file}.framemd5")));
            assert_eq!(frames.len(), oracle.entries.len(), "{file}");
            for ((tag, md5), e) in frames.iter().zip(&oracle.entries) {
                assert_eq!(*tag, want, "{file}");
                assert_eq!(*md5, e.md5, "{file}");
            }
        }
    }
}
