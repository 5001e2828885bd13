//! Shared types of the transcode workspace: packets, timestamps, stream descriptions,
//! memory configuration and the error type.
//!
//! # Design principles
//!
//! - **No I/O.** Nothing here opens, maps, reads or writes a file. Other crates do that
//!   and describe what they found with these types.
//! - **Borrow first.** [`PacketView`] borrows the bytes it describes (from a memory map or
//!   a demuxer's reassembly buffer); [`Packet`] is the owned form, made only where a stage
//!   needs ownership.
//! - **Every bound is configured.** Limits come from [`MemoryConfig`]; a request that
//!   exceeds one is an [`Error::LimitExceeded`] returned *before* anything is allocated.
//!
//! ```
//! use transcode_core::{TimeBase, Unwrap33};
//! let mut u = Unwrap33::default();
//! assert_eq!(u.unwrap((1 << 33) - 10), (1 << 33) - 10);
//! // The 33-bit counter wrapped: the timeline keeps going up.
//! assert_eq!(u.unwrap(5), (1 << 33) + 5);
//! assert_eq!(TimeBase::MPEG.rescale(90_000, TimeBase::new(1, 1000)), 1000);
//! ```
#![forbid(unsafe_code)]

mod budget;
mod codec;
mod color;
mod error;
mod memory;
mod packet;
mod time;

pub use budget::{Acquire, Budget, PoolStatsSource, Reservation};
pub use codec::{AudioParams, BitstreamFormat, CodecId, FieldOrder, MediaType, StreamInfo, VideoParams};
pub use color::{ColorDescription, ColorRange, COLOR_UNSPECIFIED};
pub use error::{Error, Result};
pub use memory::{MemoryConfig, MemoryStats, PoolFill, PoolStats};
pub use packet::{Packet, PacketView};
pub use time::{TimeBase, Unwrap33};
