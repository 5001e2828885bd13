//! The transcode job: every output stream is a route, a packet copy or decode → filters
//! → encode, with each stage on its own thread joined by bounded queues.
//!
//! ```text
//!  demux ──packets (byte pool)──► decode ──frames (pool)──► filter ──frames (pools)──► encode
//!    │                                                                                   │
//!    └──copied packets (byte pool)──────────────► mux (calling thread) ◄──encoded packets┘
//!                                                 interleaves by dts, writes AtomicOutput
//! ```
//!
//! Every queue is a `sync_channel` whose items are pooled: a full queue or an empty
//! pool blocks its producer, nothing is dropped. The bytes the job can hold (decoder
//! pictures, pools, queues, encoder, packet pools) are computed from the stream
//! description before the first packet is decoded ([`MemoryPlan`]) and checked against
//! [`MemoryConfig::max_memory`]; the pools then reserve against the job's one
//! [`Budget`].
//!
//! # Timing
//!
//! The decoders output frames in display order without timestamps; the job gives each
//! frame the smallest pts of the packets decoded and not yet matched to a frame (what
//! display order is for a stream whose pts are right), so frames keep the input's
//! timeline and the copied audio keeps its offset to the video. A pts that would go
//! backwards (a discontinuity, a missing pts) becomes the previous one plus a frame
//! duration: the output's timeline never goes back and never drifts from the input's
//! forward jumps. The filters carry or derive pts (bwdif at field rate counts half
//! ticks); the encoder's packets carry pts and dts on to the muxer.

use std::collections::{BinaryHeap, VecDeque};
use std::cmp::Reverse;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use transcode_core::{Acquire, BitstreamFormat, Budget, CodecId, Error, MediaType, MemoryConfig, MemoryStats, Packet, StreamInfo, TimeBase, VideoParams};
use transcode_demux_bridge::{open_demuxer_as, probe::detect, DemuxStats, Demuxer, Input};
use transcode_filters::{Conversion, Crop, Deinterlace, DeinterlaceConfig, Filter, Fps, Pull, Rate, Rect, Scale, ScaleConfig, ScaleFilter};
use transcode_frame_pool::{BytePool, BytePoolConfig, Captions, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};
use transcode_h264::encoder::{Encoder, EncoderConfig, EncoderStatus, Received};
use transcode_mux::Muxer;

use crate::job::{format_for_output, make_muxer, strict_damage, with_atomic_output, Mp4Layout, Paths};
use crate::output::OutputFormat;
use crate::routes::{described, Route, Routing, StreamMap};
use crate::video::{Decoded, PacketDecoder, VideoFrame};
use crate::{JobError, Progress, StreamReport};

/// What the job does with the first video stream.
#[derive(Debug, Clone)]
pub struct VideoEncode {
    /// Deinterlace first. Default: `None` (frames go through as they are).
    pub deinterlace: Option<DeinterlaceConfig>,
    /// Crop after deinterlacing. Default: `None`.
    pub crop: Option<Rect>,
    /// Scale after cropping. Default: `None`.
    pub scale: Option<ScaleConfig>,
    /// Convert the frame rate last, by dropping and repeating frames. Default: `None`.
    pub fps: Option<(u32, u32)>,
    /// Encoder settings. `width`, `height`, `frame_rate` and `sar` are set by the job
    /// from the filtered frames; the rest (`qp`, `keyint`, `entropy`, ...) is used as
    /// given. Default: [`EncoderConfig::new`]'s.
    pub encoder: EncoderConfig,
    /// Threads the encoder may use. Default: `1`. More threads encode faster on more
    /// cores, at the cost of [`MemoryPlan::encoder_thread_bytes`] each beyond the first
    /// (a term of the memory plan). The job codes each picture as at least this many
    /// slices, one band of macroblock rows per thread, so the output depends on the
    /// thread count (about 0.5% more bits for two slices at 720p).
    pub threads: usize,
}

impl Default for VideoEncode {
    fn default() -> Self {
        VideoEncode { deinterlace: None, crop: None, scale: None, fps: None, encoder: EncoderConfig::new(16, 16), threads: 1 }
    }
}

/// Settings of a transcode job.
#[derive(Debug, Clone)]
pub struct TranscodeOptions {
    /// The output container: MP4 (progressive, moov first), fragmented MP4, TS, M2TS
    /// or raw H.264.
    pub format: OutputFormat,
    /// The first video stream is encoded with these settings; `None` copies it.
    pub video: Option<VideoEncode>,
    /// Copy the audio streams. Default: `true`; `false` leaves them out.
    pub copy_audio: bool,
    /// Memory bounds. Default: [`MemoryConfig::default`].
    pub memory: MemoryConfig,
    /// Treat damage (concealed decoding errors, lost packets) as failure. Default: `false`.
    pub strict: bool,
    /// Set from another thread to stop the job; the output is removed and the job
    /// returns [`JobError::Interrupted`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl TranscodeOptions {
    /// Encode the video with `video`, copy the audio, into `format`.
    pub fn new(format: OutputFormat, video: VideoEncode) -> Self {
        TranscodeOptions { format, video: Some(video), copy_audio: true, memory: MemoryConfig::default(), strict: false, cancel: None }
    }
}

/// Figures of one stage of the job.
#[derive(Debug, Clone, Default)]
pub struct StageStats {
    pub name: &'static str,
    /// Items the stage put out (packets or frames).
    pub items: u64,
    /// Time spent working, without waiting for input or for room downstream (wall
    /// time: on a loaded machine it includes time the thread was not running).
    pub busy: Duration,
    /// CPU time (user + system) of the stage's thread, and for the encoder also of its
    /// slice threads: what the stage cost, whatever the load. `busy` well above it
    /// means the thread was waiting for a core. Zero where the system does not say
    /// (it is read from Linux's `/proc`).
    pub cpu: Duration,
    /// The part of `cpu` spent on helper threads: the encoder's slice threads. The
    /// rest is the stage's own thread, which for the encoder codes one band of each
    /// picture and does all its serial work (deblocking, analysis, writing), so that
    /// the difference between the two shares shows what does not run in parallel.
    pub helper_cpu: Duration,
    /// The most items its output queue held at once, and the queue's bound.
    pub queue_high_water: usize,
    pub queue_bound: usize,
}

/// The job's memory as computed before it starts: what each part may hold at most.
#[derive(Debug, Clone, Default)]
pub struct MemoryPlan {
    pub parts: Vec<(&'static str, u64)>,
}

impl MemoryPlan {
    /// What each encoder thread beyond the first holds for its slices at `w`x`h`
    /// (`threads` in all), counted as the plan's "encoder threads" term: a padded
    /// reconstruction frame, its macroblock and motion tables, and the bitstream
    /// buffers of its bands. The encoder reserves the exact figure against the job's
    /// budget when it starts (`heap_encode_720p_slices` measures it); this estimate
    /// errs high.
    pub fn encoder_thread_bytes(w: u32, h: u32, threads: usize) -> u64 {
        let (pw, ph) = (u64::from(w.div_ceil(16) * 16 + 64), u64::from(h.div_ceil(16) * 16 + 64));
        let mbs = u64::from(w.div_ceil(16) * h.div_ceil(16));
        pw * ph * 3 / 2 + mbs * 3200 + u64::from(w) * u64::from(h) * 3 / 2 / threads.max(1) as u64
    }

