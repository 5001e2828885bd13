//! Demuxer tests against the FFmpeg oracle tables committed in `testdata/`.

mod contract;
mod es;
mod mp4;
mod ps;
mod regressions;
mod ts;
