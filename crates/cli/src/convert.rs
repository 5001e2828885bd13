//! `transcode convert`: stream copy between containers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use transcode_core::MemoryConfig;
use transcode_pipeline::{decode, remux, OutputFormat, RemuxOptions, RemuxReport, StreamSelection};

use crate::progress::ProgressLine;
use crate::size::{human, parse_size};
use crate::Failure;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input file (`-` for standard input). The format is detected from the content.
    pub input: PathBuf,
    /// Output file (`-` for standard output, which needs --format). The container comes
    /// from the extension: mp4, mov, m4v, ts, m2ts, h264, h265, aac, mp2, mp3, y4m.
    pub output: PathBuf,
    /// Output container, overriding the extension.
    #[arg(long, short = 'f', value_name = "NAME")]
    pub format: Option<String>,
    /// Write fragmented MP4 (moof/mdat pairs); always used when writing MP4 to a pipe.
    #[arg(long)]
    pub fragmented: bool,
    /// Copy only video streams.
    #[arg(long, conflicts_with_all = ["audio", "streams"])]
    pub video: bool,
    /// Copy only audio streams.
    #[arg(long, conflicts_with = "streams")]
    pub audio: bool,
    /// Copy only these input streams (indices as `transcode probe` shows them), e.g. `0,2`.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub streams: Vec<usize>,
    /// Print a summary on stderr: bytes, packets per stream, speed, peak memory.
    #[arg(long)]
    pub stats: bool,
    /// Fail on damaged input (truncation, lost or broken packets) instead of keeping
    /// what is valid and reporting the damage.
    #[arg(long)]
    pub strict: bool,
    /// Decode at most N frames (Y4M output).
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Upper bound on the memory the job may use, e.g. `64M` or `1G`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
    #[command(flatten)]
    pub encode: crate::transcode::EncodeArgs,
}