    pub fn total(&self) -> u64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    fn add(&mut self, what: &'static str, bytes: u64) {
        self.parts.push((what, bytes));
    }
}

/// The outcome of a transcode.
#[derive(Debug, Clone)]
pub struct TranscodeReport {
    pub input_format: &'static str,
    pub output_format: OutputFormat,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub streams: Vec<StreamReport>,
    /// The route of each output stream, by output index.
    pub routes: Vec<Route>,
    /// Input streams left out, with the reason.
    pub skipped: Vec<(usize, CodecId, String)>,
    pub frames_decoded: u64,
    pub frames_encoded: u64,
    /// Decoding errors concealed.
    pub decode_errors: u64,
    /// Decoded pictures that carried A/53 closed captions (MPEG-2 user data).
    pub captions_seen: u64,
    /// Pictures whose captions reached the encoder, each once however many frames the
    /// filters made of it (on the first): what the encoder writes as A/53 caption SEI,
    /// one per access unit of those frames. Fewer than `captions_seen` when `--fps`
    /// dropped frames.
    pub captions_kept: u64,
    /// FNV-1a (64-bit) of the kept caption triplets in output order; the FNV offset
    /// basis when none were kept. For checking the captions' order and content.
    pub captions_digest: u64,
    /// Demux, decode, filter and encode.
    pub stages: Vec<StageStats>,
    pub memory_plan: MemoryPlan,
    pub memory: MemoryStats,
    pub demux: DemuxStats,
}

/// Transcodes `input` into `output`: the first video stream is decoded, filtered and
/// encoded as `options.video` says (or copied), audio streams are copied. `progress` is
/// called on the calling thread, which muxes, after every video packet written.
pub fn transcode(input: &Path, output: &Path, options: &TranscodeOptions, progress: &mut dyn FnMut(Progress)) -> Result<TranscodeReport, JobError> {
    let paths = Paths::new(input, output);
    let in_err = |source| paths.in_err(source);
    options.memory.check_fits().map_err(in_err)?;
    let mut src = Input::open(input, &options.memory).map_err(in_err)?;
    let total = src.len();
    let format = detect(&mut src).map_err(in_err)?;
    let Some(second) = src.try_clone() else {
        return Err(in_err(Error::unsupported(
            "transcoding a pipe (the input is read twice: once to describe its streams; give a file)",
        )));
    };
    let format_out = format_for_output(options.format, output);
    if !matches!(format_out, OutputFormat::Mp4 { .. } | OutputFormat::MpegTs | OutputFormat::M2ts | OutputFormat::H264) && options.video.is_some() {
        return Err(JobError::NoStreams {
            path: input.to_path_buf(),
            reason: format!("{} cannot hold encoded h264 (expected mp4, fmp4, ts, m2ts or h264)", format_out.name()),
        });
    }
    // The describe pass: streams and their parameters, before anything is allocated.
    let mem = &options.memory;
    let mut first = open_demuxer_as(second, format, mem).map_err(in_err)?;
    let streams = describe(first.as_mut()).map_err(in_err)?;
    if streams.is_empty() {
        return Err(JobError::NoMedia { path: input.to_path_buf(), seen: first.contents(), damage: first.stats().summary() });
    }
    drop(first);
    let plan = RoutePlan::new(&streams, format_out, options).map_err(|e| match e {
        PlanError::NoStreams(reason) => JobError::NoStreams { path: input.to_path_buf(), reason },
        PlanError::Input(source) => in_err(source),
    })?;
    let memory_plan = plan.memory(mem);
    Error::check_limit("the transcode job (decoder, frame queues, filters, encoder and packet pools)", memory_plan.total(), mem.max_memory)
        .map_err(in_err)?;
    let demux = open_demuxer_as(src, format, mem).map_err(in_err)?;
    with_atomic_output(&paths, |writer| {
        // Encoded packets exist once: a progressive file is spooled, not planned.
        let muxer = make_muxer(format_out, writer, mem, Mp4Layout::Spooled);
        let mut report = run(demux, muxer, &plan, options, &paths, total, progress)?;
        report.output_format = format_out;
        report.memory_plan = memory_plan;
        Ok(report)
    })
}

/// Reads until every stream found is described and a video packet (if any) has been
/// seen, or the input ends. Returns the stream list.
fn describe(d: &mut (dyn Demuxer + Send)) -> Result<Vec<StreamInfo>, Error> {
    let mut packets = 0u64;
    loop {
        let done = {
            let s = d.streams();
            !s.is_empty() && s.iter().all(described) && packets > 0
        };
        if done {
            break;
        }
        match d.next_packet()? {
            Some(_) => packets += 1,
            None => break,
        }
    }
    Ok(d.streams().to_vec())
}

enum PlanError {
    NoStreams(String),
    Input(Error),
}

/// Which input stream goes where, and the encoded stream's geometry and timing.
#[derive(Debug, Clone)]
struct RoutePlan {
    /// Input streams to output streams and their routes; the encoded stream's
    /// description is the encoder's output.
    map: StreamMap,
    video: Option<VideoPlan>,
    /// Time base of each input stream.
    in_time_bases: Vec<TimeBase>,
}

#[derive(Debug, Clone)]
struct VideoPlan {
    input: usize,
    output: usize,
    codec: CodecId,
    /// The input stream's framing (length-prefixed H.264 needs converting).
    in_info: StreamInfo,
    in_size: (u32, u32),
    level: u8,
    /// One frame in input ticks.
    frame_ticks: i64,
    out_tb: TimeBase,
    out_rate: (u32, u32),
    out_size: (u32, u32),
    out_sar: (u32, u32),
    encode: VideoEncode,
    /// Frames each queue between the video stages holds.
    queue_frames: usize,
}

impl VideoPlan {
    /// Decode pool: the queue, what the first filter (or the encoder) holds, and the
    /// frame being filled.
    fn decode_pool_frames(&self) -> u32 {
        let e = &self.encode;
        let held = if e.deinterlace.is_some() {
            // prev, cur, next and the one pushed.
            4
        } else if e.crop.is_some() || e.scale.is_some() || e.fps.is_some() {
            2
        } else {
            // Straight into the encoder: its lookahead, the picture being coded.
            e.encoder.queued_frames() + 2
        };
        (self.queue_frames + held + 1) as u32
    }

    /// A filter's output pool: what the next filter holds and the one being made, or
    /// for the last filter the queue to the encoder and what the encoder holds.
    fn filter_pool_frames(&self, last: bool) -> u32 {
        if last {
            (self.queue_frames + self.encode.encoder.queued_frames() + 3) as u32
        } else {
            5
        }
    }
}

impl RoutePlan {
    fn new(streams: &[StreamInfo], format: OutputFormat, options: &TranscodeOptions) -> Result<RoutePlan, PlanError> {
        let mut map = StreamMap::new(Routing::transcode(format, options.video.is_some(), options.copy_audio));
        map.update(streams, true);
        let mut video = None;
        if let Some((input, out, _)) = map.decoded() {
            let s = &streams[input];
            if !matches!(s.codec, CodecId::H264 | CodecId::Mpeg2Video | CodecId::Mpeg1Video) {
                return Err(PlanError::Input(Error::unsupported(format!(
                    "decoding {} (h264, mpeg2video and mpeg1video can be transcoded)",
                    s.codec.name()
                ))));
            }
            let vp = video_plan(s, out, options.video.clone().unwrap_or_default(), &options.memory).map_err(PlanError::Input)?;
            // The encoded stream as the muxer sees it.
            let mut info = StreamInfo::new(out, 0, CodecId::H264, BitstreamFormat::AnnexB, vp.out_tb);
            info.video = Some(VideoParams {
                width: vp.out_size.0,
                height: vp.out_size.1,
                frame_rate: Some(vp.out_rate),
                sar: Some(vp.out_sar),
                field_order: Some(transcode_core::FieldOrder::Progressive),
                ..Default::default()
            });
            map.out_streams[out] = info;
            map.reports[out].codec = CodecId::H264;
            video = Some(vp);
        }
        if map.out_streams.is_empty() {
            return Err(PlanError::NoStreams(map.no_streams_reason()));
        }
        if options.video.is_some() && video.is_none() {
            return Err(PlanError::NoStreams("no video stream to encode".into()));
        }
        Ok(RoutePlan { map, video, in_time_bases: streams.iter().map(|s| s.time_base).collect() })
    }

