//! Soak test for allocator behaviour: `transcode-soak INPUT ROUNDS` remuxes INPUT to MP4
//! and to TS (into a sink) ROUNDS times in one process and prints the anonymous RSS after
//! each round. RSS must plateau: a creeping RSS means the allocator keeps freed memory or
//! something accumulates. Built with `--features mimalloc` it uses mimalloc instead of
//! the system allocator (glibc malloc), for the comparison in docs/memory.md.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io;
use std::path::PathBuf;

use transcode_core::MemoryConfig;
use transcode_demux_bridge::Input;
use transcode_pipeline::{remux_to_writer, OutputFormat, RemuxOptions};

fn rss_anon_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("RssAnon:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), rounds) = (args.first().map(PathBuf::from), args.get(1).and_then(|r| r.parse().ok()).unwrap_or(10u32)) else {
        eprintln!("usage: transcode-soak INPUT [ROUNDS]");
        std::process::exit(2);
    };
    let allocator = if cfg!(feature = "mimalloc") { "mimalloc" } else { "system" };
    let config = MemoryConfig::default();
    for round in 1..=rounds {
        for format in [OutputFormat::Mp4 { fragmented: false }, OutputFormat::MpegTs, OutputFormat::Mp4 { fragmented: true }] {
            let src = Input::open(&input, &config).expect("input");
            remux_to_writer(src, Box::new(io::sink()), &RemuxOptions::new(format), &mut |_| {}).expect("remux");
        }
        println!("{allocator} round {round}: RssAnon {} KiB", rss_anon_kib());
    }
}
