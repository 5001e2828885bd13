//! Damaged-input suite: deterministic variants of every fixture (truncations, bit flips,
//! zeroed regions, oversized length fields, junk before the start, a zeroed MP4 index,
//! chunk offsets past the end) fed to `transcode convert`. For each: no panic, a bounded
//! run time, bounded heap (`--max-memory` caps the allocator), a documented exit code,
//! exactly one line on stderr and no output left behind on failure, and for truncations
//! the valid prefix kept.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use transcode_testkit::{fixtures, testdata};

use crate::{path_str, scratch};

/// xorshift64*: a fixed-seed generator, so every run tests the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[derive(Debug)]
enum Damage {
    Truncate(usize),
    FlipBits { seed: u64, count: usize },
    Zero { at: usize, len: usize },
    /// Overwrites 4 bytes at `at` with 0xFF: huge box sizes, section and PES lengths.
    Huge { at: usize },
    /// Puts `len` bytes of junk before the file, as capture tools write headers first.
    Prepend(usize),
    /// Zeroes the payload of the MP4 `moov` box: an index without tracks.
    ZeroMoov,
    /// Moves every MP4 chunk offset past the end of the file.
    OffsetsPastEnd,
}

fn apply(data: &[u8], d: &Damage) -> Vec<u8> {
    let mut v = data.to_vec();
    match *d {
        Damage::Truncate(n) => v.truncate(n),
        Damage::FlipBits { seed, count } => {
            let mut r = Rng(seed);
            for _ in 0..count {
                let i = r.below(v.len());
                v[i] ^= 1 << r.below(8);
            }
        }
        Damage::Zero { at, len } => {
            let end = (at + len).min(v.len());
            v[at.min(end)..end].fill(0);
        }
        Damage::Huge { at } => {
            let end = (at + 4).min(v.len());
            v[at.min(end)..end].fill(0xFF);
        }
        Damage::Prepend(len) => {
            let mut r = Rng(len as u64);
            let mut junk: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
            junk.extend_from_slice(&v);
            v = junk;
        }
        Damage::ZeroMoov => {
            if let Some(i) = v.windows(4).position(|w| w == b"moov").filter(|&i| i >= 4) {
                let size = u32::from_be_bytes(v[i - 4..i].try_into().unwrap()) as usize;
                let end = (i - 4 + size).min(v.len());
                v[i + 4..end].fill(0);
            }
        }
        Damage::OffsetsPastEnd => {
            let len = v.len() as u32;
            let mut from = 0;
            while let Some(i) = v[from..].windows(4).position(|w| w == b"stco").map(|i| i + from) {
                let n = v.get(i + 8..i + 12).map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap()) as usize);
                for k in 0..n {
                    if let Some(b) = v.get_mut(i + 12 + 4 * k..i + 16 + 4 * k) {
                        b.copy_from_slice(&(len + 1000 + k as u32).to_be_bytes());
                    }
                }
                from = i + 4;
            }
        }
    }
    v
}

/// Byte offsets of length fields worth inflating: the size of each top-level MP4 box
/// and of a few boxes inside moov, or the section length of the first PSI packets.
fn length_fields(fx: &str, data: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if fx.ends_with(".mp4") {
        for name in [&b"moov"[..], b"trak", b"stsz", b"stco", b"stts", b"stsc", b"mdat", b"moof", b"trun", b"avcC"] {
            if let Some(i) = data.windows(4).position(|w| w == name) {
                if i >= 4 {
                    out.push(i - 4);
                    // The entry count of a full box sits 8 bytes after its type.
                    out.push(i + 8);
                }
            }
        }
    } else if fx.ends_with(".ts") || fx.ends_with(".m2ts") {
        let step = if fx.ends_with(".m2ts") { 192 } else { 188 };
        let first = if step == 192 { 4 } else { 0 };
        for k in 0..6 {
            out.push(first + k * step + 6); // section_length / PES_packet_length region
        }
    } else if fx.ends_with(".vob") || fx.ends_with(".mpg") {
        // The PES_packet_length of the first PES packets of each stream.
        for id in [0xE0u8, 0xC0, 0xBD] {
            let code = [0, 0, 1, id];
            out.extend(data.windows(4).enumerate().filter(|(_, w)| *w == code).take(2).map(|(i, _)| i + 4));
        }
    } else {
        out.extend([4, 8, 20]);
    }
    out
}

