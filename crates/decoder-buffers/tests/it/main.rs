//! Integration tests of transcode-decoder-buffers, one module per area.

mod buffers;
mod dpb_order;
mod h264_headers;
