//! Regression tests for bugs the fuzz targets found in code the fuzzing work does not own.
//!
//! NOT part of the test binary yet: each test fails until its bug is fixed. When one is
//! fixed, move its test to `regressions.rs` (which `main.rs` includes) and drop the
//! matching relaxed check (marked "Known bug") in `fuzz/`. The inputs live in
//! `fuzz/regressions/<target>/`, where every `cargo xtask fuzz` run replays them.

use transcode_codec::h265::HvcC;
use transcode_core::{CodecId, MemoryConfig};
use transcode_demux_bridge::es::AnnexBDemuxer;
use transcode_demux_bridge::{open_demuxer_as, Demuxer, Format, Input};
use transcode_testkit::testdata_dir;

fn fuzz_input(rel: &str) -> Vec<u8> {
    let path = testdata_dir().join("../fuzz/regressions").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The TS demuxer (demux-bridge/src/ts/mod.rs, `State::resync` and `packet::find_sync`)
/// decides where sync is found again differently depending on where its read windows
/// end: a map is walked in 1 MiB windows, a pipe in 64 KiB ones (`TsDemuxer::new`), and
/// a sync candidate near a window's end is confirmed against fewer following packets
/// (`find_sync` accepts a candidate whose confirmations run past the data) or deferred
/// to the next window. This damaged 64 KiB M2TS input (found by the ts target) gives,
/// as 192-byte packets, resyncs 4 / bytes_skipped 62656 / cc_errors 2 and one PES of 2181
/// bytes from a map, but 5 / 62464 / 3 and 2365 bytes from a pipe. Valid input is not
/// affected. Fix: make a resync decision only on data that reaches SYNC_CONFIRM packets
/// past the candidate (or the true end of the input), whatever the window, e.g. by
/// stopping the window at the candidate whenever the confirmations do not fit in it.
/// Packets (stream, pts, dts, bytes), then resyncs, bytes skipped and cc errors.
type Outcome = (Vec<(usize, Option<i64>, Option<i64>, Vec<u8>)>, u64, u64, u64);

#[test]
fn m2ts_resync_same_from_map_and_pipe() {
    let data = fuzz_input("ts/m2ts-resync-differs-map-pipe.m2ts");
    let config = MemoryConfig { read_buffer_size: 4096, ..Default::default() };
    let mut outcomes: Vec<Outcome> = Vec::new();
    for input in [
        Input::from_bytes(data.clone(), "mapped"),
        Input::from_reader(Box::new(std::io::Cursor::new(data.clone())), "pipe", &config),
    ] {
        let mut d = open_demuxer_as(input, Format::MpegTs { packet_size: 192 }, &config).unwrap();
        let mut packets = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            packets.push((p.stream, p.pts, p.dts, p.data.to_vec()));
        }
        let s = d.stats();
        outcomes.push((packets, s.resyncs, s.bytes_skipped, s.cc_errors));
    }
    let summary = |o: &Outcome| (o.0.iter().map(|p| p.3.len()).collect::<Vec<_>>(), o.1, o.2, o.3);
    assert!(
        outcomes[0] == outcomes[1],
        "map (sizes, resyncs, skipped, cc errors): {:?}, pipe: {:?}",
        summary(&outcomes[0]),
        summary(&outcomes[1])
    );
}
