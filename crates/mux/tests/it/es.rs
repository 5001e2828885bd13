//! es muxer tests.
