//! Bounded, measured buffers for decoded frames and owned packet copies.
//!
//! # Design principles
//!
//! - **Bounded.** A [`FramePool`] holds at most `capacity` frames and a [`BytePool`] at
//!   most `max_bytes_in_flight` bytes of buffers; neither grows past its bound. FFmpeg's
//!   `AVBufferPool` reuses but never refuses; these pools refuse.
//! - **Reserved before allocated.** Every buffer is reserved against the job's one
//!   [`Budget`] before it is allocated. A request that can never fit is an
//!   [`Error::LimitExceeded`](transcode_core::Error::LimitExceeded); one that could fit
//!   later is backpressure: [`Acquire::Full`] from the `try_` methods, a wait from the
//!   others.
//! - **No allocation after warm-up.** Handles carry their buffer back to the pool on
//!   drop; sharing a frame ([`Frame::into_shared`], [`SharedFrame`] clones) bumps
//!   reference counts and never copies pixels.
//! - **Measured.** Pools register with the budget, so [`Budget::stats`] reports every
//!   pool's [`PoolStats`] next to the budget's reserved and peak bytes.
//! - **Aligned.** Every row of every plane starts on a 64-byte boundary (configurable),
//!   without `unsafe`: the buffer is over-allocated and plane 0 starts at the first
//!   aligned address.
//!
//! # Example
//!
//! The first frame of a Y4M file copied into a pooled frame, checked against FFmpeg's
//! `framemd5` of the same file:
//!
//! ```
//! use transcode_core::MemoryConfig;
//! use transcode_frame_pool::{Acquire, Budget, FrameLayout, FramePool, FramePoolConfig, PixelFormat};
//! use transcode_testkit::{md5_hex, read_framemd5, testdata};
//!
//! let y4m = std::fs::read(testdata("y4m/small.y4m")).unwrap();
//! let header_end = y4m.iter().position(|&b| b == b'\n').unwrap() + 1;
//! let first = &y4m[header_end + b"FRAME\n".len()..];
//!
//! let memory = MemoryConfig::default();
//! let budget = Budget::from_config(&memory);
//! let layout = FrameLayout::new(PixelFormat::Yuv420p, 160, 90).unwrap();
//! let pool = FramePool::new(FramePoolConfig { capacity: 2, ..FramePoolConfig::new(layout, &memory) }, &budget).unwrap();
//!
//! let mut frame = pool.acquire();
//! frame.copy_from_packed(&first[..layout.packed_size()]).unwrap();
//! assert_eq!(frame.stride(0), 192); // 160 rounded up to 64
//! assert_eq!(frame.plane(0).as_ptr() as usize % 64, 0);
//!
//! let mut packed = Vec::new();
//! frame.write_packed(&mut packed);
//! let oracle = read_framemd5(&testdata("y4m/small.y4m.frames"));
//! assert_eq!(md5_hex(&packed), oracle.entries[0].md5);
//!
//! // Shared handles keep the buffer; the pool refuses a third frame.
//! let shared = frame.into_shared();
//! let also = shared.clone();
//! let second = pool.acquire();
//! assert!(pool.try_acquire().is_full());
//! drop((shared, also, second));
//! assert_eq!(pool.stats().available, 2);
//! assert_eq!(budget.stats().pools[0].peak_in_use, 2);
//! ```
#![forbid(unsafe_code)]

mod byte_pool;
mod frame;
mod layout;
mod pool;

pub use transcode_core::{Acquire, Budget, PoolFill, PoolStatsSource, Reservation};
pub use byte_pool::{BytePool, BytePoolConfig, PooledBuf, MIN_BUFFER, PREFILL_BUFFER};
pub use frame::{Captions, Frame, FrameData, FrameProps, SharedFrame};
pub use transcode_core::FieldOrder;
pub use layout::{FrameLayout, PixelFormat, PlaneLayout};
pub use pool::{ClearOnRelease, FramePool, FramePoolConfig, Preallocate};
pub use transcode_core::{MemoryStats, PoolStats};
