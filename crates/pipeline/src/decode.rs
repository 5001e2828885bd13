//! The decode job: the first video stream of any container (H.264 or MPEG-1/2 video),
//! decoded to Y4M.

use std::path::Path;

use transcode_codec::y4m::Y4mHeader;
use transcode_core::{BitstreamFormat, CodecId, Error, MediaType, StreamInfo, TimeBase, VideoParams};
use transcode_demux_bridge::{open_demuxer, DemuxStats, Input};
use transcode_mux::Muxer;

use crate::job::{check_cancel, make_muxer, with_atomic_output, Mp4Layout, Paths};
use crate::output::OutputFormat;
use crate::video::{Decoded, PacketDecoder, VideoDecoder, VideoFrame};
use crate::{JobError, Progress, RemuxOptions};

/// The outcome of a decode.
#[derive(Debug, Clone)]
pub struct DecodeReport {
    pub input_format: &'static str,
    /// Index of the decoded stream in the input.
    pub stream: usize,
    pub frames: u64,
    /// Frames in which damaged macroblocks were concealed.
    pub concealed_frames: u64,
    /// Decoding errors that were concealed (broken slices, missing references).
    pub errors: u64,
    /// Pictures left out because their references were missing at the start of the
    /// stream (an MPEG-2 recording that starts mid-GOP), as FFmpeg leaves them out.
    pub dropped_pictures: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Bytes the decoder holds for pictures (its decoded picture buffer).
    pub decoder_bytes: usize,
    /// The job's budget at the end: peak bytes reserved by the decoder's pools.
    pub memory: transcode_core::MemoryStats,
    pub demux: DemuxStats,
}

/// Decodes the first video stream of `input` (H.264, MPEG-2 or MPEG-1 video) into the
/// Y4M file `output`, at most
/// `max_frames` frames. Uses the memory, cancellation and strictness settings of
/// `options` (its format and selection are ignored).
pub fn decode(input: &Path, output: &Path, options: &RemuxOptions, max_frames: Option<u64>, progress: &mut dyn FnMut(Progress)) -> Result<DecodeReport, JobError> {
    let paths = Paths::new(input, output);
    let in_err = |source: Error| paths.in_err(source);
    let out_err = |source: Error| paths.out_err(source);
    let mem = &options.memory;
    mem.check_fits().map_err(in_err)?;
    let src = Input::open(input, mem).map_err(in_err)?;
    let total = src.len();
    let mut demux = open_demuxer(src, mem).map_err(in_err)?;
    with_atomic_output(&paths, |writer| {
        let mut muxer = make_muxer(OutputFormat::Y4m, writer, mem, Mp4Layout::Planned);
        // The decoder's pictures count in the job's one budget.
        let budget = transcode_core::Budget::from_config(mem);
        // Made when the stream to decode is chosen, for its codec.
        let mut decoder: Option<PacketDecoder> = None;
        let mut report = DecodeReport {
            input_format: demux.format_name(),
            stream: usize::MAX,
            frames: 0,
            concealed_frames: 0,
            errors: 0,
            dropped_pictures: 0,
            bytes_in: 0,
            bytes_out: 0,
            decoder_bytes: 0,
            memory: Default::default(),
            demux: DemuxStats::default(),
        };
        let mut packets = 0u64;
        let mut snapshot: Vec<StreamInfo> = Vec::new();
        let mut raw: Option<StreamInfo> = None;
        let mut started = false;
        let mut writer = FrameWriter { limit: max_frames.unwrap_or(u64::MAX), stream: None, header: None, buf: Vec::new(), error: None };

        let result: Result<(), JobError> = (|| {
            loop {
                if report.frames >= writer.limit {
                    break;
                }
                check_cancel(options.cancel.as_deref())?;
                if demux.streams().len() != snapshot.len() {
                    snapshot = demux.streams().to_vec();
                }
                let known = snapshot.len();
                if writer.header.is_none() && report.stream != usize::MAX {
                    // The Y4M header comes from the stream as described when its first
                    // frame is out: the description completes after its first packets.
                    writer.stream = demux.streams().get(report.stream).cloned();
                }
                let Some(pkt) = demux.next_packet().map_err(in_err)? else { break };
                packets += 1;
                if packets & 3 == 0 {
                    progress(Progress { bytes_done: pkt.pos.unwrap_or(0), bytes_total: total, pass: 1, passes: 1 });
                }
                if report.stream == usize::MAX {
                    if pkt.stream >= known {
                        // First packet of a new stream: look at the stream list after this one.
                        let stream = pkt.stream;
                        let owned = pkt.to_packet();
                        let info = demux.streams()[stream].clone();
                        if !choose(&info, &mut report, &mut decoder, &mut writer, mem, &budget, &paths)? {
                            continue;
                        }
                        let Some(dec) = decoder.as_mut() else { continue };
                        decode_packet(dec, &owned.data, &mut report, &mut writer, muxer.as_mut(), options.strict, &paths)?;
                        continue;
                    }
                    let info = snapshot[pkt.stream].clone();
                    if info.codec == CodecId::RawVideo {
                        report.stream = info.index;
                        raw = Some(StreamInfo { index: 0, ..info });
                    } else if !choose(&info, &mut report, &mut decoder, &mut writer, mem, &budget, &paths)? {
                        continue;
                    }
                }
                if pkt.stream != report.stream {
                    continue;
                }
                if let Some(info) = &raw {
                    // Already uncompressed (a Y4M input): frames are copied through.
                    if !started {
                        muxer.begin(std::slice::from_ref(info)).map_err(out_err)?;
                        started = true;
                    }
                    muxer.write_packet(&transcode_core::PacketView { stream: 0, ..pkt }).map_err(out_err)?;
                    report.frames += 1;
                    continue;
                }
                let Some(dec) = decoder.as_mut() else { continue };
                decode_packet(dec, pkt.data, &mut report, &mut writer, muxer.as_mut(), options.strict, &paths)?;
            }
            if let Some(dec) = decoder.as_mut() {
                let dec = dec.decoder_mut();
                dec.flush();
                while report.frames < writer.limit {
                    let Some(f) = dec.next_frame() else { break };
                    writer.write(&f, muxer.as_mut(), &mut report);
                }
                report.dropped_pictures = dec.dropped_pictures();
            }
            writer.check(&paths)?;
            started |= writer.header.is_some();
            let path = input.to_path_buf();
            if report.stream == usize::MAX {
                let streams = demux.streams();
                let damage = demux.stats().summary();
                return Err(if streams.is_empty() {
                    JobError::NoMedia { path, seen: demux.contents(), damage }
                } else if streams.iter().any(|s| s.media_type() == MediaType::Video) {
                    // A video stream is listed, but not one of its packets is whole.
                    JobError::NoPackets { path, damage }
                } else {
                    JobError::NoStreams { path, reason: "no video stream".into() }
                });
            }
            if !started {
                // The warnings about concealed damage explain this; say it in the one line.
                let mut why = String::from("no picture could be decoded");
                if report.errors > 0 {
                    why += &format!("; {} decoding {} concealed", report.errors, if report.errors == 1 { "error" } else { "errors" });
                }
                if let Some(d) = demux.stats().summary() {
                    why += &format!("; {d}");
                }
                return Err(JobError::Input { path, source: Error::invalid(why) });
            }
            muxer.finish().map_err(out_err)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                report.bytes_out = muxer.bytes_written();
                report.decoder_bytes = decoder.as_ref().map_or(0, |d| VideoDecoder::memory_bytes(d.decoder()));
                report.memory = budget.stats();
                report.demux = demux.stats();
                report.bytes_in = report.demux.bytes_read;
                drop(muxer);
                Ok(report)
            }
            Err(e) => {
                drop(muxer);
                Err(e)
            }
        }
    })
}