fn variants(fx: &str, len: usize) -> Vec<Damage> {
    let mut v = Vec::new();
    for k in 1..=10 {
        v.push(Damage::Truncate(len * k / 11));
    }
    v.push(Damage::Truncate(len - 1));
    for seed in 1..=6u64 {
        v.push(Damage::FlipBits { seed: seed * 7919 + len as u64, count: 1 + seed as usize * 3 });
    }
    let mut r = Rng(len as u64 | 1);
    for _ in 0..3 {
        v.push(Damage::Zero { at: r.below(len), len: 1 + r.below(4096) });
    }
    let data = std::fs::read(testdata(fx)).unwrap();
    for at in length_fields(fx, &data) {
        v.push(Damage::Huge { at });
    }
    // Real-world inputs: junk before the first packet, the first 1000 bytes only, and
    // for MP4 an index without tracks or pointing past the end.
    v.extend([Damage::Prepend(188), Damage::Prepend(1003), Damage::Prepend(65_536), Damage::Truncate(1000)]);
    if fx.ends_with(".mp4") {
        v.extend([Damage::ZeroMoov, Damage::OffsetsPastEnd]);
    }
    v
}

/// Whether `transcode` must still convert the input after `damage`: junk before a
/// transport stream or an Annex-B stream is skipped (the probe finds the packets after
/// it).
fn must_succeed(fx: &str, damage: &Damage) -> bool {
    matches!(damage, Damage::Prepend(_)) && [".ts", ".m2ts", ".h264", ".h265"].iter().any(|e| fx.ends_with(e))
}

/// What the error line must say for inputs that cannot give anything.
fn must_say(fx: &str, damage: &Damage) -> Option<&'static str> {
    match damage {
        Damage::ZeroMoov => Some("no media streams found (moov without tracks)"),
        Damage::OffsetsPastEnd if fx != "mp4/h264_aac_frag.mp4" => Some("1 sample pointed past the end of the file"),
        _ => None,
    }
}

fn output_ext(fx: &str) -> &'static str {
    match fx.rsplit('.').next().unwrap() {
        "mp4" => "ts",
        "ts" | "m2ts" | "h264" | "h265" | "aac" => "mp4",
        "mp2" | "vob" | "mpg" => "ts",
        _ => "y4m",
    }
}

/// Runs convert with a time limit; returns the exit code (None if killed by a signal).
fn run_limited(input: &Path, output: &Path) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_transcode"))
        .args(["convert", path_str(input), path_str(output), "--max-memory", "64M"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (status.code(), err, start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "killed after 60 s: hang".into(), start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn damaged_inputs_never_panic_and_fail_cleanly() {
    let dir = scratch("damaged");
    let mut total = 0;
    let mut problems = Vec::new();
    for fx in fixtures() {
        let data = std::fs::read(testdata(&fx)).unwrap();
        for (i, damage) in variants(&fx, data.len()).into_iter().enumerate() {
            total += 1;
            let input = dir.join(format!("in-{i}"));
            std::fs::write(&input, apply(&data, &damage)).unwrap();
            // H.264 sources are also decoded: damaged slices must be concealed, not fatal.
            let ext = if fx.contains("h264") && i % 2 == 1 { "y4m" } else { output_ext(&fx) };
            let output = dir.join(format!("out-{i}.{ext}"));
            let (code, err, _) = run_limited(&input, &output);
            let label = format!("{fx} {damage:?}");
            if let Some(wanted) = must_say(&fx, &damage) {
                if code != Some(3) || !err.contains(wanted) {
                    problems.push(format!("{label}: expected exit 3 saying {wanted:?}, got {code:?}: {err}"));
                }
            }
            match code {
                Some(0) => {
                    if !output.exists() {
                        problems.push(format!("{label}: exit 0 but no output"));
                    }
                }
                Some(3) => {
                    if output.exists() {
                        problems.push(format!("{label}: failed but left {}", output.display()));
                    }
                    // The error is the only line: what explains it is in it.
                    if err.lines().count() != 1 || !err.starts_with("transcode: error: ") {
                        problems.push(format!("{label}: stderr is not one error line: {err:?}"));
                    }
                    if must_succeed(&fx, &damage) {
                        problems.push(format!("{label}: should have been converted: {err}"));
                    }
                }
                other => problems.push(format!("{label}: exit {other:?}: {err}")),
            }
            // A truncated recording keeps what was valid: from half the file on, the
            // output must exist. The exception is an MP4 whose index (moov) comes after
            // the data: cut anywhere, it has lost the index and no sample can be located.
            if let Damage::Truncate(n) = damage {
                if n >= data.len() / 2 && code != Some(0) && fx != "mp4/h264_aac.mp4" {
                    problems.push(format!("{label}: truncated input was rejected: {err}"));
                }
            }
            let _ = std::fs::remove_file(&output);
            std::fs::remove_file(&input).unwrap();
        }
    }
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(total >= 200, "only {total} damaged inputs");
    assert!(problems.is_empty(), "{} of {total} damaged inputs misbehaved:\n{}", problems.len(), problems.join("\n"));
}
