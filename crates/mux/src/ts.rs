//! ts muxer (being built).
