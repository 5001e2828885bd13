//! Heap-profiling scenarios, one per process: `transcode-memprof SCENARIO OUT.json`.
//!
//! Each scenario prepares its input first (outside the profile), then runs a real
//! workload under dhat, writes dhat's JSON (viewable in dh_view) to `OUT.json`, and prints
//! one summary line: `SCENARIO peak_bytes peak_blocks total_blocks total_bytes`.
//! `cargo xtask memprof` runs them all and compares with the committed baseline.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use std::io;

use transcode_core::{MemoryConfig, Packet};
use transcode_demux_bridge::{open_demuxer, Input};
use transcode_mux::Muxer;
use transcode_pipeline::{remux_to_writer, OutputFormat, RemuxOptions};

/// The scenarios, in the order xtask runs them.
pub const SCENARIOS: &[&str] = &["demux-ts", "remux-ts-mp4-1x", "remux-ts-mp4-10x", "remux-ts-ts-1x", "remux-mp4-ts-1x"];

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
            Box::new(move || demux_all(ts))
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

/// Demuxes every packet and touches its bytes.
fn demux_all(data: bytes::Bytes) {
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(Input::from_bytes(data, "memprof.ts"), &config).expect("demuxer");
    let mut sum = 0u64;
    while let Some(p) = demux.next_packet().expect("packet") {
        sum = sum.wrapping_add(p.data.iter().map(|&b| b as u64).sum::<u64>());
    }
    std::hint::black_box(sum);
}

/// Remuxes into a sink: the muxer's own memory is measured, not the output's.
fn remux(data: bytes::Bytes, format: OutputFormat) {
    let options = RemuxOptions::new(format);
    let report = remux_to_writer(Input::from_bytes(data, "memprof-input"), Box::new(io::sink()), &options, &mut |_| {}).expect("remux");
    std::hint::black_box(report.bytes_out);
}

/// The TS fixture repeated `loops` times with timestamps continuing, written by
/// transcode's own TS muxer (deterministic, no FFmpeg needed).
fn looped_ts(loops: usize) -> bytes::Bytes {
    let path = transcode_testkit::testdata("ts/h264_aac.ts");
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(Input::open(&path, &config).expect("fixture"), &config).expect("demuxer");
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
