//! es muxer (being built).
