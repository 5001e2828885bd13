//! Workloads for heap profiling, shared by the `transcode-memprof` binary (dhat
//! profiles for `cargo xtask memprof`) and the dhat heap tests in `tests/`.
#![forbid(unsafe_code)]

use std::io;

use transcode_core::{MemoryConfig, Packet};
use transcode_demux_bridge::{open_demuxer, Input};
use transcode_mux::Muxer;
use transcode_pipeline::{remux_to_writer, OutputFormat, RemuxOptions};

/// Demuxes every packet and touches its bytes; returns the packet count.
pub fn demux_all(data: bytes::Bytes) -> u64 {
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(Input::from_bytes(data, "memprof.ts"), &config).expect("demuxer");
    let mut sum = 0u64;
    let mut n = 0;
    while let Some(p) = demux.next_packet().expect("packet") {
        sum = sum.wrapping_add(p.data.iter().map(|&b| b as u64).sum::<u64>());
        n += 1;
    }
    std::hint::black_box(sum);
    n
}

/// Remuxes into a sink: the muxer's own memory is measured, not the output's.
pub fn remux(data: bytes::Bytes, format: OutputFormat) {
    let options = RemuxOptions::new(format);
    let report = remux_to_writer(Input::from_bytes(data, "memprof-input"), Box::new(io::sink()), &options, &mut |_| {}).expect("remux");
    std::hint::black_box(report.bytes_out);
}

/// The TS fixture repeated `loops` times with timestamps continuing, written by
/// transcode's own TS muxer (deterministic, no FFmpeg needed).
pub fn looped_ts(loops: usize) -> bytes::Bytes {
    looped(&transcode_testkit::testdata("ts/h264_aac.ts"), loops)
}

/// The TS file `path` repeated `loops` times with timestamps continuing.
pub fn looped(path: &std::path::Path, loops: usize) -> bytes::Bytes {
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(Input::open(path, &config).expect("fixture"), &config).expect("demuxer");
    let mut packets: Vec<Packet> = Vec::new();
    while let Some(p) = demux.next_packet().expect("packet") {
        packets.push(p.to_packet());
    }
    let streams = demux.streams().to_vec();
    // One loop lasts from the first to the last timestamp plus one frame.
    let first = packets.iter().filter_map(|p| p.dts).min().unwrap_or(0);
    let last = packets.iter().filter_map(|p| p.dts.map(|d| d + p.duration.unwrap_or(3600))).max().unwrap_or(0);
    let span = last - first;
    let buf = SharedVec::default();
    let mut mux = transcode_mux::ts::TsMuxer::new(Box::new(buf.clone()), transcode_mux::ts::TsOptions::default());
    mux.begin(&streams).expect("begin");
    for k in 0..loops as i64 {
        for p in &packets {
            let mut v = p.view();
            v.pts = v.pts.map(|t| t + k * span);
            v.dts = v.dts.map(|t| t + k * span);
            mux.write_packet(&v).expect("write");
        }
    }
    mux.finish().expect("finish");
    drop(mux);
    buf.take()
}

