//! Decoder and encoder buffers built on pooled frames: the decoded picture buffer
//! ([`Dpb`]), a per-frame scratch arena ([`FrameArena`]), the encoder lookahead
//! ([`Lookahead`]) and reusable output buffers ([`OutputBuffer`]).
//!
//! # Design principles
//!
//! - **Sized from the stream, bounded by the configuration.** The DPB holds
//!   [`dpb_frames_for_level`] frames (H.264 Table A-1), never more than
//!   [`MemoryConfig::max_dpb_frames`](transcode_core::MemoryConfig::max_dpb_frames); a
//!   stream that needs more references than that is an error, not a bigger buffer.
//! - **Frames are pooled and shared, never copied.** Pictures are
//!   [`SharedFrame`]s from a [`FramePool`]: a reference list, the output queue and other
//!   threads hold clones of the same handle, and the buffer goes back to the pool when
//!   the last one is dropped.
//! - **Scratch memory is per frame.** A decoder's per-frame tables live in a
//!   [`FrameArena`] that is reset after each frame and reports its high-water mark.
//! - **Nothing allocates in steady state.** Every structure here is allocated once at its
//!   bound; the frame pool, the arena and the output buffer stop allocating after
//!   warm-up.
//! - **Backpressure is a status.** A full pool answers [`Acquire::Full`], a full
//!   lookahead [`Push::Full`].
//!
//! # The decode loop
//!
//! What a decoder does per picture, here driven by the decode-order packets of a real
//! file (FFmpeg's packet table of `mp4/h264_aac.mp4`, standing in for what a decoder
//! reads from slice headers), and checked against the display order of FFmpeg's
//! decoded-frame table:
//!
//! ```
//! use transcode_core::MemoryConfig;
//! use transcode_decoder_buffers::{Dpb, DpbConfig, FrameArena, Output, PictureInfo, Reference};
//! use transcode_frame_pool::{Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat};
//! use transcode_testkit::{read_framemd5, testdata};
//!
//! let packets = read_framemd5(&testdata("mp4/h264_aac.mp4.packets"));
//! let frames = read_framemd5(&testdata("mp4/h264_aac.mp4.frames"));
//!
//! // Once per stream, from the SPS: level 1.2, 320x180, 4 references, and from the VUI
//! // up to 4 frames buffered and 2 reordered.
//! let memory = MemoryConfig::default();
//! let budget = Budget::from_config(&memory);
//! let config = DpbConfig::for_stream(&memory, 12, 320, 180, 4, Some((4, 2))).unwrap();
//! let mut dpb = Dpb::new(config).unwrap();
//! // The pool must cover the DPB, the picture being decoded and what consumers hold.
//! let layout = FrameLayout::new(PixelFormat::Yuv420p, 320, 180).unwrap();
//! let pool_config = FramePoolConfig { capacity: config.capacity + 2, ..FramePoolConfig::new(layout, &memory) };
//! let pool = FramePool::new(pool_config, &budget).unwrap();
//! let mut arena = FrameArena::new(256 << 10, 64 << 10, &budget).unwrap();
//!
//! let mut shown = Vec::new();
//! for (n, p) in packets.stream(0).into_iter().enumerate() {
//!     // The table has no slice types: the first picture is the only IDR used here, and
//!     // the presentation time (512 ticks per frame) stands in for the POC.
//!     let (idr, pts) = (n == 0, p.pts.unwrap());
//!     // 1. Scratch tables for this picture come from the arena.
//!     let mb_types = arena.alloc_slice(20 * 12, 0u8).unwrap();
//!     mb_types[0] = 1;
//!     // 2. The picture is decoded into a pooled frame (waits if all are in use).
//!     let mut frame = pool.acquire();
//!     frame.props_mut().pts = Some(pts);
//!     frame.plane_mut(0).fill(mb_types[0]);
//!     // 3. Reference marking, then store; bumping outputs in POC order.
//!     if idr {
//!         dpb.unmark_all();
//!         dpb.flush().unwrap();
//!     } else {
//!         dpb.sliding_window();
//!     }
//!     let info = PictureInfo { poc: (pts / 512) as i32, frame_num: 0, reference: Reference::ShortTerm, output: Output::Needed };
//!     dpb.store(frame.into_shared(), info).unwrap();
//!     // 4. Drain the output queue; the arena is reset for the next picture.
//!     while let Some(out) = dpb.pop_output() {
//!         shown.push(out.props().pts.unwrap() / 512);
//!     }
//!     arena.reset();
//! }
//! // End of stream: output everything left.
//! dpb.unmark_all();
//! dpb.flush().unwrap();
//! while let Some(out) = dpb.pop_output() {
//!     shown.push(out.props().pts.unwrap() / 512);
//! }
//!
//! let expected: Vec<i64> = frames.entries.iter().map(|e| e.pts.unwrap()).collect();
//! assert_eq!(shown, expected);
//! assert!(pool.stats().peak_in_use <= u64::from(config.capacity) + 1);
//! assert!(arena.high_water() >= 240);
//! ```
#![forbid(unsafe_code)]

mod arena;
mod dpb;
mod level;
mod lookahead;
mod output;

pub use arena::FrameArena;
pub use dpb::{Dpb, DpbConfig, Output, Picture, PictureInfo, Reference};
pub use level::{dpb_frames_for_level, max_dpb_mbs};
pub use lookahead::{Lookahead, Push};
pub use output::OutputBuffer;
pub use transcode_frame_pool::{Acquire, Budget, Frame, FramePool, SharedFrame};
