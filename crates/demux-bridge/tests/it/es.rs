//! es demuxer tests.
