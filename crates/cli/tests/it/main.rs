//! End-to-end tests of the `transcode` binary: probe against ffprobe's committed output,
//! convert round trips, error messages and exit codes, the real-world input contract,
//! and damaged input.

mod contract;
mod convert;
mod damaged;
mod probe;
mod transcode;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `args`.
pub fn transcode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_transcode")).args(args).output().expect("run transcode")
}

/// A fresh temporary folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("transcode-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
