//! Heap test (dhat, its own process, no test harness): encoding a 720p source keeps the
//! peak heap within the encoder's stated bound, `(references + lookahead + 3) x frame
//! size + 16 MiB`, and after the first `N` frames (an IDR period) nothing is allocated
//! at all: encoding `3N` frames has the same peak and the same allocation count as
//! encoding `N`.
//!
//! The frame size is that of a 1280x720 4:2:0 picture (1.38 MB). What the bound
//! covers: the reconstruction pool (references + 1 frames), the lookahead's source
//! frames (the caller's pool, here one frame), and the slack of 3 frames plus 16 MiB
//! for the slice buffer (1600 bytes per macroblock: 5.8 MB), the output buffer (the largest
//! access unit, rounded up to a power-of-two growth), and the macroblock and motion
//! tables (under 1 MB).

#[path = "common/heap_encode.rs"]
mod heap_encode;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    // One source frame: the encoder codes each as it comes.
    heap_encode::run("720p encode", 2, |_| 1);
}
