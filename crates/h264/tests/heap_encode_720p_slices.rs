//! Heap test (dhat, its own process, no test harness): encoding 720p in four slices
//! on two threads keeps the peak heap within the encoder's stated bound, and nothing
//! is allocated per frame after the first IDR period, on either thread (the slice
//! thread's tables, reconstruction band and slice buffers are allocated by
//! `Encoder::new`).

#[path = "common/heap_encode.rs"]
mod heap_encode;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    heap_encode::run("720p encode in 4 slices on 2 threads", 4, |cfg| {
        cfg.slices = 4;
        cfg.threads = 2;
        cfg.bframes = 2;
        cfg.entropy = transcode_h264::encoder::Entropy::Cabac;
        cfg.queued_frames() as u32 + 1
    });
}
