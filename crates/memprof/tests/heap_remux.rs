//! Remuxing TS to MP4 and TS allocates nothing per packet after warm-up, and its peak
//! heap does not depend on the input's length.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use transcode_memprof::{looped_ts, remux};
use transcode_pipeline::OutputFormat;

fn main() {
    let frag = OutputFormat::Mp4 { fragmented: true };
    let prog = OutputFormat::Mp4 { fragmented: false };
    // Each loop is 2 s of video (50 frames) and audio (94 frames). Bounded formats run
    // before the progressive MP4, whose sample table grows with the input.
    let inputs: Vec<_> = [(10, OutputFormat::MpegTs), (100, OutputFormat::MpegTs), (10, frag), (100, frag), (10, prog), (100, prog)]
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
        println!("remux {loops:>3} loops to {}: {blocks} blocks, peak heap so far {} bytes", format.name(), after.max_bytes);
        results.push((blocks, after.max_bytes as u64));
    }
    let [ts_short, ts_long, frag_short, frag_long, prog_short, prog_long] = results[..] else { unreachable!() };
    // Zero per packet: ten times the packets allocate no more blocks (TS, fragmented MP4),
    // or only the few a doubling sample table needs (progressive MP4).
    dhat::assert!(ts_long.0 <= ts_short.0 + 8, "ts remux allocates per packet: {} vs {}", ts_short.0, ts_long.0);
    dhat::assert!(frag_long.0 <= frag_short.0 + 8, "fragmented mp4 allocates per packet: {} vs {}", frag_short.0, frag_long.0);
    // The progressive MP4's sample tables (about 16 vectors over two tracks) double a few
    // times for 10x the samples: at most 4 doublings each, against 12,960 more packets.
    dhat::assert!(prog_long.0 <= prog_short.0 + 64, "mp4 remux allocates per packet: {} vs {}", prog_short.0, prog_long.0);
    // Peak heap within 5% between a 20 s and a 200 s input for the bounded outputs.
    dhat::assert!(ts_long.1 * 100 <= ts_short.1 * 105, "ts peak grows with length: {} vs {}", ts_short.1, ts_long.1);
    dhat::assert!(frag_long.1 * 100 <= frag_short.1 * 105, "fragmented mp4 peak grows with length: {} vs {}", frag_short.1, frag_long.1);
    // A progressive MP4 keeps its sample table until the moov is written: at most 32
    // bytes per sample (90 loops × 144 samples more in the long run).
    let extra_samples = 90 * 144;
    dhat::assert!(
        prog_long.1 <= prog_short.1 + 32 * extra_samples,
        "progressive mp4 peak grows by more than 32 bytes a sample: {} vs {}",
        prog_short.1,
        prog_long.1
    );
    dhat::assert!(prog_long.1 <= 16 << 20, "remux peak heap {} above 16 MiB", prog_long.1);
    println!("test result: ok. 1 passed; 0 failed");
}
