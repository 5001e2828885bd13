//! The decode job: the first video stream of any container, decoded to Y4M.

use std::path::Path;
use std::sync::atomic::Ordering;

use transcode_codec::h264::AvcC;
use transcode_codec::nal::Mp4ToAnnexB;
use transcode_core::{BitstreamFormat, CodecId, Error, MediaType, StreamInfo, TimeBase, VideoParams};
use transcode_demux_bridge::{open_demuxer, DemuxStats, Input};
use transcode_h264::Decoder;
use transcode_mux::{es, Muxer};

use crate::output::AtomicOutput;
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
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Bytes the decoder holds for pictures (its decoded picture buffer).
    pub decoder_bytes: usize,
    /// The job's budget at the end: peak bytes reserved by the decoder's pools.
    pub memory: transcode_core::MemoryStats,
    pub demux: DemuxStats,
}

/// Decodes the first H.264 video stream of `input` into the Y4M file `output`, at most
/// `max_frames` frames. Uses the memory, cancellation and strictness settings of
/// `options` (its format and selection are ignored).
pub fn decode(input: &Path, output: &Path, options: &RemuxOptions, max_frames: Option<u64>, progress: &mut dyn FnMut(Progress)) -> Result<DecodeReport, JobError> {
    let in_err = |source: Error| JobError::Input { path: input.to_path_buf(), source };
    let out_err = |source: Error| match source {
        Error::Io(_) => JobError::Output { path: output.to_path_buf(), source },
        other => JobError::Input { path: input.to_path_buf(), source: other },
    };
    let mem = &options.memory;
    mem.check_fits().map_err(in_err)?;
    let src = Input::open(input, mem).map_err(in_err)?;
    let total = src.len();
    let mut demux = open_demuxer(src, mem).map_err(in_err)?;
    let (atomic, writer) = AtomicOutput::create(output).map_err(|e| JobError::Output { path: output.to_path_buf(), source: e.into() })?;
    let mut muxer = es::EsMuxer::new(writer, es::EsKind::Y4m);
    // The decoder's pictures count in the job's one budget.
    let budget = transcode_core::Budget::from_config(mem);
    let mut decoder = Decoder::with_budget(mem, &budget);
    let mut report = DecodeReport {
        input_format: demux.format_name(),
        stream: usize::MAX,
        frames: 0,
        concealed_frames: 0,
        errors: 0,
        bytes_in: 0,
        bytes_out: 0,
        decoder_bytes: 0,
        memory: Default::default(),
        demux: DemuxStats::default(),
    };
    let mut annexb = Vec::new();
    let mut frame_buf = Vec::new();
    let mut conv: Option<Mp4ToAnnexB> = None;
    let mut started = false;
    let mut frame_rate = None;
    let mut packets = 0u64;
    let mut snapshot: Vec<StreamInfo> = Vec::new();
    let mut raw: Option<StreamInfo> = None;
    let limit = max_frames.unwrap_or(u64::MAX);

    // Writes every frame the decoder has ready, starting the Y4M output at the first.
    let mut drain = |decoder: &mut Decoder, muxer: &mut es::EsMuxer, report: &mut DecodeReport, started: &mut bool, rate: Option<(u32, u32)>| -> Result<(), JobError> {
        while report.frames < limit {
            let Some(f) = decoder.next_frame() else { break };
            if !*started {
                let mut info = StreamInfo::new(0, 0, CodecId::RawVideo, BitstreamFormat::Raw, TimeBase::new(1, 25));
                info.video = Some(VideoParams {
                    width: f.width as u32,
                    height: f.height as u32,
                    frame_rate: Some(rate.unwrap_or((25, 1))),
                    // The range goes into the Y4M header (XCOLORRANGE), as FFmpeg writes it.
                    color: f.color,
                    ..Default::default()
                });
                muxer.begin(&[info]).map_err(out_err)?;
                *started = true;
            }
            frame_buf.clear();
            f.write_yuv420p(&mut frame_buf);
            report.concealed_frames += f.concealed as u64;
            let pkt = transcode_core::PacketView { stream: 0, data: &frame_buf, pts: None, dts: None, duration: None, keyframe: true, pos: None };
            muxer.write_packet(&pkt).map_err(out_err)?;
            report.frames += 1;
        }
        Ok(())
    };

    let result: Result<(), JobError> = (|| {
        loop {
            if report.frames >= limit {
                break;
            }
            if options.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(JobError::Interrupted);
            }
            if demux.streams().len() != snapshot.len() {
                snapshot = demux.streams().to_vec();
            }
            let known = snapshot.len();
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
                    if !choose(&info, &mut report, &mut conv, &mut frame_rate, input)? {
                        continue;
                    }
                    decode_packet(&mut decoder, &owned.data, &mut conv, &mut annexb, &mut report, options.strict, input)?;
                    drain(&mut decoder, &mut muxer, &mut report, &mut started, frame_rate)?;
                    continue;
                }
                let info = snapshot[pkt.stream].clone();
                if info.codec == CodecId::RawVideo {
                    report.stream = info.index;
                    raw = Some(StreamInfo { index: 0, ..info });
                } else if !choose(&info, &mut report, &mut conv, &mut frame_rate, input)? {
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
            let data = pkt.data;
            decode_packet(&mut decoder, data, &mut conv, &mut annexb, &mut report, options.strict, input)?;
            drain(&mut decoder, &mut muxer, &mut report, &mut started, frame_rate)?;
        }
        decoder.flush();
        drain(&mut decoder, &mut muxer, &mut report, &mut started, frame_rate)?;
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
            report.decoder_bytes = decoder.memory_bytes();
            report.memory = budget.stats();
            report.demux = demux.stats();
            report.bytes_in = report.demux.bytes_read;
            drop(muxer);
            atomic.commit().map_err(|e| JobError::Output { path: output.to_path_buf(), source: e.into() })?;
            Ok(report)
        }
        Err(e) => {
            drop(muxer);
            atomic.abort();
            Err(e)
        }
    }
}

