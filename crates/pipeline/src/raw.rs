//! The raw route: a video stream decoded to pictures and written as Y4M frames, on
//! the caller's thread (what `transcode convert IN OUT.y4m` runs).

use transcode_codec::y4m::Y4mHeader;
use transcode_core::{BitstreamFormat, Budget, CodecId, Error, MemoryConfig, StreamInfo, TimeBase, VideoParams};
use transcode_mux::Muxer;

use crate::job::Paths;
use crate::video::{Decoded, PacketDecoder, VideoDecoder, VideoFrame};
use crate::JobError;

/// What a raw route did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawStats {
    pub frames: u64,
    /// Frames in which damaged macroblocks were concealed.
    pub concealed_frames: u64,
    /// Decoding errors that were concealed (broken slices, missing references).
    pub errors: u64,
    /// Pictures left out because their references were missing at the start of the
    /// stream, as FFmpeg leaves them out.
    pub dropped_pictures: u64,
    /// Bytes the decoder holds for pictures (its decoded picture buffer).
    pub decoder_bytes: usize,
}

/// A stream's decoder and the Y4M writer of its pictures. The output starts at the
/// first picture, whose header describes it: the muxer is begun here, not by the job.
#[derive(Debug)]
pub(crate) struct RawRoute {
    decoder: PacketDecoder,
    writer: FrameWriter,
    stats: RawStats,
}

impl RawRoute {
    /// The route for the stream `info` (as first described), writing at most `limit`
    /// frames, its pictures counted in `budget`.
    pub fn new(info: &StreamInfo, limit: Option<u64>, mem: &MemoryConfig, budget: &Budget) -> transcode_core::Result<RawRoute> {
        let decoder = PacketDecoder::new(info, mem, budget)?;
        let writer = FrameWriter { limit: limit.unwrap_or(u64::MAX), stream: Some(info.clone()), header: None, buf: Vec::new(), error: None };
        Ok(RawRoute { decoder, writer, stats: RawStats::default() })
    }

    /// Whether the output has not started yet: the header is written from the stream
    /// as described when its first picture is out, since a description completes after
    /// the stream's first packets.
    pub fn wants_description(&self) -> bool {
        self.writer.header.is_none()
    }

    pub fn describe(&mut self, info: Option<&StreamInfo>) {
        if let Some(info) = info {
            self.writer.stream = Some(info.clone());
        }
    }

    /// Whether `limit` frames have been written.
    pub fn full(&self) -> bool {
        self.stats.frames >= self.writer.limit
    }

    pub fn frames(&self) -> u64 {
        self.stats.frames
    }

