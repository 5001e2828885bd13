//! The `transcode` command.
fn main() {}
