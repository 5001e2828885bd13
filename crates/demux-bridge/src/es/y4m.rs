//! YUV4MPEG2 (`.y4m`): uncompressed planar pictures, one packet each.

use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::y4m::Y4mHeader;
use transcode_core::{
    BitstreamFormat, CodecId, ColorDescription, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase, VideoParams,
};

/// The longest stream or frame header line accepted.
const MAX_LINE: usize = 4096;

/// Reads a Y4M stream: one packet per `FRAME`, holding only the picture bytes
/// ([`CodecId::RawVideo`], planar). The time base is the inverse of the `F` frame rate
/// and `pts` counts pictures.
///
/// `StreamInfo::extradata` holds the stream header line (without its newline) so that
/// the Y4M muxer can write the same interlacing, aspect and colourspace tags.
#[derive(Debug)]
pub struct Y4mDemuxer {
    input: Input,
    streams: Vec<StreamInfo>,
    pos: u64,
    frame_size: usize,
    index: i64,
    stats: DemuxStats,
}

fn line_len(input: &mut Input, pos: u64) -> Result<Option<usize>> {
    let buf = input.get(pos, MAX_LINE)?;
    Ok(buf.iter().position(|&b| b == b'\n'))
}

impl Y4mDemuxer {
    /// Opens the stream and parses its header.
    pub fn new(mut input: Input, config: &MemoryConfig) -> Result<Self> {
        let n = line_len(&mut input, 0)?.ok_or_else(|| {
            Error::invalid_at(0, format!("y4m header without a newline in its first {MAX_LINE} bytes"))
        })?;
        let line = input.get(0, n)?.to_vec();
        let hdr = Y4mHeader::parse(&line)?;
        let (w, h, rate) = (hdr.width, hdr.height, hdr.frame_rate);
        // Known to be Some: `parse` refuses unknown colourspaces.
        let size = hdr.frame_size().unwrap_or(u64::MAX);
        Error::check_limit("y4m picture", size, config.max_packet_size)?;
        let mut info = StreamInfo::new(0, 1, CodecId::RawVideo, BitstreamFormat::Raw, TimeBase::new(rate.1, rate.0));
        let color = ColorDescription { range: hdr.range, ..ColorDescription::UNSPECIFIED };
        info.video = Some(VideoParams {
            width: w,
            height: h,
            frame_rate: Some(rate),
            color,
            field_order: hdr.field_order,
            sar: hdr.sar,
            pulldown: false,
            profile: 0,
            level: 0,
        });
        info.extradata = line;
        let pos = n as u64 + 1;
        input.release(pos);
        Ok(Y4mDemuxer {
            input,
            streams: vec![info],
            pos,
            frame_size: size as usize,
            index: 0,
            stats: DemuxStats { bytes_read: pos, ..Default::default() },
        })
    }
}

impl Demuxer for Y4mDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        let head = self.input.get(self.pos, 5)?;
        if head.is_empty() {
            return Ok(None);
        }
        if head != b"FRAME" {
            if head.len() < 5 {
                self.stats.truncated = true;
                return Ok(None);
            }
            return Err(Error::invalid_at(self.pos, "y4m frame header (expected FRAME)"));
        }
        let n = line_len(&mut self.input, self.pos)?.ok_or_else(|| {
            Error::invalid_at(self.pos, format!("y4m frame header without a newline in {MAX_LINE} bytes"))
        })?;
        let start = self.pos + n as u64 + 1;
        let got = self.input.get(start, self.frame_size)?.len();
        if got < self.frame_size {
            // A picture cut short by the end of the input: counted, not delivered.
            self.stats.truncated = true;
            self.stats.cut_packets += 1;
            self.pos = start + got as u64;
            return Ok(None);
        }
        self.pos = start + self.frame_size as u64;
        self.stats.bytes_read = self.pos;
        let pts = self.index;
        self.index += 1;
        self.input.release(start);
        let data = self.input.get(start, self.frame_size)?;
        Ok(Some(PacketView {
            stream: 0,
            data,
            pts: Some(pts),
            dts: Some(pts),
            duration: Some(1),
            keyframe: true,
            pos: Some(start),
        }))
    }

    fn stats(&self) -> DemuxStats {
        self.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "yuv4mpegpipe"
    }

    fn input_len(&self) -> Option<u64> {
        self.input.len()
    }
}
