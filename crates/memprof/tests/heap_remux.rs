//! Remuxing TS to MP4 and TS allocates nothing per packet after warm-up, and its peak
//! heap does not depend on the input's length.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use transcode_memprof::{looped_ts, remux};
use transcode_pipeline::OutputFormat;

fn main() {
    let frag = OutputFormat::Mp4 { fragmented: true };
    let prog = OutputFormat::Mp4 { fragmented: false };
    // Each loop is 2 s of video (50 frames) and audio (94 frames). The progressive MP4
    // runs last: its plan spills one record per sample to a temporary file and keeps only
    // counts in memory, and its peak (the largest) must still not grow with the input.
    let inputs: Vec<_> =
        [(10, OutputFormat::MpegTs), (100, OutputFormat::MpegTs), (10, frag), (100, frag), (10, prog), (100, prog)]
            .into_iter()
            .map(|(loops, f)| (loops, f, looped_ts(loops)))
            .collect();
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut results = Vec::new();
    for (loops, format, data) in inputs {
        let before = dhat::HeapStats::get();
        remux(data, format);
        let after = dhat::HeapStats::get();
        let blocks = after.total_blocks - before.total_blocks;
        // The global peak so far: runs go short then long, so the long run's figure is
        // the larger of both.
        println!(
            "remux {loops:>3} loops to {}: {blocks} blocks, peak heap so far {} bytes",
            format.name(),
            after.max_bytes
        );
        results.push((blocks, after.max_bytes as u64));
    }
    let [ts_short, ts_long, frag_short, frag_long, prog_short, prog_long] = results[..] else { unreachable!() };
    // Zero per packet: ten times the packets (12,960 more) allocate no more blocks, and
    // no table doubles as it grows.
    dhat::assert!(ts_long.0 <= ts_short.0 + 8, "ts remux allocates per packet: {} vs {}", ts_short.0, ts_long.0);
    dhat::assert!(
        frag_long.0 <= frag_short.0 + 8,
        "fragmented mp4 allocates per packet: {} vs {}",
        frag_short.0,
        frag_long.0
    );
    dhat::assert!(
        prog_long.0 <= prog_short.0 + 8,
        "mp4 remux allocates per packet: {} vs {}",
        prog_short.0,
        prog_long.0
    );
    // Peak heap within 5% between a 20 s and a 200 s input.
    dhat::assert!(ts_long.1 * 100 <= ts_short.1 * 105, "ts peak grows with length: {} vs {}", ts_short.1, ts_long.1);
    dhat::assert!(
        frag_long.1 * 100 <= frag_short.1 * 105,
        "fragmented mp4 peak grows with length: {} vs {}",
        frag_short.1,
        frag_long.1
    );
    // The peaks are global: the progressive figures are its own only if they are above
    // the fragmented run's, else the comparison below would prove nothing.
    dhat::assert!(
        prog_short.1 > frag_long.1,
        "progressive mp4 peak {} not above the earlier runs' {}",
        prog_short.1,
        frag_long.1
    );
    dhat::assert!(
        prog_long.1 * 100 <= prog_short.1 * 105,
        "progressive mp4 peak grows with length: {} vs {}",
        prog_short.1,
        prog_long.1
    );
    dhat::assert!(prog_long.1 <= 16 << 20, "remux peak heap {} above 16 MiB", prog_long.1);
    println!("test result: ok. 1 passed; 0 failed");
}
