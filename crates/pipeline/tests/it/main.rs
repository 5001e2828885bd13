//! Integration tests of the pipeline's jobs, on the committed fixtures and their FFmpeg
//! oracle tables (no FFmpeg at test time).

mod routes;
mod transcode;
