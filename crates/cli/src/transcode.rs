//! `transcode convert` with encoding options: the transcode job's arguments, its
//! progress display on a terminal and FFmpeg-style `-progress` blocks for machines.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use transcode_core::MemoryConfig;
use transcode_filters::{Algorithm, DeinterlaceConfig, FieldSelect, Parity, Rate, Rect, ScaleConfig, Size};
use transcode_h264::encoder::{parse_kilobits, EncoderConfig, EncoderPreset, Entropy, RateControl, Tune};
use transcode_pipeline::{transcode, OutputFormat, Progress, TranscodeOptions, TranscodeReport, VideoEncode};

use crate::convert::ConvertArgs;
use crate::size::human;
use crate::Failure;

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Video codec of the output: `h264` encodes the first video stream, `copy` copies
    /// it. Filters imply `h264`.
    #[arg(long, value_name = "CODEC")]
    pub video_codec: Option<String>,
    /// H.264 encoder preset: ultrafast, superfast, veryfast (the default, as
    /// recorders use x264's), faster, fast or medium; slower ones compress better.
    /// Options given with it (--bframes, --cabac, ...) override its settings.
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<String>,
    /// Tuning over the preset: `psnr` turns off adaptive quantisation (the
    /// psychovisual option), for objective comparisons.
    #[arg(long, value_name = "TUNE")]
    pub tune: Option<String>,
    /// Constant quantiser of the H.264 encoder, 0-51 (lower: better and larger).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=51), conflicts_with = "crf")]
    pub qp: Option<u8>,
    /// Constant rate factor, 0-51, instead of a constant quantiser: a QP per picture
    /// from its complexity (finer on simple pictures, coarser on busy ones); average
    /// content gets about QP CRF on P pictures.
    #[arg(long, value_name = "CRF")]
    pub crf: Option<f32>,
    /// Average bitrate (one pass), 1 to 1000000 kbit/s: `600` or `600k` (kbit/s),
    /// `2M`; instead of a constant quantiser or rate factor.
    #[arg(long, value_name = "RATE", conflicts_with_all = ["qp", "crf"])]
    pub bitrate: Option<String>,
    /// VBV maximum rate, 1 to 1000000 kbit/s (`600k`, `2M`), with --bufsize and
    /// --crf or --bitrate: the stream never underflows a decoder buffer of that size
    /// filling at this rate.
    #[arg(long, value_name = "RATE", conflicts_with = "qp")]
    pub maxrate: Option<String>,
    /// VBV buffer size in kbit (`1000`, `1000k`, `2M`), with --maxrate.
    #[arg(long, value_name = "SIZE", conflicts_with = "qp")]
    pub bufsize: Option<String>,
    /// Frames from one IDR picture to the next.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub keyint: Option<u32>,
    /// B-frames between reference pictures, 0-16. Default: the preset's (3 from
    /// superfast on, as x264's: about 10% smaller at the same quality; each costs one
    /// frame of delay).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=16))]
    pub bframes: Option<u8>,
    /// CABAC entropy coding (the default from superfast on: about 10% smaller than
    /// CAVLC).
    #[arg(long, conflicts_with = "cavlc")]
    pub cabac: bool,
    /// CAVLC entropy coding (faster to encode and decode, larger).
    #[arg(long)]
    pub cavlc: bool,
    /// Deinterlace: `bwdif` (default) or `yadif`, `:frame` (one frame per frame, the
    /// default) or `:field` (one per field, double rate); `auto` only deinterlaces
    /// frames marked interlaced; `:tff`/`:bff` force the field order.
    #[arg(long, value_name = "SPEC", num_args = 0..=1, default_missing_value = "bwdif")]
    pub deinterlace: Option<String>,
    /// Scale to `WxH`, or `-2:H` / `W:-2` to keep the display aspect ratio (square
    /// pixels), as FFmpeg's scale; Lanczos.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub scale: Option<String>,
    /// Crop to `W:H:X:Y` (FFmpeg's crop) or `WxH+X+Y`, before scaling.
    #[arg(long, value_name = "RECT")]
    pub crop: Option<String>,
    /// Output frame rate (`25`, `30000/1001`), by dropping or repeating frames.
    #[arg(long, value_name = "RATE")]
    pub fps: Option<String>,
    /// Audio: `copy` (the default) or `none`.
    #[arg(long, value_name = "CODEC")]
    pub audio_codec: Option<String>,
    /// Threads of the H.264 encoder. Default: the number of cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Write FFmpeg `-progress` key=value blocks to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub progress: Option<PathBuf>,
}

