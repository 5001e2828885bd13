//! Muxer tests: remux every fixture and check the output against the oracle tables.

mod es;
mod mp4;
mod ts;
