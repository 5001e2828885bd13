//! Pure-Rust MPEG-1 and MPEG-2 video decoder (ISO/IEC 11172-2, ISO/IEC 13818-2 Main
//! and High profiles, 4:2:0 and 4:2:2), output bit-exact with FFmpeg's "simple" IDCT.
//!
//! # Design principles
//!
//! - **Bit-exact.** The inverse DCT uses the integer arithmetic of FFmpeg's simple
//!   IDCT; the test suite compares the MD5 of every frame with FFmpeg's framemd5.
//! - **Bounded memory, known before the first frame.** Pictures live in a
//!   [`FramePool`] of `3 + OUTPUT_FRAMES` frames (two references, the picture being
//!   decoded, the output queue), reserved against the job's
//!   [`transcode_core::Budget`] before they are allocated. The input is assembled
//!   into start-code units in one buffer bounded by
//!   [`transcode_core::MemoryConfig::max_packet_size`]. Decoding a slice allocates
//!   nothing.
//! - **Any chunking.** [`Decoder::send`] takes the elementary stream in pieces of any
//!   size: a whole file, one PES payload, or single bytes.
//! - **Backpressure is a status.** [`Decoder::send`] answers
//!   [`DecodeStatus::NeedsOutput`] with the bytes it took when the pool is full of
//!   frames the caller has not taken.
//! - **SIMD kernels, equal to the portable ones.** The inverse DCT with its put/add
//!   and motion compensation have SSE2 versions (the x86-64 baseline), and an AVX2
//!   inverse DCT and two-dimensional half-sample luma prediction are chosen at run
//!   time, in `simd`, the only module with `unsafe`; each
//!   checks its bounds first. They give the portable code's pixels bit for bit (tests
//!   compare them on random and extreme blocks, and every fixture runs with each);
//!   [`Decoder::set_kernels`] picks [`Kernels::Portable`] or [`Kernels::Sse2`].
//! - **Memory ahead of the kernels.** Each macroblock prefetches (in `simd`) part of
//!   the reference area and of the destination of the macroblock four columns ahead,
//!   so that motion compensation and block stores find their rows in cache; a hint
//!   that changes no pixel, worth 8% of the CPU time on 1080i broadcast streams.
//! - **Never panic on input.** Damaged slices are concealed (copied from the newest
//!   reference) and reported; pictures whose references are missing at the start of
//!   a stream are dropped as FFmpeg drops them.
//!
//!
//! # Memory
//!
//! ```text
//!   input pieces ──copy, 64 KiB at a time──► unit buffer (one start-code unit,
//!                                            ≤ max_packet_size, budgeted)
//!   FramePool (3 + OUTPUT_FRAMES frames, lazily allocated, budgeted)
//!     │ try_acquire ─► Frame (unique) ── slices, field pairs ──► into_shared
//!     │                                                           │
//!     │   references: prev (older), last (newer): SharedFrame   ◄─┤ I/P
//!     │   output queue / next_frame / next_picture: SharedFrame ◄─┘ B, and a
//!     │                                                  reference when the next starts
//!     └◄── last handle dropped: the frame is free again
//! ```
//!
//! Besides the pool the decoder holds the unit buffer, one byte per macroblock (which
//! macroblocks a picture's slices covered, for concealment) and a fixed scratch. For
//! 1440x1080 interlaced the peak heap is 9.9 MB against `5 x frame + 4 MiB` = 16.4 MB
//! (`tests/heap_decode_1080i.rs`), with no allocation per frame.
//!
//! # Display order and timing
//!
//! Frames come out in display order, one per coded frame (two field pictures make one
//! frame), like FFmpeg's `-fps_mode passthrough`. Each [`Frame`] carries a
//! [`PictureInfo`]: picture type, [`PictureCoding`] (frame picture or field pair),
//! `top_field_first`, `repeat_first_field`, `progressive_frame`, the display duration in
//! fields, concealed macroblocks, `format_changed` (first frame after a sequence
//! change) and the [`UserData`] of the picture (A/53 captions, AFD). Stream-level facts
//! (size, frame rate with its extension, SAR and DAR, profile and level, chroma format,
//! colour description, field order of the first picture) are in
//! [`Decoder::sequence_info`] as soon as the first sequence header has been sent.
//! The decoder does not see timestamps: the caller pairs frames with the PTS of their
//! PES packets.
//!
//! # Threads
//!
//! Decoding runs on the caller's thread.
//!
//! ```
//! use transcode_mpeg2::Decoder;
//! let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mpeg2/b_ipb_closed.m2v")).unwrap();
//! let mut dec = Decoder::new(&transcode_core::MemoryConfig::default());
//! let mut frames = 0;
//! dec.decode_with(&data, |frame| {
//!     assert_eq!((frame.width, frame.height), (176, 144));
//!     frames += 1;
//! })
//! .unwrap();
//! dec.flush();
//! while dec.next_frame().is_some() {
//!     frames += 1;
//! }
//! assert_eq!(frames, 20);
//! assert_eq!(dec.sequence_info().unwrap().frame_rate.num, 25);
//! ```
// Unsafe code is confined to the SIMD kernels in `simd`, which allow it for themselves.
#![deny(unsafe_code)]
// Codec code follows the standard's indexed formulas; index loops keep that visible.
// `map_or(true, ..)` instead of `is_none_or`, which needs Rust 1.82 (the workspace
// supports 1.80).
#![allow(
    clippy::needless_range_loop,
    clippy::too_many_arguments,
    clippy::unnecessary_map_or
)]

mod bits;
mod decoder;
mod header;
mod idct;
mod kernels;
mod mc;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd;
mod slice;
mod vlc;

pub use decoder::{
    DecodeStatus, DecodedPicture, Decoder, Frame, PictureCoding, PictureInfo, OUTPUT_FRAMES,
};
pub use header::{
    ChromaFormat, ColourDescription, PictureStructure, PictureType, Rational, SequenceInfo,
    UserData,
};
pub use kernels::Kernels;
pub use transcode_frame_pool::{FramePool, PixelFormat, SharedFrame};