    /// Decodes one packet and writes the pictures that become ready.
    pub fn packet(&mut self, data: &[u8], muxer: &mut (dyn Muxer + Send), strict: bool, paths: &Paths) -> Result<(), JobError> {
        let (writer, stats) = (&mut self.writer, &mut self.stats);
        let result = self.decoder.decode(data, strict, |f| writer.write(f, muxer, stats));
        // An output error (or a format change) ends the job before any decoding error.
        self.writer.check(paths)?;
        match result.map_err(|e| paths.in_err(e))? {
            Decoded::Clean => {}
            Decoded::SkippedSample(e) => {
                self.stats.errors += 1;
                tracing::warn!("{}: skipped a damaged sample: {e}", paths.input.display());
            }
            Decoded::Concealed(e) => {
                self.stats.errors += 1;
                if self.stats.errors <= 5 {
                    tracing::warn!("{}: concealed a decoding error: {e}", paths.input.display());
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: writes the pictures the decoder still holds. Fails when not one
    /// picture could be written (`damage` is the demuxer's summary, which explains it).
    pub fn finish(&mut self, muxer: &mut (dyn Muxer + Send), paths: &Paths, damage: Option<String>) -> Result<RawStats, JobError> {
        let dec = self.decoder.decoder_mut();
        dec.flush();
        while self.stats.frames < self.writer.limit {
            let Some(f) = dec.next_frame() else { break };
            self.writer.write(&f, muxer, &mut self.stats);
        }
        self.stats.dropped_pictures = dec.dropped_pictures();
        self.writer.check(paths)?;
        if self.writer.header.is_none() {
            // The warnings about concealed damage explain this; say it in the one line.
            let mut why = String::from("no picture could be decoded");
            let n = self.stats.errors;
            if n > 0 {
                why += &format!("; {n} decoding {} concealed", if n == 1 { "error" } else { "errors" });
            }
            if let Some(d) = damage {
                why += &format!("; {d}");
            }
            return Err(JobError::Input { path: paths.input.clone(), source: Error::invalid(why) });
        }
        self.stats.decoder_bytes = VideoDecoder::memory_bytes(self.decoder.decoder());
        Ok(self.stats)
    }
}

/// Writes decoded frames as Y4M: starts the output at the first frame, with a header
/// that describes it (size, rate, chroma format and siting, field order, sample aspect
/// ratio, range), and keeps the first error, since decoders hand frames to a callback.
#[derive(Debug)]
struct FrameWriter {
    limit: u64,
    /// The stream being decoded.
    stream: Option<StreamInfo>,
    /// The header written, once the first frame has come.
    header: Option<Y4mHeader>,
    buf: Vec<u8>,
    error: Option<FrameError>,
}

#[derive(Debug)]
enum FrameError {
    Output(Error),
    /// A frame the Y4M output cannot hold: its number (from 0) and what changed.
    Changed(u64, String),
}

impl FrameWriter {
    fn write(&mut self, f: &VideoFrame<'_>, muxer: &mut (dyn Muxer + Send), report: &mut RawStats) {
        if self.error.is_some() || report.frames >= self.limit {
            return;
        }
        let Some(stream) = &self.stream else { return };
        let vp = stream.video.unwrap_or_default();
        let colourspace = f.y4m_colourspace;
        match &self.header {
            None => {
                let h = Y4mHeader {
                    width: f.width as u32,
                    height: f.height as u32,
                    frame_rate: vp.frame_rate.unwrap_or((25, 1)),
                    colourspace: colourspace.into(),
                    // The range goes into the header (XCOLORRANGE), as FFmpeg writes it.
                    range: f.color.range,
                    field_order: Some(f.field_order),
                    sar: vp.sar,
                };
                let mut info = StreamInfo::new(0, 0, CodecId::RawVideo, BitstreamFormat::Raw, TimeBase::new(1, 25));
                info.video = Some(VideoParams { width: h.width, height: h.height, frame_rate: Some(h.frame_rate), color: f.color, ..Default::default() });
                info.extradata = h.to_line().into_bytes();
                if let Err(e) = muxer.begin(&[info]) {
                    self.error = Some(FrameError::Output(e));
                    return;
                }
                self.header = Some(h);
            }
            Some(h) => {
                if (h.width, h.height) != (f.width as u32, f.height as u32) || h.colourspace != colourspace {
                    self.error = Some(FrameError::Changed(
                        report.frames,
                        format!("{}x{} {} to {}x{} {}", h.width, h.height, h.colourspace, f.width, f.height, colourspace),
                    ));
                    return;
                }
            }
        }
        self.buf.clear();
        f.write_planar(&mut self.buf);
        report.concealed_frames += f.concealed as u64;
        let pkt = transcode_core::PacketView { stream: 0, data: &self.buf, pts: None, dts: None, duration: None, keyframe: true, pos: None };
        if let Err(e) = muxer.write_packet(&pkt) {
            self.error = Some(FrameError::Output(e));
            return;
        }
        report.frames += 1;
    }

    /// The first error met while writing frames, as the job's error.
    fn check(&mut self, paths: &Paths) -> Result<(), JobError> {
        match self.error.take() {
            None => Ok(()),
            Some(FrameError::Output(source)) => Err(paths.out_err(source)),
            Some(FrameError::Changed(n, what)) => Err(paths.in_err(Error::unsupported(format!(
                "the picture format changes at frame {n} from {what}, which a y4m output cannot hold"
            )))),
        }
    }
}