/// A `Write` into a shared vector, so the bytes can be taken back after the muxer that
/// owns the writer is dropped.
#[derive(Clone, Default)]
struct SharedVec(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedVec {
    fn take(&self) -> bytes::Bytes {
        bytes::Bytes::from(std::mem::take(&mut *self.0.lock().unwrap()))
    }
}

impl io::Write for SharedVec {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decodes an Annex-B H.264 stream, touching every frame; returns the frame count.
pub fn decode_all(data: &[u8]) -> u64 {
    let mut decoder = transcode_h264::Decoder::new(&MemoryConfig::default());
    let mut frames = 0u64;
    let mut sum = 0u64;
    decoder
        .decode_with(data, |f| {
            frames += 1;
            sum = sum.wrapping_add(f.planes[0][0] as u64);
        })
        .expect("decode");
    decoder.flush();
    while let Some(f) = decoder.next_frame() {
        frames += 1;
        sum = sum.wrapping_add(f.planes[0][0] as u64);
    }
    std::hint::black_box(sum);
    frames
}

/// Runs the decode job (`transcode convert IN OUT.y4m`) from `input` to a temporary
/// Y4M file, which is removed after; returns the frame count.
pub fn decode_job(input: &std::path::Path) -> u64 {
    let out = std::env::temp_dir().join(format!("transcode-memprof-{}.y4m", std::process::id()));
    let options = RemuxOptions::new(OutputFormat::from_extension("y4m").expect("y4m output"));
    let report = transcode_pipeline::decode(input, &out, &options, None, &mut |_| {}).expect("decode job");
    let _ = std::fs::remove_file(&out);
    report.frames
}

/// The 576i MPEG-2 + MP2 broadcast sample looped to about `seconds` seconds (0.8 s a
/// loop), written to a temporary file, which the transcode job needs (it reads its
/// input twice). The caller removes it.
pub fn looped_576i_file(seconds: u32) -> std::path::PathBuf {
    let loops = (seconds as usize * 5).div_ceil(4);
    let data = looped(&transcode_testkit::testdata("ts/mpeg2_576i_mp2.ts"), loops);
    let path = std::env::temp_dir().join(format!("transcode-memprof-{}-{seconds}s.ts", std::process::id()));
    std::fs::write(&path, &data).expect("write the looped input");
    path
}

/// The transcode job of the memory gate: what a recorder runs every night (bwdif at
/// frame rate, Lanczos to 360 lines, H.264 with CABAC and 3 B-frames, audio copied,
/// faststart MP4), with every pool filled when it is made
/// ([`transcode_core::PoolFill::Upfront`]) so that its peak heap does not depend on
/// how the threads are scheduled.
pub fn transcode_options() -> transcode_pipeline::TranscodeOptions {
    use transcode_filters::{DeinterlaceConfig, Rate, ScaleConfig, Size};
    let mut video = transcode_pipeline::VideoEncode {
        deinterlace: Some(DeinterlaceConfig { rate: Rate::FrameRate, ..DeinterlaceConfig::default() }),
        scale: Some(ScaleConfig::new(Size::Height(360))),
        ..Default::default()
    };
    video.encoder.entropy = transcode_h264::encoder::Entropy::Cabac;
    video.encoder.bframes = 3;
    let mut options = transcode_pipeline::TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, video);
    options.memory.pool_fill = transcode_core::PoolFill::Upfront;
    options
}

/// Runs the transcode job from `input` to a temporary MP4, which is removed after.
/// Returns the frames encoded and the job's memory plan total.
pub fn transcode_job(input: &std::path::Path) -> (u64, u64) {
    let out = std::env::temp_dir().join(format!("transcode-memprof-{}.mp4", std::process::id()));
    let report = transcode_pipeline::transcode(input, &out, &transcode_options(), &mut |_| {}).expect("transcode job");
    let _ = std::fs::remove_file(&out);
    (report.frames_encoded, report.memory_plan.total())
}

/// Figures of the encode scenario: frames coded, bytes written, and the bound of
/// issue 9 point 2 that its peak heap must keep.
#[derive(Debug)]
pub struct EncodeRun {
    pub frames: u64,
    pub bytes: u64,
    /// Issue 9's bound: (lookahead + B-frame delay + references + 3) x frame +
    /// 16 MiB, with the lookahead counted as the frames the encoder holds
    /// ([`transcode_h264::encoder::EncoderConfig::queued_frames`]).
    pub bound: u64,
}

/// The encoder alone at 1920x1080 with the CLI's default preset, `veryfast` (CABAC,
/// High with the 8x8 transform, 3 B-frames with B-pyramid, a 10-frame lookahead
/// with mb-tree), at CRF 23, on
/// `seconds` of a synthetic 10 fps source: a detailed pattern panned two samples
/// right and one down per frame, with a cut every 4 s, made frame by frame into the
/// encoder's own pool (no file, so 60 s costs no disk). Frames go through a pool
/// filled up front, so that the peak does not depend on when the pool grows.
pub fn encode_1080p(seconds: u32) -> EncodeRun {
    use transcode_frame_pool::{FrameLayout, FramePool, FramePoolConfig, PixelFormat};
    use transcode_h264::encoder::{Encoder, EncoderConfig, EncoderPreset, EncoderStatus, RateControl, Received};
    let (w, h) = (1920u32, 1080u32);
    let mut cfg = EncoderConfig::with_preset(w, h, EncoderPreset::Veryfast);
    cfg.frame_rate = (10, 1);
    cfg.rate_control = RateControl::Crf(23.0);
    let memory = MemoryConfig { pool_fill: transcode_core::PoolFill::Upfront, ..MemoryConfig::default() };
    let budget = transcode_core::Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, w, h).expect("1080p layout");
    let frame_bytes = layout.buffer_len() as u64;
    let mut pcfg = FramePoolConfig::new(layout, &memory);
    pcfg.capacity = pcfg.capacity.max(cfg.queued_frames() as u32 + 1);
    let pool = FramePool::new(pcfg, &budget).expect("frame pool");
    let held = cfg.queued_frames() as u64;
    // The two anchors, and the reference B picture of a B-pyramid.
    let (b_delay, refs) = (cfg.bframes as u64, 2 + cfg.uses_b_pyramid() as u64);
    let bound = (held + b_delay + refs + 3) * frame_bytes + 16 * 1024 * 1024;
    let mut enc = Encoder::new(cfg, &budget, &memory).expect("encoder");
    let (mut frames, mut bytes) = (0u64, 0u64);
    let mut drain = |enc: &mut Encoder| -> bool {
        match enc.receive_packet().expect("encode") {
            Received::Packet(p) => {
                frames += 1;
                bytes += p.data.len() as u64;
                true
            }
            Received::NeedMoreData | Received::Done => false,
        }
    };
    for n in 0..seconds as usize * 10 {
        let mut f = pool.acquire();
        // A new scene every 40 frames: a different pattern seed.
        let (scene, t) = (n / 40, (n % 40) as u32);
        for p in 0..3 {
            let (pw, ph) = if p == 0 { (w, h) } else { (w / 2, h / 2) };
            let stride = f.stride(p);
            let plane = f.plane_mut(p);
            let (dx, dy) = (t * 2 >> (p > 0) as u32, t >> (p > 0) as u32);
            for y in 0..ph {
                let row = &mut plane[y as usize * stride..][..pw as usize];
                for (x, s) in row.iter_mut().enumerate() {
                    let (u, v) = (x as u32 + dx, y + dy);
                    let k = (scene as u32 + 1) * 7 + p as u32;
                    // Smooth gradients with detail: what natural pictures are made of.
                    let val = (u / 3 + v / 5 + ((u * k) ^ (v * 3)) % 23 + ((u / 16 + v / 16) % 4) * 20) & 0xff;
                    *s = val as u8;
                }
            }
        }
        f.props_mut().pts = Some(n as i64);
        let f = f.into_shared();
        while enc.send_frame(&f).expect("send") == EncoderStatus::EnoughData {
            drain(&mut enc);
        }
        while drain(&mut enc) {}
    }
    enc.flush();
    while drain(&mut enc) {}
    EncodeRun { frames, bytes, bound }
}
