//! Placeholder until the heap test is written.
fn main() {}
