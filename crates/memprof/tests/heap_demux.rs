//! Demuxing allocates nothing per packet after warm-up: the heap blocks allocated while
//! demuxing N and 10N packets differ by at most a small constant.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use transcode_memprof::{demux_all, looped_ts};

fn main() {
    // Inputs are built before profiling so that only the demuxing is measured.
    let short = looped_ts(2);
    let long = looped_ts(20);
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let n_short = demux_all(short);
    let mid = dhat::HeapStats::get();
    let n_long = demux_all(long);
    let after = dhat::HeapStats::get();
    let blocks_short = mid.total_blocks - before.total_blocks;
    let blocks_long = after.total_blocks - mid.total_blocks;
    println!("demux: {n_short} packets: {blocks_short} blocks; {n_long} packets: {blocks_long} blocks");
    dhat::assert!(n_long >= 9 * n_short);
    // A handful of blocks for buffers that grow once to the largest PES seen; nothing
    // per packet.
    dhat::assert!(blocks_long <= blocks_short + 8, "demux allocates per packet: {blocks_short} vs {blocks_long}");
    println!("test result: ok. 1 passed; 0 failed");
}