impl EncodeArgs {
    /// The video settings when the command asks for encoding, `None` for stream copy.
    pub fn video_encode(&self) -> Result<Option<VideoEncode>, Failure> {
        let filters = self.deinterlace.is_some() || self.scale.is_some() || self.crop.is_some() || self.fps.is_some();
        let encoder_opts = self.qp.is_some()
            || self.crf.is_some()
            || self.keyint.is_some()
            || self.bframes.is_some()
            || self.cabac
            || self.cavlc
            || self.preset.is_some()
            || self.tune.is_some()
            || self.bitrate.is_some()
            || self.maxrate.is_some()
            || self.bufsize.is_some();
        match self.video_codec.as_deref() {
            Some("copy") => {
                if filters || encoder_opts {
                    return Err(Failure::usage("filters and encoder options need --video-codec h264, not copy"));
                }
                return Ok(None);
            }
            Some("h264") | Some("libx264") | Some("avc") => {}
            Some(other) => return Err(Failure::usage(format!("unknown video codec {other:?} (expected h264 or copy)"))),
            None if filters || encoder_opts || self.audio_codec.is_some() => {}
            None => return Ok(None),
        }
        let mut v = VideoEncode::default();
        // The preset (veryfast unless asked), then the tuning, then the explicit
        // options over them, as x264 orders them.
        let preset = match &self.preset {
            Some(p) => p.parse::<EncoderPreset>().map_err(|_| {
                Failure::usage(format!("--preset {p}: unknown preset (expected ultrafast, superfast, veryfast, faster, fast or medium)"))
            })?,
            None => EncoderPreset::Veryfast,
        };
        let mut enc = EncoderConfig::with_preset(16, 16, preset);
        if let Some(t) = &self.tune {
            let tune = t.parse::<Tune>().map_err(|_| Failure::usage(format!("--tune {t}: unknown tuning (expected psnr)")))?;
            tune.apply(&mut enc);
        }
        if let Some(qp) = self.qp {
            enc.qp = qp;
        }
        if let Some(crf) = self.crf {
            if !(0.0..=51.0).contains(&crf) {
                return Err(Failure::usage(format!("--crf {crf}: expected 0 to 51")));
            }
            enc.rate_control = RateControl::Crf(crf);
        }
        self.rate_options(&mut enc)?;
        if let Some(k) = self.keyint {
            enc.keyint = k;
        }
        if self.cavlc {
            enc.entropy = Entropy::Cavlc;
        }
        if self.cabac {
            enc.entropy = Entropy::Cabac;
        }
        if let Some(b) = self.bframes {
            enc.bframes = b;
        }
        v.encoder = enc;
        v.threads = match self.threads {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if let Some(spec) = &self.deinterlace {
            v.deinterlace = Some(parse_deinterlace(spec).map_err(Failure::usage)?);
        }
        if let Some(spec) = &self.crop {
            v.crop = Some(parse_crop(spec).map_err(Failure::usage)?);
        }
        if let Some(spec) = &self.scale {
            v.scale = Some(ScaleConfig::new(parse_scale(spec).map_err(Failure::usage)?));
        }
        if let Some(spec) = &self.fps {
            v.fps = Some(parse_rate(spec).map_err(Failure::usage)?);
        }
        Ok(Some(v))
    }

    /// `--bitrate`, `--maxrate` and `--bufsize` into `enc`, each checked here so that
    /// a mistake is a one-line error naming the option.
    fn rate_options(&self, enc: &mut EncoderConfig) -> Result<(), Failure> {
        let kbits = |opt: &str, v: &str, unit: &str| {
            parse_kilobits(v)
                .filter(|k| (1..=1_000_000).contains(k))
                .ok_or_else(|| Failure::usage(format!("{opt} {v}: expected 1 to 1000000 {unit}, as 600, 600k or 2M")))
        };
        if let Some(v) = &self.bitrate {
            enc.rate_control = RateControl::Abr { kbps: kbits("--bitrate", v, "kbit/s")? };
        }
        match (&self.maxrate, &self.bufsize) {
            (None, None) => {}
            (Some(_), None) => return Err(Failure::usage("--maxrate needs --bufsize (the VBV buffer: 1 to 1000000 kbit, as 1000k or 2M)")),
            (None, Some(_)) => return Err(Failure::usage("--bufsize needs --maxrate (the VBV rate: 1 to 1000000 kbit/s, as 600k or 2M)")),
            (Some(max), Some(size)) => {
                let max_k = kbits("--maxrate", max, "kbit/s")?;
                let size_k = kbits("--bufsize", size, "kbit")?;
                match enc.rate_control {
                    RateControl::ConstantQp => {
                        return Err(Failure::usage("--maxrate needs --crf or --bitrate (a constant quantiser has no rate to limit)"))
                    }
                    RateControl::Abr { kbps } if max_k < kbps => {
                        return Err(Failure::usage(format!("--maxrate {max}: expected at least --bitrate ({kbps} kbit/s) up to 1000000 kbit/s")))
                    }
                    _ => {}
                }
                enc.vbv_maxrate_kbps = Some(max_k);
                enc.vbv_bufsize_kbits = Some(size_k);
            }
        }
        Ok(())
    }

    fn copy_audio(&self) -> Result<bool, Failure> {
        match self.audio_codec.as_deref() {
            None | Some("copy") => Ok(true),
            Some("none") => Ok(false),
            Some(other) => Err(Failure::usage(format!("unknown audio codec {other:?} (expected copy or none)"))),
        }
    }
}

/// `[bwdif|yadif|auto][:frame|:field][:tff|:bff]`, in any order.
pub fn parse_deinterlace(spec: &str) -> Result<DeinterlaceConfig, String> {
    // One frame per frame unless asked: what recorder front-ends use (bwdif=0:-1:0).
    let mut c = DeinterlaceConfig { rate: Rate::FrameRate, ..DeinterlaceConfig::default() };
    for token in spec.split(':').filter(|t| !t.is_empty()) {
        match token {
            "bwdif" => c.algorithm = Algorithm::Bwdif,
            "yadif" => c.algorithm = Algorithm::Yadif,
            "auto" | "interlaced" => c.select = FieldSelect::Interlaced,
            "all" => c.select = FieldSelect::All,
            "frame" => c.rate = Rate::FrameRate,
            "field" => c.rate = Rate::FieldRate,
            "tff" => c.parity = Parity::TopFirst,
            "bff" => c.parity = Parity::BottomFirst,
            other => {
                return Err(format!(
                    "--deinterlace {spec}: unknown {other:?} (expected bwdif, yadif or auto, then :frame or :field, and :tff or :bff)"
                ))
            }
        }
    }
    Ok(c)
}

fn dimension(s: &str, what: &str, spec: &str) -> Result<u32, String> {
    s.parse::<u32>().map_err(|_| format!("{what} {spec}: {s:?} is not a size (expected a whole number)"))
}

/// `WxH`, `W:H`, `-2:H`, `W:-2` (`-1` is taken as `-2`: encoders need even sizes).
pub fn parse_scale(spec: &str) -> Result<Size, String> {
    let (w, h) = spec
        .split_once(['x', ':'])
        .ok_or_else(|| format!("--scale {spec}: expected WxH, -2:H or W:-2"))?;
    let keep = |s: &str| s == "-1" || s == "-2";
    match (keep(w), keep(h)) {
        (true, true) => Err(format!("--scale {spec}: one of width and height must be given")),
        (true, false) => Ok(Size::Height(dimension(h, "--scale", spec)?)),
        (false, true) => Ok(Size::Width(dimension(w, "--scale", spec)?)),
        (false, false) => Ok(Size::Exact { width: dimension(w, "--scale", spec)?, height: dimension(h, "--scale", spec)? }),
    }
}

/// `W:H:X:Y` or `WxH+X+Y`.
pub fn parse_crop(spec: &str) -> Result<Rect, String> {
    let parts: Vec<&str> = if spec.contains('x') { spec.split(['x', '+']).collect() } else { spec.split(':').collect() };
    match parts.as_slice() {
        [w, h, x, y] => Ok(Rect {
            width: dimension(w, "--crop", spec)?,
            height: dimension(h, "--crop", spec)?,
            x: dimension(x, "--crop", spec)?,
            y: dimension(y, "--crop", spec)?,
        }),
        _ => Err(format!("--crop {spec}: expected W:H:X:Y or WxH+X+Y")),
    }
}

/// `25`, `30000/1001`.
pub fn parse_rate(spec: &str) -> Result<(u32, u32), String> {
    let (n, d) = spec.split_once('/').unwrap_or((spec, "1"));
    match (n.parse::<u32>(), d.parse::<u32>()) {
        (Ok(n), Ok(d)) if n > 0 && d > 0 && n <= 65535 && d <= 65535 => Ok((n, d)),
        _ => Err(format!("--fps {spec}: expected a rate such as 25 or 30000/1001 (terms 1..=65535)")),
    }
}

pub fn run(args: &ConvertArgs, format: OutputFormat, video: VideoEncode, memory: MemoryConfig, cancel: Arc<AtomicBool>) -> Result<(), Failure> {
    let options = TranscodeOptions {
        format,
        video: Some(video),
        copy_audio: args.encode.copy_audio()?,
        memory,
        strict: args.strict,
        cancel: Some(cancel),
    };
    let mut sink = match &args.encode.progress {
        None => None,
        Some(p) if p.as_os_str() == "-" => {
            if args.output.as_os_str() == "-" {
                return Err(Failure::usage("--progress - and output - would both write standard output"));
            }
            Some(ProgressSink::Stdout)
        }
        Some(p) => Some(ProgressSink::File(File::create(p).map_err(|e| Failure {
            code: crate::exit::IO,
            message: format!("{}: {e}", p.display()),
        })?)),
    };
    let mut display = TranscodeDisplay::new(sink.take());
    let result = transcode(&args.input, &args.output, &options, &mut |p| display.update(p));
    display.finish(result.is_ok());
    let report = result.map_err(|e| match e {
        // Said in the units the user gave: the job's plan against --max-memory.
        transcode_pipeline::JobError::Input { path, source: transcode_core::Error::LimitExceeded { what, requested, limit } }
            if what.starts_with("the transcode job") =>
        {
            Failure {
                code: crate::exit::INVALID_INPUT,
                message: format!("{}: {what} needs {} but --max-memory is {}", path.display(), human(requested), human(limit)),
            }
        }
        other => other.into(),
    })?;
    for (i, codec, why) in &report.skipped {
        tracing::info!("stream {i} ({}) left out: {why}", codec.name());
    }
    if report.decode_errors > 0 {
        tracing::warn!("{}: {} decoding errors concealed", args.input.display(), report.decode_errors);
    }
    if let Some(damage) = report.demux.summary() {
        tracing::warn!("{}: {damage}; everything else was kept", args.input.display());
    }
    if args.stats {
        crate::log::release();
        print_stats(args, &report, &display);
    }
    Ok(())
}

fn print_stats(args: &ConvertArgs, r: &TranscodeReport, d: &TranscodeDisplay) {
    let secs = d.line.elapsed().as_secs_f64();
    eprintln!("input:   {} ({}), {}", args.input.display(), r.input_format, human(r.bytes_in));
    eprintln!("output:  {} ({}), {}", args.output.display(), r.output_format.name(), human(r.bytes_out));
    for (s, route) in r.streams.iter().zip(&r.routes) {
        eprintln!("  stream {} -> {}: {:?} {} {} packets, {}", s.input_index, s.output_index, route, s.codec.name(), s.packets, human(s.bytes));
    }
    eprintln!(
        "video:   {} frames decoded, {} encoded, {} decoding errors concealed; {:.3} s, {:.1} fps",
        r.frames_decoded,
        r.frames_encoded,
        r.decode_errors,
        secs,
        r.frames_encoded as f64 / secs.max(1e-9)
    );
    if r.captions_seen > 0 {
        eprintln!("captions: {} pictures with A/53 captions, {} written as caption SEI", r.captions_seen, r.captions_kept);
    }
    for s in &r.stages {
        let helpers = if s.helper_cpu.is_zero() { String::new() } else { format!(" ({:.2} s on helper threads)", s.helper_cpu.as_secs_f64()) };
        eprintln!(
            "  stage {:<7} {:>7} items, busy {:.3} s, cpu {:.2} s{helpers}, output queue peak {}/{}",
            s.name,
            s.items,
            s.busy.as_secs_f64(),
            s.cpu.as_secs_f64(),
            s.queue_high_water,
            s.queue_bound
        );
    }
    eprintln!("memory:  planned {}, peak heap {} (sampled), peak anonymous RSS {}", human(r.memory_plan.total()), human(d.line.peak_heap as u64), human(d.line.peak_rss_anon));
    for (what, bytes) in &r.memory_plan.parts {
        eprintln!("  plan {what}: {}", human(*bytes));
    }
    let m = &r.memory;
    eprintln!("budget:  limit {}, peak reserved {}", human(m.limit), human(m.peak_reserved));
    for p in &m.pools {
        eprintln!("  pool {}: {} buffers allocated, peak {} in use, {}", p.name, p.allocated, p.peak_in_use, human(p.bytes));
    }
}

enum ProgressSink {
    Stdout,
    File(File),
}

/// The terminal display (frames, fps, speed, size, bitrate, ETA, through indicatif)
/// and the `-progress` blocks, both from the job's progress events on the muxing
/// thread.
struct TranscodeDisplay {
    line: crate::progress::ProgressLine,
    sink: Option<ProgressSink>,
    last_block: Option<Instant>,
    last_msg: Option<Instant>,
    last: Progress,
}

impl TranscodeDisplay {
    /// FFmpeg writes a block every `-stats_period`, 0.5 s by default.
    const BLOCK_PERIOD: Duration = Duration::from_millis(500);