    /// The most each part of the job holds, from the stream description.
    fn memory(&self, mem: &MemoryConfig) -> MemoryPlan {
        let mut p = MemoryPlan::default();
        p.add("job overhead and read buffer", MemoryConfig::JOB_OVERHEAD + mem.read_buffer_size as u64);
        p.add("mp4 write and spool buffers", 2 << 20);
        let packets = packet_pool_bytes(mem);
        p.add("copied packets in flight", packets);
        let Some(v) = &self.video else { return p };
        p.add("video packets in flight", packets);
        p.add("encoded packets in flight", packets);
        let frame = |w: u32, h: u32| FrameLayout::new(PixelFormat::Yuv420p, w.max(16), h.max(16)).map_or(u64::MAX / 16, |l| l.size() as u64);
        let coded = |w: u32, h: u32| frame(w.div_ceil(16) * 16, h.div_ceil(16) * 16);
        let (iw, ih) = v.in_size;
        let in_frame = coded(iw, ih);
        let decoder_frames = match v.codec {
            CodecId::H264 => {
                let dpb = transcode_decoder_buffers::dpb_frames_for_level(v.level, iw, ih).min(mem.max_dpb_frames);
                dpb + 1 + transcode_h264::OUTPUT_FRAMES
            }
            _ => 3 + transcode_mpeg2::OUTPUT_FRAMES,
        };
        p.add("decoder pictures", decoder_frames as u64 * in_frame);
        p.add("decoded frame queue", v.decode_pool_frames() as u64 * frame(iw, ih));
        // Each filter's output pool, in the order they run.
        let mut size = (iw, ih);
        let stages = self.filter_sizes();
        for (k, (what, out)) in stages.iter().enumerate() {
            let last = k + 1 == stages.len();
            let scratch = if *what == "scale" { 2 * frame(out.0, size.1) } else { 0 };
            p.add(what, v.filter_pool_frames(last) as u64 * frame(out.0, out.1) + scratch);
            size = *out;
        }
        let (ow, oh) = v.out_size;
        let mbs = (ow.div_ceil(16) * oh.div_ceil(16)) as u64;
        // B-frames keep a second anchor and its motion table; B-pyramid the
        // reference B and its motion table too.
        let b = u64::from(v.encode.encoder.bframes > 0) + u64::from(v.encode.encoder.uses_b_pyramid());
        let enc = (v.encode.encoder.ref_frames as u64 + 1 + b) * coded(ow, oh) + mbs * 3200 * (1 + b) + 64 * 1024;
        p.add("encoder references and tables", enc);
        let threads = v.encode.threads.max(1);
        p.add("encoder threads", (threads as u64 - 1).saturating_mul(MemoryPlan::encoder_thread_bytes(ow, oh, threads)));
        p.add("encoder output buffer", mem.max_packet_size.min(2 * frame(ow, oh)));
        p
    }

    /// The filters that will run, with their output sizes.
    fn filter_sizes(&self) -> Vec<(&'static str, (u32, u32))> {
        let Some(v) = &self.video else { return Vec::new() };
        let mut out = Vec::new();
        let mut size = v.in_size;
        if v.encode.deinterlace.is_some() {
            out.push(("deinterlace pool", size));
        }
        if let Some(c) = v.encode.crop {
            size = (c.width, c.height);
            out.push(("crop pool", size));
        }
        if v.encode.scale.is_some() {
            size = v.out_size;
            out.push(("scale", size));
        }
        if v.encode.fps.is_some() {
            out.push(("fps pool", size));
        }
        out
    }
}

/// Bytes each of the three packet pools (copied, to the decoder, from the encoder) may
/// hold: half the in-flight bound, at least 1 MiB so that one large picture fits.
fn packet_pool_bytes(mem: &MemoryConfig) -> u64 {
    (mem.max_packet_bytes_in_flight / 2).max(1 << 20)
}

fn video_plan(s: &StreamInfo, output: usize, encode: VideoEncode, mem: &MemoryConfig) -> Result<VideoPlan, Error> {
    let vp = s.video.ok_or_else(|| Error::invalid(format!("video stream {} has no picture size (expected a sequence header or sps)", s.index)))?;
    if vp.width == 0 || vp.height == 0 {
        return Err(Error::invalid(format!("video stream {} is {}x{} (expected a picture size)", s.index, vp.width, vp.height)));
    }
    let rate = vp.frame_rate.filter(|r| r.0 > 0 && r.1 > 0).unwrap_or((25, 1));
    let tb = s.time_base;
    // Ticks of one frame: den_tb / (num_tb * rate).
    let frame_ticks = ((tb.den as i64 * rate.1 as i64) / (tb.num.max(1) as i64 * rate.0 as i64)).max(1);
    let mut out_tb = tb;
    let mut out_rate = rate;
    if let Some(d) = &encode.deinterlace {
        if d.rate == Rate::FieldRate {
            out_tb = TimeBase::new(tb.num, tb.den.saturating_mul(2));
            out_rate = (rate.0.saturating_mul(2), rate.1);
        }
    }
    let mut size = (vp.width, vp.height);
    let mut sar = vp.sar.filter(|s| s.0 > 0 && s.1 > 0).unwrap_or((1, 1));
    if let Some(c) = encode.crop {
        if c.width == 0 || c.height == 0 || c.x.saturating_add(c.width) > size.0 || c.y.saturating_add(c.height) > size.1 {
            return Err(Error::invalid(format!(
                "crop {}x{}+{}+{} of a {}x{} picture (expected a rectangle inside it)",
                c.width, c.height, c.x, c.y, size.0, size.1
            )));
        }
        size = (c.width, c.height);
    }
    if let Some(sc) = &encode.scale {
        let (s2, sar2) = transcode_filters::output_geometry(sc, size.0, size.1, sar)?;
        size = s2;
        sar = sar2;
    }
    if let Some(r) = encode.fps {
        out_rate = r;
        out_tb = TimeBase::new(r.1.max(1), r.0.max(1));
    }
    if size.0 % 2 != 0 || size.1 % 2 != 0 || size.0 < 16 || size.1 < 16 {
        return Err(Error::unsupported(format!(
            "encoding a {}x{} picture (expected even sizes of at least 16x16; scale it, e.g. --scale -2:{})",
            size.0,
            size.1,
            size.1 & !1
        )));
    }
    // Half the pool bound (4 frames by default): the encoder's thread runs alone
    // while it deblocks the last band, plans and writes a picture, and the decoder
    // and filters fill that core only while they have room to run ahead; with 2
    // frames the 1440x1080i job used 1.74 cores, with 4 1.79 (about 7 MiB more).
    let queue_frames = (mem.max_pool_frames as usize / 2).max(1);
    Ok(VideoPlan {
        input: s.index,
        output,
        codec: s.codec,
        in_info: s.clone(),
        in_size: (vp.width, vp.height),
        level: vp.level,
        frame_ticks,
        out_tb,
        out_rate,
        out_size: size,
        out_sar: sar,
        encode,
        queue_frames,
    })
}

/// A bounded queue whose sender records its high-water mark.
struct Tx<T> {
    tx: SyncSender<T>,
    depth: Arc<(AtomicUsize, AtomicUsize)>,
    bound: usize,
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Self {
        Tx { tx: self.tx.clone(), depth: self.depth.clone(), bound: self.bound }
    }
}

struct Rx<T> {
    rx: Receiver<T>,
    depth: Arc<(AtomicUsize, AtomicUsize)>,
}

fn queue<T>(bound: usize) -> (Tx<T>, Rx<T>) {
    let (tx, rx) = sync_channel(bound);
    let depth = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    (Tx { tx, depth: depth.clone(), bound }, Rx { rx, depth })
}

impl<T> Tx<T> {
    /// Blocks while the queue is full. Err: the receiver is gone (its stage stopped).
    fn send(&self, item: T) -> Result<(), Stop> {
        let n = self.depth.0.fetch_add(1, Ordering::Relaxed) + 1;
        self.depth.1.fetch_max(n.min(self.bound), Ordering::Relaxed);
        self.tx.send(item).map_err(|_| Stop::Stopped)
    }

