//! mp4 muxer tests.
