//! Codec bitstream knowledge that remuxing needs: H.264/H.265 parameter sets and
//! keyframe detection, Annex-B and length-prefixed framing, avcC/hvcC records, AAC ADTS
//! headers and AudioSpecificConfig, MPEG audio frame headers and MPEG-2 video sequence
//! headers. Pure functions over byte slices: no I/O, no allocation on the per-packet path
//! beyond what the caller's output buffer needs.
#![forbid(unsafe_code)]

pub mod bits;
pub mod mpega;
