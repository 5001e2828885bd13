//! Heap test (dhat, its own process, no test harness) of the encoder with B-frames:
//! encoding a 720p source with 2 B pictures between anchors keeps the peak heap
//! within the encoder's stated bound, `(references + 1 + queued + 3) x frame size +
//! 16 MiB` (the second anchor, with B-pyramid the reference B picture too, and the
//! `bframes + 1` source frames the encoder queues), and after the first `N` frames (an IDR period with a P picture and its B
//! pictures) nothing is allocated at all: encoding `3N` frames has the same peak and
//! the same allocation count as encoding `N`. `heap_encode_720p.rs` is the same
//! test without B-frames.
//!
//! The frame size is that of a 1280x720 4:2:0 picture (1.38 MB). What the bound
//! covers: the reconstruction pool (references + 2 frames), the source frames the
//! encoder holds (the caller's pool: at most `queued`, the lookahead and the B
//! pictures waiting for their turn together; the one being painted is in the slack),
//! and the slack of 3 frames plus 16 MiB
//! for the slice buffer (1600 bytes per macroblock: 5.8 MB), the output buffer (the largest
//! access unit, rounded up to a power-of-two growth), and the macroblock and motion
//! tables (under 1 MB).

#[path = "common/heap_encode.rs"]
mod heap_encode;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    heap_encode::run("720p encode with B-frames", 4, |cfg| {
        cfg.bframes = 2;
        cfg.entropy = transcode_h264::encoder::Entropy::Cabac;
        // The encoder holds its queue; one more frame is being painted.
        cfg.queued_frames() as u32 + 1
    });
}
