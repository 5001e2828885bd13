//! Fuzz target: the remux job (probe, demux, describe, mux) to MP4, fragmented MP4 and
//! MPEG-TS, as `transcode convert` runs it; whatever it writes must read back.
#![no_main]

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use transcode_demux_bridge::{open_demuxer, Input};
use transcode_fuzz::{check_error, config, with_heap_budget, MAX_PACKETS};
use transcode_pipeline::{remux_to_writer, JobError, OutputFormat, RemuxOptions};

/// A writer into a buffer the target keeps a handle on.
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = config();
    with_heap_budget(cfg.max_memory, || {
        let data = Bytes::copy_from_slice(data);
        for format in
            [OutputFormat::Mp4 { fragmented: false }, OutputFormat::Mp4 { fragmented: true }, OutputFormat::MpegTs]
        {
            let mut options = RemuxOptions::new(format);
            options.memory = cfg.clone();
            let out = Arc::new(Mutex::new(Vec::new()));
            let input = Input::from_bytes(data.clone(), "fuzz");
            let report = match remux_to_writer(input, Box::new(Shared(out.clone())), &options, &mut |_| {}) {
                Ok(report) => report,
                Err(JobError::Input { source, .. } | JobError::Output { source, .. }) => {
                    check_error(&source);
                    continue;
                }
                Err(_) => continue,
            };
            let out = std::mem::take(&mut *out.lock().unwrap());
            assert_eq!(report.bytes_out, out.len() as u64, "bytes_out differs from what the writer got");
            assert!(
                report.bytes_in <= data.len() as u64,
                "bytes_in {} past the input's {}",
                report.bytes_in,
                data.len()
            );
            let written: u64 = report.streams.iter().map(|s| s.packets).sum();
            if written == 0 {
                continue;
            }
            // Our own demuxer must read back what our muxer wrote: the same number of
            // packets per stream for MP4 (one sample per packet), to the end without
            // error for MPEG-TS.
            let mut demux = open_demuxer(Input::from_bytes(out, "output"), &cfg)
                .unwrap_or_else(|e| panic!("the {} output does not open: {e}", format.name()));
            let mut counts = Vec::new();
            let mut n = 0;
            while let Some(p) =
                demux.next_packet().unwrap_or_else(|e| panic!("the {} output does not demux: {e}", format.name()))
            {
                if counts.len() <= p.stream {
                    counts.resize(p.stream + 1, 0u64);
                }
                counts[p.stream] += 1;
                n += 1;
                if n >= MAX_PACKETS {
                    break;
                }
            }
            if matches!(format, OutputFormat::Mp4 { .. }) && n < MAX_PACKETS {
                // Streams that received nothing may be left out of the output, which
                // renumbers the rest; compare the non-empty counts.
                let mut want: Vec<u64> = report.streams.iter().map(|s| s.packets).filter(|&p| p > 0).collect();
                let mut got: Vec<u64> = counts.into_iter().filter(|&p| p > 0).collect();
                want.sort_unstable();
                got.sort_unstable();
                assert_eq!(got, want, "packets per stream read back from the {} output", format.name());
            }
        }
    });
});