/// Decides whether `info` is the stream to decode (the first video stream); sets up the
/// framing conversion for it.
fn choose(info: &StreamInfo, report: &mut DecodeReport, conv: &mut Option<Mp4ToAnnexB>, rate: &mut Option<(u32, u32)>, input: &Path) -> Result<bool, JobError> {
    if info.media_type() != MediaType::Video {
        return Ok(false);
    }
    if info.codec != CodecId::H264 {
        return Err(JobError::Input {
            path: input.to_path_buf(),
            source: Error::unsupported(format!("decoding {} (only h264 can be decoded; remux it to another container instead)", info.codec.name())),
        });
    }
    if let BitstreamFormat::LengthPrefixed { .. } = info.format {
        let avcc = AvcC::parse(&info.extradata).map_err(|source| JobError::Input { path: input.to_path_buf(), source })?;
        *conv = Some(Mp4ToAnnexB::h264(&avcc));
    }
    *rate = info.video.and_then(|v| v.frame_rate);
    report.stream = info.index;
    Ok(true)
}

fn decode_packet(
    decoder: &mut Decoder,
    data: &[u8],
    conv: &mut Option<Mp4ToAnnexB>,
    annexb: &mut Vec<u8>,
    report: &mut DecodeReport,
    strict: bool,
    input: &Path,
) -> Result<(), JobError> {
    let data = match conv {
        Some(c) => {
            annexb.clear();
            match c.convert(data, annexb) {
                Ok(()) => &annexb[..],
                Err(e @ Error::InvalidData { .. }) if !strict => {
                    // A sample whose NAL lengths are broken cannot be split into units;
                    // the decoder conceals the missing picture from its references.
                    report.errors += 1;
                    tracing::warn!("{}: skipped a damaged sample: {e}", input.display());
                    return Ok(());
                }
                Err(source) => return Err(JobError::Input { path: input.to_path_buf(), source }),
            }
        }
        None => data,
    };
    match decoder.decode(data) {
        Ok(()) => Ok(()),
        Err(e @ (Error::Unsupported(_) | Error::LimitExceeded { .. })) => Err(JobError::Input { path: input.to_path_buf(), source: e }),
        Err(e) if strict => Err(JobError::Input { path: input.to_path_buf(), source: e }),
        Err(e) => {
            report.errors += 1;
            if report.errors <= 5 {
                tracing::warn!("{}: concealed a decoding error: {e}", input.display());
            }
            Ok(())
        }
    }
}
