//! Heap-profiling scenarios, one per process: `transcode-memprof SCENARIO OUT.json`.
//!
//! Each scenario prepares its input first (outside the profile), then runs a real
//! workload under dhat, writes dhat's JSON (viewable in dh_view) to `OUT.json`, and prints
//! one summary line: `SCENARIO peak_bytes peak_blocks total_blocks total_bytes`.
//! `cargo xtask memprof` runs them all and compares with the committed baseline.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use transcode_memprof::{decode_all, decode_job, demux_all, encode_1080p, looped_576i_file, looped_ts, remux, transcode_job};
use transcode_pipeline::OutputFormat;

/// The scenarios, in the order xtask runs them.
pub const SCENARIOS: &[&str] = &["demux-ts", "remux-ts-mp4-1x", "remux-ts-mp4-10x", "remux-ts-ts-1x", "remux-mp4-ts-1x", "decode-h264-1080p", "decode-mpeg2-1440x1080i-ts", "transcode-576i-10s", "transcode-576i-60s", "encode-h264-1080p-10s", "encode-h264-1080p-60s"];

/// Copies of the base fixture in the "1x" input: about 20 s of 320x180 H.264 + AAC.
const BASE_LOOPS: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        println!("{}", SCENARIOS.join(" "));
        return;
    }
    let (Some(scenario), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: transcode-memprof SCENARIO OUT.json (scenarios: {})", SCENARIOS.join(", "));
        std::process::exit(2);
    };
    let work: Box<dyn FnOnce()> = match scenario.as_str() {
        "demux-ts" => {
            let ts = looped_ts(BASE_LOOPS);
            Box::new(move || {
                demux_all(ts);
            })
        }
        "remux-ts-mp4-1x" => {
            let ts = looped_ts(BASE_LOOPS);
            Box::new(move || remux(ts, OutputFormat::Mp4 { fragmented: false }))
        }
        "remux-ts-mp4-10x" => {
            let ts = looped_ts(BASE_LOOPS * 10);
            Box::new(move || remux(ts, OutputFormat::Mp4 { fragmented: false }))
        }
        "remux-ts-ts-1x" => {
            let ts = looped_ts(BASE_LOOPS);
            Box::new(move || remux(ts, OutputFormat::MpegTs))
        }
        "remux-mp4-ts-1x" => {
            let mp4 = std::fs::read(transcode_testkit::testdata("mp4/h264_aac.mp4")).expect("fixture");
            Box::new(move || remux(bytes::Bytes::from(mp4), OutputFormat::MpegTs))
        }
        "decode-h264-1080p" => {
            let h264 = std::fs::read(transcode_testkit::testdata("h264/v_1080p.h264")).expect("fixture");
            Box::new(move || {
                decode_all(&h264);
            })
        }
        // The whole decode job on an ISDB-shaped recording: TS demuxing, the MPEG-2
        // decoder's pictures and the Y4M writer.
        "decode-mpeg2-1440x1080i-ts" => {
            let ts = transcode_testkit::testdata("ts/mpeg2_1440x1080i_aac.ts");
            Box::new(move || {
                decode_job(&ts);
            })
        }
        // The transcode job (demux, decode, bwdif, scale, encode, faststart mp4 on their
        // threads) with its pools filled up front: the same input at 10 s and 60 s must
        // peak at the same heap (`cargo xtask memprof --check` compares the two), and
        // the peak must stay within the job's own memory plan (checked here).
        "transcode-576i-10s" | "transcode-576i-60s" => {
            let seconds = if scenario.ends_with("-10s") { 10 } else { 60 };
            let input = looped_576i_file(seconds);
            Box::new(move || {
                let (frames, plan) = transcode_job(&input);
                let _ = std::fs::remove_file(&input);
                let peak = dhat::HeapStats::get().max_bytes as u64;
                eprintln!("transcode {seconds} s: {frames} frames, peak heap {peak} bytes, memory plan {plan} bytes");
                if peak > plan {
                    eprintln!("transcode-576i-{seconds}s: peak heap {peak} bytes is over the job's memory plan of {plan} bytes");
                    std::process::exit(1);
                }
            })
        }
        // The encoder alone at 1080p as the CLI runs it by default: the same source
        // at 10 s and 60 s must peak at the same heap (checked by xtask), within
        // issue 9's bound (checked here).
        "encode-h264-1080p-10s" | "encode-h264-1080p-60s" => {
            let seconds = if scenario.ends_with("-10s") { 10 } else { 60 };
            Box::new(move || {
                let run = encode_1080p(seconds);
                let peak = dhat::HeapStats::get().max_bytes as u64;
                eprintln!("encode 1080p {seconds} s: {} frames, {} bytes, peak heap {peak} bytes, bound {} bytes", run.frames, run.bytes, run.bound);
                if peak > run.bound {
                    eprintln!("encode-h264-1080p-{seconds}s: peak heap {peak} bytes is over the bound of {} bytes", run.bound);
                    std::process::exit(1);
                }
            })
        }
        other => {
            eprintln!("unknown scenario {other:?} (expected one of {})", SCENARIOS.join(", "));
            std::process::exit(2);
        }
    };
    let profiler = dhat::Profiler::builder().file_name(out).build();
    work();
    let stats = dhat::HeapStats::get();
    drop(profiler);
    println!("{scenario} {} {} {} {}", stats.max_bytes, stats.max_blocks, stats.total_blocks, stats.total_bytes);
}

