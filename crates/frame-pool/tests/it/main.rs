//! Integration tests of transcode-frame-pool, one module per area.

mod byte_pool;
mod formats;
mod frame_pool;