    fn new(sink: Option<ProgressSink>) -> Self {
        TranscodeDisplay {
            line: crate::progress::ProgressLine::with_template("{msg}  {wide_bar}  ETA {eta}"),
            sink,
            last_block: None,
            last_msg: None,
            last: Progress::default(),
        }
    }

    fn update(&mut self, p: Progress) {
        self.last = p;
        self.line.sample_cheap();
        let now = Instant::now();
        if self.sink.is_some() && self.last_block.is_none_or(|t| now - t >= Self::BLOCK_PERIOD) {
            self.last_block = Some(now);
            self.write_block(false);
        }
        let bar = self.line.bar();
        if bar.is_hidden() || self.last_msg.is_some_and(|t| now - t < Duration::from_millis(100)) {
            return;
        }
        self.last_msg = Some(now);
        // The bar follows the input read; the figures are the output's.
        if let Some(t) = p.bytes_total {
            bar.set_length(t);
        }
        bar.set_position(p.bytes_done);
        let secs = self.line.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "frame {:>6}  {:>6.1} fps  {:>5.2}x  {:>10}  {:>8.1} kb/s",
            p.frames,
            p.frames as f64 / secs,
            p.out_time_us as f64 / 1e6 / secs,
            human(p.bytes_out),
            bitrate_kbps(p)
        ));
    }

    fn finish(&mut self, ok: bool) {
        self.line.finish();
        if ok && self.sink.is_some() {
            self.write_block(true);
        }
    }

    /// One block as FFmpeg 5.1 writes it for `-progress`.
    fn write_block(&mut self, end: bool) {
        let p = self.last;
        let secs = self.line.elapsed().as_secs_f64().max(1e-3);
        let us = p.out_time_us.max(0);
        let block = format!(
            "frame={}\nfps={:.2}\nbitrate={:.1}kbits/s\ntotal_size={}\nout_time_us={us}\nout_time_ms={us}\nout_time={:02}:{:02}:{:02}.{:06}\ndup_frames=0\ndrop_frames=0\nspeed={:.3}x\nprogress={}\n",
            p.frames,
            p.frames as f64 / secs,
            bitrate_kbps(p),
            p.bytes_out,
            us / 3_600_000_000,
            us / 60_000_000 % 60,
            us / 1_000_000 % 60,
            us % 1_000_000,
            us as f64 / 1e6 / secs,
            if end { "end" } else { "continue" }
        );
        let r = match &mut self.sink {
            Some(ProgressSink::Stdout) => {
                let mut out = std::io::stdout().lock();
                out.write_all(block.as_bytes()).and_then(|_| out.flush())
            }
            Some(ProgressSink::File(f)) => f.write_all(block.as_bytes()),
            None => Ok(()),
        };
        if let Err(e) = r {
            // A progress reader that went away does not stop the job.
            tracing::warn!("--progress: {e}; no more progress is written");
            self.sink = None;
        }
    }
}

