//! Codec bitstream knowledge that remuxing needs: H.264/H.265 parameter sets and
//! keyframe detection, Annex-B and length-prefixed framing, avcC/hvcC records, AAC ADTS
//! headers and AudioSpecificConfig, MPEG audio frame headers and MPEG-2 video sequence
//! headers. Pure functions over byte slices: no I/O, no allocation on the per-packet path
//! beyond what the caller's output buffer needs.
//!
//! ```
//! use transcode_codec::{h264, nal};
//! // An SPS and a PPS as a demuxer of an Annex-B stream sees them.
//! let au = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x0C, 0xAC, 0xD9, 0x41, 0x41, 0x9F, 0x9F, 0x01, 0x10,
//!           0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xF1, 0x42, 0x99, 0x60,
//!           0, 0, 1, 0x68, 0xEA, 0xE3, 0xCB, 0x22, 0xC0];
//! assert_eq!(nal::split_annexb(&au).count(), 2);
//! let avcc = h264::AvcC::from_annexb(&au).unwrap();
//! let sps = h264::parse_sps(&avcc.sps[0]).unwrap();
//! assert_eq!((sps.width, sps.height), (320, 180));
//! ```
#![forbid(unsafe_code)]

pub mod aac;
pub mod ac3;
pub mod bits;
pub mod crc;
pub mod describe;
pub mod h264;
pub mod h265;
pub mod mpeg2v;
pub mod mpega;
pub mod nal;
pub mod y4m;

pub use describe::{describe, is_keyframe};
