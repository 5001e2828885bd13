//! Pure-Rust H.264 decoder: Constrained Baseline, Main and High profiles, 8-bit 4:2:0,
//! progressive frames, output bit-exact with FFmpeg.
//!
//! # Design principles
//!
//! - **Bit-exact.** Every process follows ITU-T H.264 to the letter; the test suite
//!   compares the MD5 of every frame with FFmpeg's framemd5 output.
//! - **Bounded memory.** Picture buffers are allocated once per sequence, from the
//!   decoded picture buffer size the stream declares, capped by
//!   [`transcode_core::MemoryConfig::max_dpb_frames`] and `max_memory`. Decoding a
//!   slice allocates nothing; frames are lent to the caller, not copied.
//! - **Never panic on input.** Damaged slices are reported as errors and their
//!   macroblocks concealed; unsupported features (interlacing, 4:2:2, high bit depth)
//!   fail with [`transcode_core::Error::Unsupported`].
//!
//! ```
//! use transcode_h264::Decoder;
//! let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/h264/a_intra_cavlc_nodeblock.h264")).unwrap();
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
//! assert_eq!(frames, 10);
//! ```
#![forbid(unsafe_code)]
// Codec code follows the standard's indexed formulas; index loops keep that visible.
#![allow(
    clippy::needless_range_loop,
    clippy::too_many_arguments,
    clippy::unnecessary_map_or
)]

mod bitreader;
mod cabac;
mod cavlc;
mod deblock;
mod decoder;
mod gentables;
mod inter;
mod intra;
mod mb;
mod params;
mod picture;
mod slice;
mod tables;
mod transform;

pub use decoder::{Decoder, Frame};

/// Splits Annex-B data into NAL units (without start codes), for callers that feed
/// the decoder unit by unit.
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    bitreader::split_annexb(data)
}
