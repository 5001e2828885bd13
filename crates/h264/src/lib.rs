//! Pure-Rust H.264 decoder: Constrained Baseline, Main and High profiles, 8-bit 4:2:0,
//! progressive frames and field pictures (PAFF: each field pair decoded into one frame,
//! output with its field order), output bit-exact with FFmpeg; and an encoder
//! ([`encoder`]) built on the decoder's own prediction, transform and deblocking
//! kernels.
//!
//! # Design principles
//!
//! - **Bit-exact.** Every process follows ITU-T H.264 to the letter; the test suite
//!   compares the MD5 of every frame with FFmpeg's framemd5 output.
//! - **Bounded memory, known before the first frame.** When a sequence starts, the
//!   decoded picture buffer size comes from the level limits and the VUI through
//!   [`DpbConfig::for_stream`] (Table A-1, [`transcode_decoder_buffers::dpb_frames_for_level`]),
//!   capped by [`transcode_core::MemoryConfig::max_dpb_frames`]. Pictures live in
//!   frames of a [`FramePool`] of `DPB size + 1 + OUTPUT_FRAMES` frames (64-byte
//!   aligned rows); the pool reserves each frame against the job's
//!   [`transcode_core::Budget`] before allocating it, and the motion and macroblock
//!   tables are reserved before they are allocated. Decoding a slice allocates
//!   nothing; frames are shared with the caller, never copied.
//! - **Backpressure is a status.** [`Decoder::send`] answers
//!   [`DecodeStatus::NeedsOutput`] with the bytes it consumed when the pool is full of
//!   frames the caller has not taken (or still holds as [`DecodedPicture`]s); the
//!   caller takes frames and resends the rest.
//! - **Never panic on input.** Damaged slices are reported as errors and their
//!   macroblocks concealed; unsupported features (4:2:2, high bit depth) fail with
//!   [`transcode_core::Error::Unsupported`].
//! - **A field is a frame with doubled strides.** A field picture is decoded into the
//!   rows of its parity of the frame buffer (a one-row offset for the bottom field,
//!   twice the stride), so prediction, transform and deblocking kernels are the same
//!   for frames and fields; only reference lists, scans, CABAC contexts, the chroma
//!   offset between fields and the deblocking strengths know about fields. In an
//!   MBAFF frame each field macroblock pair addresses its two fields the same way;
//!   neighbouring blocks across pairs of different structure go through Table 6-4
//!   (`mbaff`), and the edges between them get the mixed-edge deblocking rules.
//! - **Monochrome goes out as 4:2:0.** A 4:0:0 stream's frames are yuv420p with
//!   neutral chroma (128), written once when the frame is taken, as FFmpeg 5.1 outputs
//!   them; no chroma is predicted, reconstructed or filtered.
//!
//! # Memory
//!
//! ```text
//!   FramePool (DPB + 1 + OUTPUT_FRAMES frames, lazily allocated, budgeted)
//!     │ try_acquire ─► Frame (unique) ── decode slices, deblock ──► into_shared
//!     │                                                               │
//!     │      DPB slot: SharedFrame + motion (mv per 4x4, refs per 8x8)◄┤
//!     │      output queue / next_frame / next_picture: SharedFrame   ◄┘
//!     └◄── last handle dropped: the frame is free again
//! ```
//!
//! The decoder holds at most `DPB size + 1` motion tables (one per slot plus the
//! picture being decoded); per-4x4 reference indices exist once, for the picture
//! being decoded. For a 1080p stream with a DPB of 4 frames the peak heap is about
//! 28.5 MB against `(4 + 3) x 1920 x 1088 x 3/2 + 8 MiB` = 30.3 MB
//! (`tests/heap_decode_1080p.rs`).
//!
//! The reference bookkeeping (marking, sliding window, MMCO, list construction,
//! bumping) stays in the decoder rather than in
//! [`transcode_decoder_buffers::Dpb`]: each stored picture carries motion data for
//! direct prediction and an id that later pictures' motion refers to, the output
//! order must match FFmpeg's (which bumps by `max_num_reorder_frames`, not only when
//! the DPB is full), and concealment needs the picture's slot. The decoder uses the
//! same pieces as `Dpb` does: [`DpbConfig`] for the sizes, pooled [`SharedFrame`]s
//! for the pixels, the budget for every buffer.
//!
//! # Threads
//!
//! Decoding runs on the caller's thread. A second thread was tried and not kept:
//! without frame threading (waiting on reference rows), the only work that can
//! overlap the next picture is deblocking non-reference pictures, 8.6% of the
//! instructions of a 720p High stream with three B pictures, so at most about 9% on an
//! idle second core, and no measurable gain on a loaded one. A frame-threaded design
//! would need reference-row progress tracking first.
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
// `unsafe` only in `simd`, for the call into the kernels compiled for AVX2.
#![deny(unsafe_code)]
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
pub mod encoder;
mod decoder;
mod gentables;
mod inter;
mod intra;
mod mb;
mod mbaff;
mod params;
mod picture;
#[allow(unsafe_code)]
mod simd;
mod slice;
mod tables;
mod transform;

pub use decoder::{DecodeStatus, DecodedPicture, Decoder, Frame, OUTPUT_FRAMES};
pub use transcode_decoder_buffers::DpbConfig;
pub use transcode_frame_pool::{FramePool, SharedFrame};

/// Splits Annex-B data into NAL units (without start codes), for callers that feed
/// the decoder unit by unit.
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    bitreader::split_annexb(data)
}

/// How a sequence may code its pictures, from its SPS (`frame_mbs_only_flag` and
/// `mb_adaptive_frame_field_flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldCoding {
    /// Frames only: every picture is progressive.
    Progressive,
    /// Field pictures (PAFF): a picture is a frame or one field of a pair.
    FieldPictures,
    /// Macroblock-adaptive frame/field coding: frame pictures may hold field
    /// macroblock pairs (field pictures may also occur).
    Mbaff,
}

impl FieldCoding {
    /// A short lowercase name: `progressive`, `paff`, `mbaff`.
    pub fn name(self) -> &'static str {
        match self {
            FieldCoding::Progressive => "progressive",
            FieldCoding::FieldPictures => "paff",
            FieldCoding::Mbaff => "mbaff",
        }
    }
}

/// The field coding an SPS NAL unit (header byte included, emulation prevention not
/// removed) allows.
pub fn sps_field_coding(nal: &[u8]) -> transcode_core::Result<FieldCoding> {
    if nal.first().map(|h| h & 0x1f) != Some(7) {
        return Err(transcode_core::Error::invalid(
            "not a sequence parameter set (expected nal_unit_type 7)",
        ));
    }
    let mut rbsp = Vec::with_capacity(nal.len());
    bitreader::unescape_rbsp(&nal[1..], &mut rbsp);
    let sps = params::Sps::parse_header(&rbsp)?;
    Ok(if sps.frame_mbs_only {
        FieldCoding::Progressive
    } else if sps.mbaff {
        FieldCoding::Mbaff
    } else {
        FieldCoding::FieldPictures
    })
}