pub fn run(args: ConvertArgs) -> Result<(), Failure> {
    let format = match &args.format {
        Some(name) => OutputFormat::from_name(name)
            .ok_or_else(|| Failure::usage(format!("unknown format {name:?} (expected one of {})", OutputFormat::NAMES)))?,
        None if args.output.as_os_str() == "-" => {
            return Err(Failure::usage("writing to standard output needs --format (e.g. --format ts)"));
        }
        None => OutputFormat::from_path(&args.output).ok_or_else(|| {
            Failure::usage(format!(
                "{}: cannot tell the output format from the extension (expected one of {}, or give --format)",
                args.output.display(),
                OutputFormat::NAMES
            ))
        })?,
    };
    let format = match format {
        OutputFormat::Mp4 { .. } if args.fragmented => OutputFormat::Mp4 { fragmented: true },
        f => f,
    };
    let memory = match args.max_memory {
        Some(max) => {
            let memory = MemoryConfig::with_max_memory(max);
            memory.check_fits().map_err(|e| Failure {
                code: crate::exit::INVALID_INPUT,
                message: format!("--max-memory {}: {e}; give at least {}", human(max), human(memory.minimum_job_bytes())),
            })?;
            // The allocator enforces the budget as a last line of defence: a bug that
            // allocated past it aborts instead of eating the machine's memory.
            crate::limit_heap(max as usize);
            memory
        }
        None => MemoryConfig::default(),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // A second Ctrl-C while the first is being handled exits at once; the temporary
        // output is removed by the first either way.
        let _ = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                std::process::exit(crate::exit::INTERRUPTED as i32);
            }
        });
    }
    let selection = if args.video {
        StreamSelection::Video
    } else if args.audio {
        StreamSelection::Audio
    } else if !args.streams.is_empty() {
        StreamSelection::Indices(args.streams.clone())
    } else {
        StreamSelection::All
    };
    if let Some(video) = args.encode.video_encode()? {
        if format == OutputFormat::Y4m || args.frames.is_some() {
            return Err(Failure::usage("encoding options need an mp4, fmp4, ts, m2ts or h264 output"));
        }
        if !matches!(selection, StreamSelection::All) {
            return Err(Failure::usage("--video, --audio and --streams apply to stream copy; a transcode takes the first video stream and every audio stream (--audio-codec none leaves audio out)"));
        }
        return crate::transcode::run(&args, format, video, memory, cancel);
    }
    if args.encode.progress.is_some() {
        return Err(Failure::usage("--progress applies to encoding (--video-codec h264)"));
    }
    if args.encode.threads.is_some() {
        return Err(Failure::usage("--threads applies to encoding (--video-codec h264)"));
    }
    let options = RemuxOptions { format, selection, memory, strict: args.strict, cancel: Some(cancel) };
    let mut line = ProgressLine::new();
    if format == OutputFormat::Y4m {
        let result = decode(&args.input, &args.output, &options, args.frames, &mut |p| line.update(p));
        line.finish();
        let r = result?;
        if r.errors > 0 {
            tracing::warn!("{}: {} decoding errors concealed in {} frames", args.input.display(), r.errors, r.concealed_frames);
        }
        if let Some(damage) = r.demux.summary() {
            tracing::warn!("{}: {damage}; everything else was kept", args.input.display());
        }
        if args.stats {
            crate::log::release();
            let secs = line.elapsed().as_secs_f64();
            eprintln!("input:   {} ({}), stream {}, {}", args.input.display(), r.input_format, r.stream, human(r.bytes_in));
            eprintln!("output:  {} (y4m), {} frames, {}", args.output.display(), r.frames, human(r.bytes_out));
            eprintln!("errors:  {} concealed ({} frames affected)", r.errors, r.concealed_frames);
            eprintln!("elapsed: {:.3} s, {:.1} fps", secs, r.frames as f64 / secs.max(1e-9));
            eprintln!("memory:  decoder pictures {}, peak heap {} (sampled), peak anonymous RSS {}", human(r.decoder_bytes as u64), human(line.peak_heap as u64), human(line.peak_rss_anon));
            eprintln!("budget:  limit {}, peak reserved {}", human(r.memory.limit), human(r.memory.peak_reserved));
        }
        return Ok(());
    }
    if args.frames.is_some() {
        return Err(Failure::usage("--frames applies to decoding (a .y4m output)"));
    }
    let result = remux(&args.input, &args.output, &options, &mut |p| line.update(p));
    line.finish();
    let report = result?;
    for (i, codec, why) in &report.skipped {
        tracing::info!("stream {i} ({}) not copied: {why}", codec.name());
    }
    if let Some(damage) = report.demux.summary() {
        tracing::warn!("{}: {damage}; everything else was kept", args.input.display());
    }
    if args.stats {
        crate::log::release();
        print_stats(&args, &report, &line);
    }
    Ok(())
}

fn print_stats(args: &ConvertArgs, r: &RemuxReport, line: &ProgressLine) {
    let secs = line.elapsed().as_secs_f64();
    eprintln!("input:   {} ({}), {}", args.input.display(), r.input_format, human(r.bytes_in));
    eprintln!("output:  {} ({}), {}", args.output.display(), r.output_format.name(), human(r.bytes_out));
    for s in &r.streams {
        eprintln!("  stream {} -> {}: {} {} packets, {}", s.input_index, s.output_index, s.codec.name(), s.packets, human(s.bytes));
    }
    let d = &r.demux;
    eprintln!(
        "problems: {} resyncs ({} bytes skipped), {} continuity errors, {} CRC errors, {} dropped packets, {} cut short{}",
        d.resyncs,
        d.bytes_skipped,
        d.cc_errors,
        d.crc_errors,
        d.dropped_packets,
        d.cut_packets,
        if d.truncated { ", truncated input" } else { "" }
    );
    eprintln!("elapsed: {:.3} s, {:.1} MB/s", secs, r.bytes_in as f64 / 1e6 / secs.max(1e-9));
    eprintln!("memory:  peak heap {} (sampled), peak anonymous RSS {}", human(line.peak_heap as u64), human(line.peak_rss_anon));
    let m = &r.memory;
    eprintln!("budget:  limit {}, peak reserved {}", human(m.limit), human(m.peak_reserved));
    for p in &m.pools {
        eprintln!("  pool {}: {} buffers allocated, peak {} in use, {}", p.name, p.allocated, p.peak_in_use, human(p.bytes));
    }
}