    fn high_water(&self) -> usize {
        self.depth.1.load(Ordering::Relaxed)
    }
}

impl<T> Rx<T> {
    fn recv(&self) -> Option<T> {
        let item = self.rx.recv().ok()?;
        self.depth.0.fetch_sub(1, Ordering::Relaxed);
        Some(item)
    }
}

/// Why a stage stopped early.
enum Stop {
    /// Another stage failed (or the job was cancelled); that one reports why.
    Stopped,
    Failed(JobError),
}

impl From<JobError> for Stop {
    fn from(e: JobError) -> Self {
        Stop::Failed(e)
    }
}

enum Msg<T> {
    Item(T),
    End,
}

/// What reaches the mux thread.
enum MuxMsg {
    Copy(Packet),
    CopyEnd,
    Video(Packet),
    VideoEnd,
}

/// Shared between the stages: a failure or cancellation stops all of them.
struct Shared<'a> {
    stop: AtomicBool,
    cancel: Option<&'a AtomicBool>,
    bytes_in: AtomicU64,
    frames_decoded: AtomicU64,
    decode_errors: AtomicU64,
    frames_encoded: AtomicU64,
    /// Pictures decoded with closed captions.
    captions_seen: AtomicU64,
    /// What the filter stage handed on ([`CaptionTally`]), stored when it ends.
    captions_kept: AtomicU64,
    captions_digest: AtomicU64,
}

impl Shared<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// CPU time (user + system) the calling thread has used so far; zero where Linux's
/// `/proc/thread-self` is not there.
fn thread_cpu() -> Duration {
    task_cpu(Path::new("/proc/thread-self/stat")).unwrap_or_default()
}

/// The name the H.264 encoder gives its slice threads (`encoder/threads.rs`).
const ENCODER_THREAD_NAME: &str = "h264-slices";

/// CPU time of the process's live threads named `name` (their `comm`).
fn named_threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
        .filter_map(|t| task_cpu(&t.path().join("stat")))
        .sum()
}

