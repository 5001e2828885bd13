//! The `transcode` command: `probe` and `convert`.
//!
//! Only this crate prints. A failed run prints one line on stderr, `transcode: error:
//! FILE: reason`, with the exit codes documented in the README: 0 success, 1 I/O,
//! 2 usage, 3 invalid or unsupported input, 130 interrupted. Warnings are held back
//! until the outcome is known (see `log`).

mod convert;
mod log;
mod probe;
mod progress;
mod size;
mod transcode;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use transcode_pipeline::JobError;

/// Tracks heap use for `--stats` and enforces `--max-memory` as a last line of defence.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Probe and convert media files with bounded, measured memory.
#[derive(Debug, Parser)]
#[command(name = "transcode", version, about)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per run: the size of the larger variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Show the streams, codecs, sizes, durations and errors of a file.
    Probe(probe::ProbeArgs),
    /// Copy streams into another container (remux), or decode video to Y4M.
    Convert(convert::ConvertArgs),
}

/// Exit codes, documented in the README.
pub mod exit {
    pub const IO: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INVALID_INPUT: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: exit::USAGE, message: message.into() }
    }
}

impl From<JobError> for Failure {
    fn from(e: JobError) -> Self {
        use transcode_core::Error;
        let code = match &e {
            JobError::Input { source: Error::Io(_), .. } => exit::IO,
            JobError::Input { .. } => exit::INVALID_INPUT,
            JobError::Output { .. } => exit::IO,
            JobError::NoStreams { .. } | JobError::NoMedia { .. } | JobError::NoPackets { .. } => exit::INVALID_INPUT,
            JobError::Interrupted => exit::INTERRUPTED,
            _ => exit::IO,
        };
        Failure { code, message: e.to_string() }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init(cli.verbose);
    let result = match cli.command {
        Command::Probe(args) => probe::run(args),
        Command::Convert(args) => convert::run(args),
    };
    match result {
        Ok(()) => {
            log::release();
            ExitCode::SUCCESS
        }
        Err(f) => {
            // One line: the error, which says what the warnings that explain it said.
            log::discard();
            eprintln!("transcode: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Bytes currently allocated on the heap.
pub fn heap_allocated() -> usize {
    ALLOCATOR.allocated()
}

/// Caps the heap at `bytes` beyond what is allocated now.
pub fn limit_heap(bytes: usize) {
    let _ = ALLOCATOR.set_limit(ALLOCATOR.allocated().saturating_add(bytes));
}
