//! `cargo xtask`: project automation (testdata, crosscheck, encode-check, bench, memprof).
//!
//! One module per command; few dependencies. Commands that need FFmpeg say so and fail
//! when it is missing rather than skipping.

mod bench;
mod bench_decode;
mod bench_encode;
mod bench_mpeg2;
mod bench_transcode;
mod crosscheck;
mod encode_check;
mod fuzz;
mod m2v_synth;
mod m2v_writer;
mod memprof;
mod testdata;
mod util;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        bail!("usage: cargo xtask <testdata|crosscheck|encode-check|bench|memprof|fuzz> [options]");
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "testdata" => testdata::run(rest),
        "crosscheck" => crosscheck::run(rest),
        "encode-check" => encode_check::run(rest),
        "bench" => bench::run_bench(rest),
        "memprof" => memprof::run_memprof(rest),
        "fuzz" => fuzz::run(rest),
        other => bail!("unknown xtask command {other:?} (expected testdata, crosscheck, encode-check, bench, memprof or fuzz)"),
    }
}
