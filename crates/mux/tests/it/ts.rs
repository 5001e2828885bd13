//! ts muxer tests.
