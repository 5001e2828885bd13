//! mp4 demuxer tests.