/// utime + stime of a `/proc/.../stat` file (fields 14 and 15, counted after the
/// parenthesised name, which may hold spaces), in clock ticks of 1/100 s: Linux's
/// USER_HZ on every architecture, whatever the kernel's own tick rate.
fn task_cpu(stat: &Path) -> Option<Duration> {
    let text = std::fs::read_to_string(stat).ok()?;
    let rest = text.get(text.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Copies `data` into `pool`, waiting for room while the job runs.
fn pool_copy(pool: &BytePool, data: &[u8], shared: &Shared<'_>) -> Result<Result<bytes::Bytes, Error>, Stop> {
    loop {
        if shared.stopped() {
            return Err(Stop::Stopped);
        }
        match pool.get_timeout(data.len(), Duration::from_millis(50)) {
            Ok(Acquire::Ready(mut buf)) => {
                if let Err(e) = buf.extend_from_slice(data) {
                    return Ok(Err(e));
                }
                return Ok(Ok(buf.freeze()));
            }
            Ok(Acquire::Full) => continue,
            Err(e) => return Ok(Err(e)),
        }
    }
}

fn frame_acquire(pool: &FramePool, shared: &Shared<'_>) -> Result<transcode_frame_pool::Frame, Stop> {
    loop {
        if shared.stopped() {
            return Err(Stop::Stopped);
        }
        if let Acquire::Ready(f) = pool.acquire_timeout(Duration::from_millis(50)) {
            return Ok(f);
        }
    }
}

struct DemuxOut {
    stats: DemuxStats,
    format_name: &'static str,
    busy: Duration,
    cpu: Duration,
    packets: u64,
    queue_high_water: usize,
}

fn run(
    mut demux: Box<dyn Demuxer + Send>,
    mut muxer: Box<dyn Muxer + Send>,
    plan: &RoutePlan,
    options: &TranscodeOptions,
    paths: &Paths,
    bytes_total: Option<u64>,
    progress: &mut dyn FnMut(Progress),
) -> Result<TranscodeReport, JobError> {
    let mem = &options.memory;
    let budget = Budget::from_config(mem);
    let pool_err = |e| paths.in_err(e);
    let half = packet_pool_bytes(mem);
    let pool_cfg = |name| BytePoolConfig { name, max_bytes_in_flight: half, max_buffer: mem.max_packet_size.min(half) };
    let copy_pool = BytePool::new(pool_cfg("copied packets"), &budget).map_err(pool_err)?;
    let video_pool = BytePool::new(pool_cfg("video packets"), &budget).map_err(pool_err)?;
    let enc_pool = BytePool::new(pool_cfg("encoded packets"), &budget).map_err(pool_err)?;
    let shared = Shared {
        stop: AtomicBool::new(false),
        cancel: options.cancel.as_deref(),
        bytes_in: AtomicU64::new(0),
        frames_decoded: AtomicU64::new(0),
        decode_errors: AtomicU64::new(0),
        frames_encoded: AtomicU64::new(0),
        captions_seen: AtomicU64::new(0),
        captions_kept: AtomicU64::new(0),
        captions_digest: AtomicU64::new(CaptionTally::default().digest),
    };
    muxer.begin(&plan.map.out_streams).map_err(|e| paths.out_err(e))?;
    let (mux_tx, mux_rx) = queue::<MuxMsg>(256);
    let q = plan.video.as_ref().map_or(1, |v| v.queue_frames);
    let (pkt_tx, pkt_rx) = queue::<Msg<Packet>>(64);
    let (dec_tx, dec_rx) = queue::<Msg<SharedFrame>>(q);
    let (enc_tx, enc_rx) = queue::<Msg<SharedFrame>>(q);
    let has_video = plan.video.is_some();
    let mut stages = Vec::new();
    let mut report = TranscodeReport {
        input_format: demux.format_name(),
        output_format: options.format,
        bytes_in: 0,
        bytes_out: 0,
        streams: plan.map.reports.clone(),
        routes: plan.map.routes.clone(),
        skipped: plan.map.skipped.clone(),
        frames_decoded: 0,
        frames_encoded: 0,
        decode_errors: 0,
        captions_seen: 0,
        captions_kept: 0,
        captions_digest: CaptionTally::default().digest,
        stages: Vec::new(),
        memory_plan: MemoryPlan::default(),
        memory: MemoryStats::default(),
        demux: DemuxStats::default(),
    };
    let mut errors: Vec<JobError> = Vec::new();
    let mut mux_result: Result<u64, Stop> = Ok(0);
    std::thread::scope(|scope| {
        let stop_on_err = |r: Result<StageStats, Stop>, errors: &mut Vec<JobError>, stages: &mut Vec<StageStats>| match r {
            Ok(s) => stages.push(s),
            Err(Stop::Failed(e)) => errors.push(e),
            Err(Stop::Stopped) => {}
        };
        let sh = &shared;
        let demux_h = {
            let (mux_tx, pkt_tx) = (mux_tx.clone(), pkt_tx.clone());
            let (copy_pool, video_pool) = (&copy_pool, &video_pool);
            let demux = &mut demux;
            scope.spawn(move || {
                let r = demux_stage(demux.as_mut(), plan, &mux_tx, &pkt_tx, copy_pool, video_pool, sh, paths, options.strict);
                if r.is_err() {
                    sh.stop.store(true, Ordering::Relaxed);
                }
                r
            })
        };
        drop(pkt_tx);
        let mut video_handles = Vec::new();
        if let Some(v) = &plan.video {
            let budget = &budget;
            let dec_tx2 = dec_tx.clone();
            video_handles.push(scope.spawn(move || {
                let r = decode_stage(v, &pkt_rx, &dec_tx2, budget, mem, sh, paths, options.strict);
                if r.is_err() {
                    sh.stop.store(true, Ordering::Relaxed);
                }
                r
            }));
            let enc_tx2 = enc_tx.clone();
            video_handles.push(scope.spawn(move || {
                let r = filter_stage(v, &dec_rx, &enc_tx2, budget, sh, paths);
                if r.is_err() {
                    sh.stop.store(true, Ordering::Relaxed);
                }
                r
            }));
            let (mux_tx2, enc_pool) = (mux_tx.clone(), &enc_pool);
            video_handles.push(scope.spawn(move || {
                let r = encode_stage(v, &enc_rx, &mux_tx2, enc_pool, budget, mem, sh, paths);
                if r.is_err() {
                    sh.stop.store(true, Ordering::Relaxed);
                }
                r
            }));
        } else {
            drop((pkt_rx, dec_rx, enc_rx));
        }
        drop((dec_tx, enc_tx, mux_tx));
        mux_result = mux_stage(muxer.as_mut(), plan, &mux_rx, has_video, &mut report, sh, paths, bytes_total, progress, half);
        if mux_result.is_err() {
            shared.stop.store(true, Ordering::Relaxed);
        }
        drop(mux_rx);
        match demux_h.join() {
            Ok(Ok(d)) => {
                report.demux = d.stats;
                report.input_format = d.format_name;
                stages.push(StageStats { name: "demux", items: d.packets, busy: d.busy, cpu: d.cpu, helper_cpu: Duration::ZERO, queue_high_water: d.queue_high_water, queue_bound: 64 });
            }
            Ok(Err(Stop::Failed(e))) => errors.push(e),
            Ok(Err(Stop::Stopped)) => {}
            Err(_) => errors.push(paths.in_err(Error::invalid("the demux thread panicked"))),
        }
        for h in video_handles {
            match h.join() {
                Ok(r) => stop_on_err(r, &mut errors, &mut stages),
                Err(_) => errors.push(paths.in_err(Error::invalid("a video thread panicked"))),
            }
        }
    });
    let mux_dropped = match mux_result {
        Ok(n) => Some(n),
        Err(Stop::Failed(e)) => {
            errors.insert(0, e);
            None
        }
        Err(Stop::Stopped) => None,
    };
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    if shared.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err(JobError::Interrupted);
    }
    let Some(mux_dropped) = mux_dropped else {
        return Err(paths.in_err(Error::invalid("the job stopped without saying why")));
    };
    report.demux.dropped_packets += mux_dropped;
    if report.streams.iter().all(|s| s.packets == 0) {
        return Err(JobError::NoPackets { path: paths.input.clone(), damage: report.demux.summary() });
    }
    if options.strict && report.decode_errors > 0 {
        return Err(paths.in_err(Error::invalid(format!("damaged input (--strict): {} decoding errors concealed", report.decode_errors))));
    }
    muxer.finish().map_err(|e| paths.out_err(e))?;
    report.bytes_out = muxer.bytes_written();
    report.bytes_in = report.demux.bytes_read;
    report.frames_decoded = shared.frames_decoded.load(Ordering::Relaxed);
    report.frames_encoded = shared.frames_encoded.load(Ordering::Relaxed);
    report.decode_errors = shared.decode_errors.load(Ordering::Relaxed);
    report.captions_seen = shared.captions_seen.load(Ordering::Relaxed);
    report.captions_kept = shared.captions_kept.load(Ordering::Relaxed);
    report.captions_digest = shared.captions_digest.load(Ordering::Relaxed);
    report.stages = stages;
    report.memory = budget.stats();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn demux_stage(
    demux: &mut (dyn Demuxer + Send),
    plan: &RoutePlan,
    mux_tx: &Tx<MuxMsg>,
    pkt_tx: &Tx<Msg<Packet>>,
    copy_pool: &BytePool,
    video_pool: &BytePool,
    shared: &Shared<'_>,
    paths: &Paths,
    strict: bool,
) -> Result<DemuxOut, Stop> {
    let video_in = plan.video.as_ref().map(|v| v.input);
    let mut busy = Duration::ZERO;
    let mut packets = 0u64;
    let mut late: Vec<usize> = Vec::new();
    let mut timeline = Timeline::default();
    loop {
        if shared.stopped() {
            return Err(Stop::Stopped);
        }
        let t = Instant::now();
        let Some(pkt) = demux.next_packet().map_err(|e| paths.in_err(e))? else { break };
        packets += 1;
        if let Some(p) = pkt.pos {
            shared.bytes_in.store(p, Ordering::Relaxed);
        }
        let Some(out) = plan.map.output(pkt.stream) else {
            if pkt.stream >= plan.map.map.len() && !late.contains(&pkt.stream) {
                // Found after the output was declared: said once, not silently lost.
                late.push(pkt.stream);
                tracing::warn!("{}: stream {} appeared after the output was started; leaving it out", paths.input.display(), pkt.stream);
            }
            continue;
        };
        let is_video = Some(pkt.stream) == video_in;
        let pool = if is_video { video_pool } else { copy_pool };
        let data = match pool_copy(pool, pkt.data, shared)? {
            Ok(d) => d,
            Err(e) => return Err(Stop::Failed(paths.in_err(e))),
        };
        let mut owned = pkt.with_data(data);
        let tb = plan.in_time_bases.get(pkt.stream).copied().unwrap_or(TimeBase::new(1, 90000));
        if let Some(jump) = timeline.place(pkt.stream, tb, &mut owned) {
            tracing::warn!(
                "{}: timestamps of stream {} jump by {:.3} s at byte {}; the output's timeline continues across it",
                paths.input.display(),
                pkt.stream,
                jump,
                pkt.pos.unwrap_or(0)
            );
        }
        busy += t.elapsed();
        if is_video {
            pkt_tx.send(Msg::Item(owned))?;
        } else {
            mux_tx.send(MuxMsg::Copy(Packet { stream: out, ..owned }))?;
        }
    }
    let stats = demux.stats();
    if strict {
        if let Some(e) = strict_damage(&stats) {
            return Err(Stop::Failed(paths.in_err(e)));
        }
    }
    if video_in.is_some() {
        pkt_tx.send(Msg::End)?;
    }
    mux_tx.send(MuxMsg::CopyEnd)?;
    Ok(DemuxOut { stats, format_name: demux.format_name(), busy, cpu: thread_cpu(), packets, queue_high_water: pkt_tx.high_water() })
}

/// Closes timestamp discontinuities of the input (a recording whose clock restarts,
/// two recordings joined): when a stream's dts goes back by more than
/// [`Timeline::BACK`] (more than B-frame reordering can explain) or forward by more than [`Timeline::FORWARD`], a new epoch starts
/// whose offset continues that stream where it was; the other streams take the same
/// offset when they jump too, so the streams stay in step. Smaller gaps are carried.
#[derive(Debug, Default)]
struct Timeline {
    /// Offset of each epoch, in microseconds; epoch 0 has none and is implicit.
    epochs: Vec<i64>,
    streams: Vec<StreamClock>,
}

#[derive(Debug, Default, Clone, Copy)]
struct StreamClock {
    epoch: usize,
    /// The last packet's dts (or pts), as read.
    last_raw: Option<i64>,
    /// The smallest forward step of the dts seen: a packet's duration where the
    /// container gives none (TS).
    step: Option<i64>,
    /// End of the latest presentation (pts + duration) on the output timeline, in
    /// microseconds: where the stream continues after a jump.
    end_us: Option<i64>,
}

impl Timeline {
    const BACK: i64 = 100_000;
    const FORWARD: i64 = 10_000_000;
    const US: TimeBase = TimeBase::new(1, 1_000_000);

    /// Moves `pkt` onto the output timeline; returns the jump in seconds when one
    /// starts a new epoch for its stream.
    fn place(&mut self, stream: usize, tb: TimeBase, pkt: &mut Packet) -> Option<f64> {
        let raw = pkt.dts.or(pkt.pts)?;
        if self.streams.len() <= stream {
            self.streams.resize(stream + 1, StreamClock::default());
        }
        let s = &mut self.streams[stream];
        let mut jumped = None;
        if let Some(last) = s.last_raw {
            let delta = tb.rescale(raw - last, Self::US);
            if !(-Self::BACK..=Self::FORWARD).contains(&delta) {
                s.epoch += 1;
                if s.epoch > self.epochs.len() {
                    // The first stream to jump sets the epoch's offset: its presentation
                    // continues where it ended. Every stream of a recording jumps by the
                    // same amount, so the others continue where they ended too.
                    let start = tb.rescale(pkt.pts.unwrap_or(raw), Self::US);
                    self.epochs.push(s.end_us.unwrap_or(start) - start);
                }
                jumped = Some(delta as f64 / 1e6);
            } else if raw > last {
                s.step = Some(s.step.map_or(raw - last, |st| st.min(raw - last)));
            }
        }
        s.last_raw = Some(raw);
        let offset = if s.epoch == 0 { 0 } else { Self::US.rescale(self.epochs[s.epoch - 1], tb) };
        pkt.pts = pkt.pts.map(|t| t + offset);
        pkt.dts = pkt.dts.map(|t| t + offset);
        let end = pkt.pts.unwrap_or(raw + offset) + pkt.duration.or(s.step).unwrap_or(0);
        let end = tb.rescale(end, Self::US);
        s.end_us = Some(s.end_us.map_or(end, |e| e.max(end)));
        jumped
    }
}

/// Gives decoded frames the input's presentation times (see the module's Timing).
#[derive(Debug)]
struct PtsOrder {
    pending: BinaryHeap<Reverse<i64>>,
    last: Option<i64>,
    frame_ticks: i64,
}

impl PtsOrder {
    /// Pts of packets not yet matched to a frame; beyond that, the oldest are stale
    /// (packets that gave no frame).
    const MAX_PENDING: usize = 64;

    fn push(&mut self, pts: Option<i64>) {
        if let Some(p) = pts {
            if self.pending.len() >= Self::MAX_PENDING {
                self.pending.pop();
            }
            self.pending.push(Reverse(p));
        }
    }

    /// A packet was decoded into nothing the output shows (a dropped picture): its pts,
    /// the smallest waiting, is not a frame's.
    fn drop_one(&mut self) {
        self.pending.pop();
    }

    fn next(&mut self) -> i64 {
        let cand = self.pending.pop().map(|r| r.0);
        let pts = match (cand, self.last) {
            (Some(c), Some(l)) if c > l => c,
            (Some(c), None) => c,
            (_, Some(l)) => l + self.frame_ticks,
            (None, None) => 0,
        };
        self.last = Some(pts);
        pts
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_stage(
    v: &VideoPlan,
    rx: &Rx<Msg<Packet>>,
    tx: &Tx<Msg<SharedFrame>>,
    budget: &Budget,
    mem: &MemoryConfig,
    shared: &Shared<'_>,
    paths: &Paths,
    strict: bool,
) -> Result<StageStats, Stop> {
    let mut decoder = PacketDecoder::new(&v.in_info, mem, budget).map_err(|e| paths.in_err(e))?;
    let mut order = PtsOrder { pending: BinaryHeap::new(), last: None, frame_ticks: v.frame_ticks };
    let mut pool: Option<FramePool> = None;
    let mut dropped_seen = 0u64;
    let mut busy = Duration::ZERO;
    let mut frames = 0u64;
    let sar = v.in_info.video.and_then(|p| p.sar);
    // The first failure inside the decoder's frame callback, which cannot return it.
    let mut failure: Option<Stop> = None;
    let mut emit = |f: &VideoFrame<'_>, order: &mut PtsOrder, pool: &mut Option<FramePool>, failure: &mut Option<Stop>| {
        if failure.is_some() {
            return;
        }
        let r = (|| -> Result<(), Stop> {
            let layout = FrameLayout::new(f.format, f.width as u32, f.height as u32).map_err(|e| paths.in_err(e))?;
            if pool.as_ref().is_some_and(|p| *p.layout() != layout) {
                return Err(Stop::Failed(paths.in_err(Error::unsupported(format!("the picture size changes mid-stream at frame {frames} to {}x{}", f.width, f.height)),
                )));
            }
            if pool.is_none() {
                let mut cfg = FramePoolConfig::new(layout, mem);
                cfg.name = "decoded frames";
                cfg.capacity = v.decode_pool_frames();
                *pool = Some(FramePool::new(cfg, budget).map_err(|e| paths.in_err(e))?);
            }
            let Some(p) = pool.as_ref() else { return Err(Stop::Stopped) };
            let mut frame = frame_acquire(p, shared)?;
            for (i, plane) in f.planes.iter().enumerate().take(3) {
                let pl = layout.plane(i);
                for y in 0..pl.rows {
                    let row = y * f.strides[i];
                    frame.row_mut(i, y)[..pl.row_bytes].copy_from_slice(&plane[row..row + pl.row_bytes]);
                }
            }
            let props = frame.props_mut();
            props.pts = Some(order.next());
            props.duration = Some(v.frame_ticks);
            props.field_order = f.field_order;
            props.sar = sar;
            props.keyframe = false;
            if !f.captions.is_empty() {
                // Numbered so that a later stage can tell a picture's captions from the
                // same captions on a second frame made of that picture.
                let seq = shared.captions_seen.fetch_add(1, Ordering::Relaxed) as u32 + 1;
                props.captions = Captions::new(seq, f.captions.triplets());
            }
            frames += 1;
            shared.frames_decoded.fetch_add(1, Ordering::Relaxed);
            tx.send(Msg::Item(frame.into_shared()))
        })();
        if let Err(e) = r {
            *failure = Some(e);
        }
    };
    loop {
        let Some(msg) = rx.recv() else { return Err(Stop::Stopped) };
        let Msg::Item(pkt) = msg else { break };
        let t = Instant::now();
        order.push(pkt.pts);
        let result = decoder.decode(&pkt.data, strict, |f| emit(f, &mut order, &mut pool, &mut failure));
        if let Some(e) = failure.take() {
            return Err(e);
        }
        let dropped = decoder.decoder().dropped_pictures();
        while dropped_seen < dropped {
            order.drop_one();
            dropped_seen += 1;
        }
        match result.map_err(|e| Stop::Failed(paths.in_err(e)))? {
            Decoded::Clean => {}
            Decoded::SkippedSample(e) => {
                // Its pts belongs to no frame.
                shared.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{}: skipped a damaged sample: {e}", paths.input.display());
                order.drop_one();
            }
            Decoded::Concealed(e) => {
                let n = shared.decode_errors.fetch_add(1, Ordering::Relaxed);
                if n < 5 {
                    tracing::warn!("{}: concealed a decoding error: {e}", paths.input.display());
                }
            }
        }
        busy += t.elapsed();
    }
    let decoder = decoder.decoder_mut();
    decoder.flush();
    while let Some(f) = decoder.next_frame() {
        emit(&f, &mut order, &mut pool, &mut failure);
        if let Some(e) = failure.take() {
            return Err(e);
        }
    }
    tx.send(Msg::End)?;
    Ok(StageStats { name: "decode", items: frames, busy, cpu: thread_cpu(), helper_cpu: Duration::ZERO, queue_high_water: tx.high_water(), queue_bound: tx.bound })
}

/// The filters in the order they run, made for the first frame's layout.
fn make_filters(v: &VideoPlan, input: FrameLayout, sar: Option<(u32, u32)>, in_tb: TimeBase, budget: &Budget) -> Result<Vec<Box<dyn Filter>>, Error> {
    let mut chain: Vec<Box<dyn Filter>> = Vec::new();
    let e = &v.encode;
    let count = e.deinterlace.is_some() as usize + e.crop.is_some() as usize + e.scale.is_some() as usize + e.fps.is_some() as usize
        + (input.format() != PixelFormat::Yuv420p) as usize;
    let pool_for = |k: usize| v.filter_pool_frames(k + 1 == count);
    let mut layout = input;
    let mut tb = in_tb;
    if let Some(d) = e.deinterlace {
        let f = Deinterlace::new(DeinterlaceConfig { pool_frames: pool_for(chain.len()), ..d }, layout, budget)?;
        layout = f.output_layout();
        tb = f.output_time_base(tb);
        chain.push(Box::new(f));
    }
    if let Some(rect) = e.crop {
        let f = Crop::new(rect, layout, pool_for(chain.len()), budget)?;
        layout = f.output_layout();
        chain.push(Box::new(f));
    }
    if let Some(sc) = e.scale {
        let f = Scale::new(ScaleConfig { pool_frames: pool_for(chain.len()), ..sc }, layout, sar, budget)?;
        layout = f.output_layout();
        chain.push(Box::new(f));
    }
    if let Some(r) = e.fps {
        let f = Fps::new(r, tb, layout, pool_for(chain.len()), budget)?;
        layout = f.output_layout();
        chain.push(Box::new(f));
    }
    if layout.format() != PixelFormat::Yuv420p {
        let conversion = match layout.format() {
            PixelFormat::Yuv422p => Conversion::Yuv422To420 { filter: ScaleFilter::Bicubic },
            other => return Err(Error::unsupported(format!("encoding {} (expected yuv420p or yuv422p)", other.name()))),
        };
        let f = transcode_filters::Convert::new(conversion, layout, pool_for(chain.len()), transcode_filters::Parallelism::Auto, budget)?;
        chain.push(Box::new(f));
    }
    Ok(chain)
}

fn filter_stage(v: &VideoPlan, rx: &Rx<Msg<SharedFrame>>, tx: &Tx<Msg<SharedFrame>>, budget: &Budget, shared: &Shared<'_>, paths: &Paths) -> Result<StageStats, Stop> {
    let mut chain: Option<Vec<Box<dyn Filter>>> = None;
    let mut tally = CaptionTally::default();
    let mut busy = Duration::ZERO;
    let mut frames = 0u64;
    let err = |e| Stop::Failed(paths.in_err(e));
    loop {
        let Some(msg) = rx.recv() else { return Err(Stop::Stopped) };
        let t = Instant::now();
        let input = match msg {
            Msg::Item(f) => Some(f),
            Msg::End => None,
        };
        if chain.is_none() {
            let Some(f) = &input else { break };
            chain = Some(make_filters(v, *f.layout(), f.props().sar, v.in_info.time_base, budget).map_err(err)?);
        }
        let Some(filters) = chain.as_mut() else { break };
        let end = input.is_none();
        run_chain(filters, input, tx, shared, &mut frames, &mut tally).map_err(|s| match s {
            ChainErr::Stop(s) => s,
            ChainErr::Filter(e) => err(e),
        })?;
        busy += t.elapsed();
        if end {
            break;
        }
    }
    shared.captions_kept.store(tally.kept, Ordering::Relaxed);
    shared.captions_digest.store(tally.digest, Ordering::Relaxed);
    tx.send(Msg::End)?;
    Ok(StageStats { name: "filter", items: frames, busy, cpu: thread_cpu(), helper_cpu: Duration::ZERO, queue_high_water: tx.high_water(), queue_bound: tx.bound })
}

/// The closed captions the filter stage hands to the encoder, which writes each
/// frame's as a caption SEI: each picture's once, on the first frame made of it (a
/// deinterlacer at field rate makes two frames of one picture, a frame-rate converter
/// may repeat one; both leave the captions off the second). Counting by `seq` keeps
/// the figure right should a filter copy them anyway.
#[derive(Debug, Clone, Copy)]
struct CaptionTally {
    last_seq: u32,
    kept: u64,
    /// FNV-1a over the triplets kept, in order: what a test compares with FFmpeg's.
    digest: u64,
}

impl Default for CaptionTally {
    fn default() -> Self {
        CaptionTally { last_seq: 0, kept: 0, digest: 0xcbf2_9ce4_8422_2325 }
    }
}

impl CaptionTally {
    fn note(&mut self, c: &Captions) {
        if c.is_empty() || c.seq == self.last_seq {
            return;
        }
        self.last_seq = c.seq;
        self.kept += 1;
        for &b in c.triplets() {
            self.digest = (self.digest ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

enum ChainErr {
    Stop(Stop),
    Filter(Error),
}

impl From<Stop> for ChainErr {
    fn from(s: Stop) -> Self {
        ChainErr::Stop(s)
    }
}

/// Pushes `input` (or the end, `None`) through the chain from filter 0, sending every
/// frame the last filter gives.
fn run_chain(filters: &mut [Box<dyn Filter>], input: Option<SharedFrame>, tx: &Tx<Msg<SharedFrame>>, shared: &Shared<'_>, frames: &mut u64, tally: &mut CaptionTally) -> Result<(), ChainErr> {
    let Some((first, rest)) = filters.split_first_mut() else {
        if let Some(f) = input {
            *frames += 1;
            tally.note(&f.props().captions);
            tx.send(Msg::Item(f))?;
        }
        return Ok(());
    };
    match input {
        Some(f) => first.push(f).map_err(ChainErr::Filter)?,
        None => first.flush(),
    }
    loop {
        match first.pull().map_err(ChainErr::Filter)? {
            Pull::Frame(out) => run_chain(rest, Some(out), tx, shared, frames, tally)?,
            Pull::NeedMore => return Ok(()),
            Pull::Ended => return run_chain(rest, None, tx, shared, frames, tally),
            // Every output frame is held downstream (queued for the encoder): it frees
            // one as it codes.
            Pull::Full => {
                if shared.stopped() {
                    return Err(ChainErr::Stop(Stop::Stopped));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn encode_stage(
    v: &VideoPlan,
    rx: &Rx<Msg<SharedFrame>>,
    tx: &Tx<MuxMsg>,
    pool: &BytePool,
    budget: &Budget,
    mem: &MemoryConfig,
    shared: &Shared<'_>,
    paths: &Paths,
) -> Result<StageStats, Stop> {
    let mut encoder: Option<Encoder> = None;
    let mut busy = Duration::ZERO;
    let mut packets = 0u64;
    let err = |e| Stop::Failed(paths.in_err(e));
    let drain = |enc: &mut Encoder, packets: &mut u64| -> Result<bool, Stop> {
        loop {
            match enc.receive_packet().map_err(err)? {
                Received::Packet(p) => {
                    let data = match pool_copy(pool, p.data, shared)? {
                        Ok(d) => d,
                        Err(e) => return Err(err(e)),
                    };
                    let pkt = Packet { stream: v.output, data, pts: p.pts, dts: p.dts, duration: p.duration, keyframe: p.keyframe, pos: None };
                    *packets += 1;
                    shared.frames_encoded.fetch_add(1, Ordering::Relaxed);
                    tx.send(MuxMsg::Video(pkt))?;
                }
                Received::NeedMoreData => return Ok(false),
                Received::Done => return Ok(true),
            }
        }
    };
    loop {
        let Some(msg) = rx.recv() else { return Err(Stop::Stopped) };
        let t = Instant::now();
        match msg {
            Msg::Item(frame) => {
                if encoder.is_none() {
                    let mut cfg = v.encode.encoder.clone();
                    cfg.width = frame.width();
                    cfg.height = frame.height();
                    cfg.frame_rate = v.out_rate;
                    cfg.sar = frame.props().sar.unwrap_or(v.out_sar);
                    cfg.threads = v.encode.threads.clamp(1, 64);
                    cfg.slices = cfg.slices.max(cfg.threads as u8);
                    encoder = Some(Encoder::new(cfg, budget, mem).map_err(err)?);
                }
                let Some(enc) = encoder.as_mut() else { return Err(Stop::Stopped) };
                loop {
                    match enc.send_frame(&frame).map_err(err)? {
                        EncoderStatus::Accepted => break,
                        EncoderStatus::EnoughData => {
                            drain(enc, &mut packets)?;
                        }
                    }
                }
                drain(enc, &mut packets)?;
            }
            Msg::End => {
                if let Some(enc) = encoder.as_mut() {
                    enc.flush();
                    while !drain(enc, &mut packets)? {}
                }
                busy += t.elapsed();
                break;
            }
        }
        busy += t.elapsed();
    }
    tx.send(MuxMsg::VideoEnd)?;
    // Its output queue is the muxer's, shared with the copied packets.
    // The slice threads live as long as the encoder: counted before it is dropped.
    let helper_cpu = named_threads_cpu(ENCODER_THREAD_NAME);
    Ok(StageStats { name: "encode", items: packets, busy, cpu: thread_cpu() + helper_cpu, helper_cpu, queue_high_water: tx.high_water(), queue_bound: tx.bound })
}

/// Writes packets in dts order across streams: a packet is written once every stream
/// that has not ended has one waiting, so none can come earlier. Copied packets that
/// pile up past `hold_bytes` while the video is behind (the encoder's delay) are written
/// anyway, so that the demuxer, which feeds both, is never starved of pool room.
#[allow(clippy::too_many_arguments)]
fn mux_stage(
    muxer: &mut (dyn Muxer + Send),
    plan: &RoutePlan,
    rx: &Rx<MuxMsg>,
    has_video: bool,
    report: &mut TranscodeReport,
    shared: &Shared<'_>,
    paths: &Paths,
    bytes_total: Option<u64>,
    progress: &mut dyn FnMut(Progress),
    hold_bytes: u64,
) -> Result<u64, Stop> {
    let n = plan.map.out_streams.len();
    let mut queues: Vec<VecDeque<Packet>> = (0..n).map(|_| VecDeque::new()).collect();
    let video_out = plan.video.as_ref().map(|v| v.output);
    let mut copy_ended = false;
    let mut video_ended = !has_video;
    let mut held = 0u64;
    let us = TimeBase::new(1, 1_000_000);
    let key = |p: &Packet, s: &StreamInfo| p.dts.or(p.pts).map(|t| s.time_base.rescale(t, us));
    let mut last_key: Vec<i64> = vec![i64::MIN; n];
    let mut frames = 0u64;
    let mut first_video_us: Option<i64> = None;
    let mut out_us = 0i64;
    let mut dropped = 0u64;
    loop {
        let Some(msg) = rx.recv() else {
            return Err(Stop::Stopped);
        };
        match msg {
            MuxMsg::Copy(p) => {
                held += p.data.len() as u64;
                queues[p.stream].push_back(p);
            }
            MuxMsg::Video(p) => queues[p.stream].push_back(p),
            MuxMsg::CopyEnd => copy_ended = true,
            MuxMsg::VideoEnd => video_ended = true,
        }
        let ended = |k: usize| if Some(k) == video_out { video_ended } else { copy_ended };
        loop {
            // The stream whose waiting packet comes first; every open stream must have
            // one, unless too much is held.
            let mut best: Option<(i64, usize)> = None;
            let mut blocked = false;
            for k in 0..n {
                match queues[k].front() {
                    Some(p) => {
                        let t = key(p, &plan.map.out_streams[k]).unwrap_or(last_key[k]);
                        if best.is_none_or(|(bt, _)| t < bt) {
                            best = Some((t, k));
                        }
                    }
                    None if !ended(k) => blocked = true,
                    None => {}
                }
            }
            let Some((t, k)) = best else { break };
            if blocked && held <= hold_bytes {
                break;
            }
            if blocked && Some(k) == video_out {
                break;
            }
            let Some(p) = queues[k].pop_front() else { break };
            last_key[k] = t;
            if Some(k) != video_out {
                held -= p.data.len() as u64;
            }
            match muxer.write_packet(&p.view()) {
                Ok(()) => {
                    let r = &mut report.streams[k];
                    r.packets += 1;
                    r.bytes += p.data.len() as u64;
                }
                Err(Error::InvalidData { reason, .. }) if Some(k) != video_out => {
                    dropped += 1;
                    if dropped <= 5 {
                        tracing::warn!("{}: dropped a damaged packet of stream {k}: {reason}", paths.input.display());
                    }
                }
                Err(e) => return Err(Stop::Failed(paths.out_err(e))),
            }
            let is_video = Some(k) == video_out || (video_out.is_none() && plan.map.out_streams[k].media_type() == MediaType::Video);
            if is_video {
                frames += 1;
                if let Some(pts) = p.pts.map(|t| plan.map.out_streams[k].time_base.rescale(t, us)) {
                    let first = *first_video_us.get_or_insert(pts);
                    out_us = out_us.max(pts - first);
                }
                progress(Progress {
                    bytes_done: shared.bytes_in.load(Ordering::Relaxed),
                    bytes_total,
                    frames,
                    out_time_us: out_us,
                    bytes_out: muxer.bytes_written(),
                    ..Progress::default()
                });
            }
        }
        if copy_ended && video_ended && queues.iter().all(VecDeque::is_empty) {
            break;
        }
    }
    Ok(dropped)
}
