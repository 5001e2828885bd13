//! ts demuxer tests.
