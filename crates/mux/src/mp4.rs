//! mp4 muxer (being built).
