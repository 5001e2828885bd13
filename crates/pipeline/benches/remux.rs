//! Throughput of demuxing and remuxing MPEG-TS held in memory, at stepped input sizes.
//! `cargo bench -p transcode-pipeline` (or `cargo xtask bench criterion`); wall-clock
//! numbers are for reports, never asserted.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::io;
use transcode_core::MemoryConfig;
use transcode_demux_bridge::{open_demuxer, Input};
use transcode_pipeline::{remux_to_writer, OutputFormat, RemuxOptions};

/// The TS fixture repeated until it is at least `size` bytes. The copies restart their
/// timestamps, which a demuxer handles as a discontinuity; for remux benches the
/// fixture is used once per iteration instead.
fn repeated(size: usize) -> bytes::Bytes {
    let one = std::fs::read(transcode_testkit::testdata("ts/h264_aac.ts")).expect("fixture");
    let mut v = Vec::with_capacity(size + one.len());
    while v.len() < size {
        v.extend_from_slice(&one);
    }
    v.into()
}

fn demux(c: &mut Criterion) {
    let mut group = c.benchmark_group("demux-ts");
    for mib in [1usize, 8, 32] {
        let data = repeated(mib << 20);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{mib}MiB")), &data, |b, data| {
            b.iter(|| {
                let config = MemoryConfig::default();
                let mut d = open_demuxer(Input::from_bytes(data.clone(), "bench"), &config).unwrap();
                let mut n = 0usize;
                while let Some(p) = d.next_packet().unwrap() {
                    n += p.data.len();
                }
                n
            })
        });
    }
    group.finish();
}

fn remux(c: &mut Criterion) {
    let data = bytes::Bytes::from(std::fs::read(transcode_testkit::testdata("ts/h264_aac.ts")).unwrap());
    let mut group = c.benchmark_group("remux-fixture");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for (name, format) in [("to-mp4", OutputFormat::Mp4 { fragmented: false }), ("to-fmp4", OutputFormat::Mp4 { fragmented: true }), ("to-ts", OutputFormat::MpegTs)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let src = Input::from_bytes(data.clone(), "bench");
                remux_to_writer(src, Box::new(io::sink()), &RemuxOptions::new(format), &mut |_| {}).unwrap().bytes_out
            })
        });
    }
    group.finish();
}

criterion_group!(benches, demux, remux);
criterion_main!(benches);