fn bitrate_kbps(p: Progress) -> f64 {
    if p.out_time_us > 0 {
        p.bytes_out as f64 * 8.0 / (p.out_time_us as f64 / 1e6) / 1000.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_specs() {
        let d = parse_deinterlace("bwdif").unwrap();
        assert_eq!((d.algorithm, d.rate, d.parity, d.select), (Algorithm::Bwdif, Rate::FrameRate, Parity::Auto, FieldSelect::All));
        let d = parse_deinterlace("yadif:field:tff").unwrap();
        assert_eq!((d.algorithm, d.rate, d.parity), (Algorithm::Yadif, Rate::FieldRate, Parity::TopFirst));
        assert_eq!(parse_deinterlace("auto").unwrap().select, FieldSelect::Interlaced);
        assert!(parse_deinterlace("bob").unwrap_err().contains("unknown \"bob\""));
        assert_eq!(parse_scale("-2:720").unwrap(), Size::Height(720));
        assert_eq!(parse_scale("1280:-1").unwrap(), Size::Width(1280));
        assert_eq!(parse_scale("640x360").unwrap(), Size::Exact { width: 640, height: 360 });
        assert!(parse_scale("-2:-2").is_err());
        assert_eq!(parse_crop("704:576:8:0").unwrap(), Rect { width: 704, height: 576, x: 8, y: 0 });
        assert_eq!(parse_crop("704x576+8+0").unwrap(), Rect { width: 704, height: 576, x: 8, y: 0 });
        assert_eq!(parse_rate("30000/1001").unwrap(), (30000, 1001));
        assert!(parse_rate("0").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        encode: EncodeArgs,
    }

    #[test]
    fn the_preset_and_tune_reach_the_encoder_and_explicit_options_win() {
        use clap::Parser;
        use transcode_h264::encoder::{MeMethod, Profile};
        let enc = |args: &[&str]| {
            let mut all = vec!["t", "--video-codec", "h264"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().encode.video_encode().map(|v| v.unwrap().encoder)
        };
        // Default: veryfast, with its AQ.
        let v = enc(&[]).unwrap();
        assert_eq!(v, EncoderConfig::with_preset(16, 16, EncoderPreset::Veryfast));
        assert_eq!((v.entropy, v.profile, v.bframes, v.lookahead, v.me_method), (Entropy::Cabac, Profile::High, 3, 10, MeMethod::Hexagon));
        assert!(v.aq_strength > 0.0 && v.mbtree && v.partition_early_exit);
        let u = enc(&["--preset", "ultrafast"]).unwrap();
        assert_eq!(u, EncoderConfig::with_preset(16, 16, EncoderPreset::Ultrafast));
        assert_eq!((u.entropy, u.bframes, u.me_method, u.subpel_refine), (Entropy::Cavlc, 0, MeMethod::Diamond, 2));
        let m = enc(&["--preset", "medium", "--tune", "psnr"]).unwrap();
        assert_eq!((m.me_method, m.lookahead, m.aq_strength), (MeMethod::Umh, 40, 0.0));
        // Explicit options override the preset, in any order.
        let o = enc(&["--bframes", "0", "--preset", "ultrafast", "--cabac", "--qp", "30"]).unwrap();
        assert_eq!((o.bframes, o.entropy, o.qp, o.me_method), (0, Entropy::Cabac, 30, MeMethod::Diamond));
        let o = enc(&["--preset", "medium", "--cavlc", "--bframes", "1"]).unwrap();
        assert_eq!((o.entropy, o.bframes, o.me_method), (Entropy::Cavlc, 1, MeMethod::Umh));
        // A preset alone asks for encoding.
        let v = Cli::parse_from(["t", "--preset", "fast"]).encode.video_encode().unwrap().unwrap();
        assert_eq!(v.encoder.subpel_refine, 4);
        for bad in [["--preset", "placebo"], ["--tune", "film"]] {
            let e = enc(&bad).unwrap_err();
            assert!(e.message.contains(bad[0]) && e.message.contains("expected"), "{}", e.message);
        }
    }

    #[test]
    fn threads_reach_the_job_and_default_to_the_cores() {
        use clap::Parser;
        let v = Cli::parse_from(["t", "--scale", "-2:144", "--threads", "3"]).encode.video_encode().unwrap().unwrap();
        assert_eq!(v.threads, 3);
        let v = Cli::parse_from(["t", "--scale", "-2:144"]).encode.video_encode().unwrap().unwrap();
        assert_eq!(v.threads, std::thread::available_parallelism().unwrap().get());
        assert!(Cli::try_parse_from(["t", "--threads", "0"]).is_err());
    }

    #[test]
    fn bitrate_and_vbv_options_reach_the_encoder_or_name_the_option() {
        use clap::Parser;
        let enc = |args: &[&str]| {
            let mut all = vec!["t"];
            all.extend_from_slice(args);
            Cli::parse_from(all).encode.video_encode().map(|v| v.unwrap().encoder)
        };
        let e = enc(&["--bitrate", "600k"]).unwrap();
        assert_eq!(e.rate_control, RateControl::Abr { kbps: 600 });
        assert_eq!(e.vbv(), None);
        let e = enc(&["--bitrate", "1.5M", "--maxrate", "2M", "--bufsize", "4000"]).unwrap();
        assert_eq!(e.rate_control, RateControl::Abr { kbps: 1500 });
        assert_eq!(e.vbv(), Some((2000, 4000)));
        let e = enc(&["--crf", "20", "--maxrate", "800", "--bufsize", "1600k"]).unwrap();
        assert_eq!((e.rate_control, e.vbv()), (RateControl::Crf(20.0), Some((800, 1600))));
        for (args, wanted) in [
            (&["--bitrate", "fast"][..], "--bitrate fast: expected 1 to 1000000 kbit/s"),
            (&["--bitrate", "0"][..], "--bitrate 0: expected 1 to 1000000"),
            (&["--bitrate", "2000M"][..], "--bitrate 2000M: expected 1 to 1000000"),
            (&["--crf", "20", "--maxrate", "1M"][..], "--maxrate needs --bufsize"),
            (&["--crf", "20", "--bufsize", "1M"][..], "--bufsize needs --maxrate"),
            (&["--maxrate", "1M", "--bufsize", "2M"][..], "--maxrate needs --crf or --bitrate"),
            (&["--bitrate", "1M", "--maxrate", "500k", "--bufsize", "2M"][..], "--maxrate 500k: expected at least --bitrate (1000 kbit/s)"),
        ] {
            let err = enc(args).unwrap_err().message;
            assert!(err.contains(wanted), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        assert!(Cli::try_parse_from(["t", "--bitrate", "600k", "--qp", "20"]).is_err());
        assert!(Cli::try_parse_from(["t", "--bitrate", "600k", "--crf", "20"]).is_err());
        assert!(Cli::try_parse_from(["t", "--crf", "20", "--maxrate", "1M", "--bufsize", "1M", "--qp", "3"]).is_err());
    }
}
