//! The video decoders a job can run, behind one interface: H.264 (`transcode-h264`)
//! and MPEG-1/MPEG-2 video (`transcode-mpeg2`), with their frames described the same
//! way.

use transcode_core::{CodecId, ColorDescription, ColorRange, Error, FieldOrder, MemoryConfig, Result};
use transcode_frame_pool::{Budget, PixelFormat};

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
    /// `420jpeg` (centred: MPEG-1, and FFmpeg's full-range `yuvj420p`), `422`.
    pub y4m_colourspace: &'static str,
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
        y4m_colourspace: if f.color.range == ColorRange::Full { "420jpeg" } else { "420mpeg2" },
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
    }
}