/// Decides whether `info` is the stream to decode (the first video stream); makes the
/// decoder for its codec and sets up the framing conversion for it.
#[allow(clippy::too_many_arguments)]
fn choose(
    info: &StreamInfo,
    report: &mut DecodeReport,
    decoder: &mut Option<PacketDecoder>,
    writer: &mut FrameWriter,
    mem: &transcode_core::MemoryConfig,
    budget: &transcode_core::Budget,
    paths: &Paths,
) -> Result<bool, JobError> {
    if info.media_type() != MediaType::Video {
        return Ok(false);
    }
    *decoder = Some(PacketDecoder::new(info, mem, budget).map_err(|e| paths.in_err(e))?);
    writer.stream = Some(info.clone());
    report.stream = info.index;
    Ok(true)
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
    fn write(&mut self, f: &VideoFrame<'_>, muxer: &mut (dyn Muxer + Send), report: &mut DecodeReport) {
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

fn decode_packet(
    decoder: &mut PacketDecoder,
    data: &[u8],
    report: &mut DecodeReport,
    writer: &mut FrameWriter,
    muxer: &mut (dyn Muxer + Send),
    strict: bool,
    paths: &Paths,
) -> Result<(), JobError> {
    let result = decoder.decode(data, strict, |f| writer.write(f, muxer, report));
    // An output error (or a format change) ends the job before any decoding error.
    writer.check(paths)?;
    match result.map_err(|e| paths.in_err(e))? {
        Decoded::Clean => {}
        Decoded::SkippedSample(e) => {
            report.errors += 1;
            tracing::warn!("{}: skipped a damaged sample: {e}", paths.input.display());
        }
        Decoded::Concealed(e) => {
            report.errors += 1;
            if report.errors <= 5 {
                tracing::warn!("{}: concealed a decoding error: {e}", paths.input.display());
            }
        }
    }
    Ok(())
}
