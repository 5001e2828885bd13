//! `transcode-decode-bench DECODER FILE [--framemd5]`: decodes every frame of an Annex-B
//! H.264 file with one decoder on one thread and prints frames, seconds, fps and peak
//! RssAnon, for `cargo xtask bench decode`.
//!
//! DECODER is `transcode` (this workspace's `transcode_h264::Decoder`), `mpeg2`
//! (`transcode_mpeg2::Decoder`, on an MPEG-1/2 video elementary stream), `rust_h264`
//! (crate `rust_h264`, its single-threaded `decoder::Decoder`) or `rusty_h264` (crate
//! `rusty_h264-decoder` without default features, so that it does not install its
//! global allocator; `asm` keeps its SIMD kernels).
//!
//! # Fairness
//!
//! - The file is read into memory before the clock starts; everything from Annex-B bytes
//!   to decoded pictures is timed, including each decoder's own NAL splitting and
//!   emulation-prevention removal.
//! - Every decoder runs on the calling thread. The summary line reports the process's
//!   thread count at the end, so a decoder that starts helper threads would show up.
//! - Pictures are counted and dropped, as `ffmpeg -f null` does. `transcode` returns
//!   them in display order, the other two in decode order; reordering is bookkeeping,
//!   not pixel work.
//! - CPU time (user + system, from `/proc/self/stat`) is reported beside wall time
//!   because the machines this runs on are often shared: CPU time is what one thread of
//!   decoding costs, wall time includes waiting for a core.
//!
//! # Output
//!
//! One line of `key=value` pairs:
//!
//! ```text
//! decoder=transcode frames=300 size=1280x720 wall_s=1.234 cpu_s=1.200 fps=243.1 cpu_fps=250.0 peak_rss_anon_kib=23456 threads=1 errors=0
//! ```
//!
//! Exit status: 0 when every picture decoded cleanly, 1 after decode errors (the first
//! is printed on stderr), 2 for a usage error or an unreadable file, 3 when the decoder
//! asked for was left out of this build (cargo features `rust_h264`, `rusty_h264`, on
//! by default).
//!
//! With `--framemd5` the run is not a timing run: it first prints the MD5 of every
//! picture (planes packed as yuv420p, display order) one per line as `md5 <hex>`, for
//! comparison with `ffmpeg -f framemd5`.
#![forbid(unsafe_code)]

use md5::{Digest, Md5};
use std::process::ExitCode;
use std::time::Instant;
use transcode_core::MemoryConfig;

/// What one decoder run produced.
#[derive(Debug, Default)]
struct Run {
    frames: u64,
    width: usize,
    height: usize,
    /// Decode errors reported (the decoders keep going after most of them).
    errors: u64,
    first_error: Option<String>,
    /// Per-picture MD5s with their display-order sort key, collected with `--framemd5`.
    md5s: Vec<((u64, i32, u64), [u8; 16])>,
    /// Largest RssAnon seen while decoding, in KiB.
    peak_rss_anon_kib: u64,
}

impl Run {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    /// Counts one picture; samples RssAnon every 16 pictures so that sampling stays
    /// out of the way of the timing.
    fn frame(&mut self, width: usize, height: usize) {
        self.frames += 1;
        self.width = width;
        self.height = height;
        if self.frames % 16 == 1 {
            self.sample_rss();
        }
    }

    fn sample_rss(&mut self) {
        if let Some(kib) = status_field("RssAnon:") {
            self.peak_rss_anon_kib = self.peak_rss_anon_kib.max(kib);
        }
    }
}

/// A field of `/proc/self/status` in kB (or a plain count, for `Threads:`).
fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of the whole process (all threads, live or exited), in
/// seconds. The kernel counts in USER_HZ ticks, which is 100 on Linux.
fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    // The command name in parentheses may contain spaces; fields are counted after it.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else { return f64::NAN };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': f[0] is field 3 (state), so utime (field 14) is f[11], stime f[12].
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => f64::NAN,
    }
}

#[cfg(any(feature = "rust_h264", feature = "rusty_h264"))]
fn md5_of(planes: [&[u8]; 3]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in planes {
        h.update(p);
    }
    h.finalize().into()
}

/// Counts a picture of one of transcode's decoders, which give them in display order,
/// and with `md5` hashes the planes `write` packs (the output index is the sort key).
fn display_order_frame(run: &mut Run, packed: &mut Vec<u8>, (width, height): (usize, usize), md5: bool, write: impl FnOnce(&mut Vec<u8>)) {
    run.frame(width, height);
    if md5 {
        packed.clear();
        write(packed);
        let digest: [u8; 16] = Md5::digest(&packed[..]).into();
        let order = run.md5s.len() as u64;
        run.md5s.push(((0, 0, order), digest));
    }
}

/// Reports concealed macroblocks as an error: the benchmark streams are undamaged.
fn report_concealed(run: &mut Run, concealed: u64) {
    if concealed > 0 {
        run.error(format!("{concealed} macroblocks concealed"));
    }
}

fn run_transcode(data: &[u8], md5: bool) -> Run {
    let mut run = Run::default();
    let mut packed = Vec::new();
    let mut on_frame = |run: &mut Run, f: &transcode_h264::Frame<'_>| {
        display_order_frame(run, &mut packed, (f.width, f.height), md5, |out| f.write_yuv420p(out));
    };
    let mut dec = transcode_h264::Decoder::new(&MemoryConfig::default());
    if let Err(e) = dec.decode_with(data, |f| on_frame(&mut run, f)) {
        run.error(e.to_string());
    }
    dec.flush();
    while let Some(f) = dec.next_frame() {
        on_frame(&mut run, &f);
    }
    report_concealed(&mut run, dec.concealed_macroblocks());
    run
}

/// transcode's MPEG-1/MPEG-2 video decoder (`transcode-mpeg2`) on an elementary stream
/// (`.m2v`), for `cargo xtask bench decode-mpeg2`.
fn run_transcode_mpeg2(data: &[u8], md5: bool) -> Run {
    let mut run = Run::default();
    let mut packed = Vec::new();
    let mut on_frame = |run: &mut Run, f: &transcode_mpeg2::Frame<'_>| {
        display_order_frame(run, &mut packed, (f.width, f.height), md5, |out| f.write_planar(out));
    };
    let mut dec = transcode_mpeg2::Decoder::new(&MemoryConfig::default());
    if let Err(e) = dec.decode_with(data, |f| on_frame(&mut run, f)) {
        run.error(e.to_string());
    }
    dec.flush();
    while let Some(f) = dec.next_frame() {
        on_frame(&mut run, &f);
    }
    report_concealed(&mut run, dec.concealed_macroblocks());
    run
}

#[cfg(feature = "rust_h264")]
fn run_rust_h264(data: &[u8], md5: bool) -> Run {
    use rust_h264::nal::NalUnitType;
    let mut run = Run::default();
    // Display order for `--framemd5`: an IDR starts a new group, and within a group
    // pictures sort by picture order count. The decoder returns the *previous* picture
    // when a slice starts a new one, so the group counter moves after the call.
    let mut gop = 0u64;
    let on_frame = |run: &mut Run, f: rust_h264::decoder::Frame, gop: u64| {
        run.frame(f.width as usize, f.height as usize);
        if md5 {
            run.md5s.push(((gop, f.pic_order_cnt, 0), md5_of([&f.y, &f.u, &f.v])));
        }
    };
    let nals = rust_h264::nal::parse_annex_b(data);
    let mut dec = rust_h264::decoder::Decoder::new();
    for nal in &nals {
        // A new IDR picture begins with a slice whose first_mb_in_slice is 0, coded as
        // the single bit 1.
        let new_idr = nal.nal_unit_type == NalUnitType::SliceIdr && nal.rbsp.first().is_some_and(|b| b & 0x80 != 0);
        match dec.decode_nal(nal) {
            Ok(Some(f)) => on_frame(&mut run, f, gop),
            Ok(None) => {}
            Err(e) => run.error(format!("{e:?}")),
        }
        if new_idr {
            gop += 1;
        }
    }
    if let Some(f) = dec.flush() {
        on_frame(&mut run, f, gop);
    }
    run
}

#[cfg(feature = "rusty_h264")]
fn run_rusty_h264(data: &[u8], md5: bool) -> Run {
    let mut run = Run::default();
    let mut gop = 0u64;
    let mut dec = rusty_h264_decoder::Decoder::new();
    for au in rusty_h264_decoder::split_access_units(data) {
        // `decode` returns the picture of this access unit (decode order).
        if md5 && rusty_h264_decoder::au_is_idr(au) {
            gop += 1;
        }
        match dec.decode(au) {
            Ok(Some(f)) => {
                run.frame(f.width, f.height);
                if md5 {
                    run.md5s.push(((gop, dec.last_poc(), 0), md5_of([&f.y, &f.u, &f.v])));
                }
            }
            Ok(None) => {}
            Err(e) => run.error(format!("{e:?}")),
        }
    }
    run
}

fn hex(d: &[u8; 16]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let md5 = args.iter().any(|a| a == "--framemd5");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(decoder), Some(path)) = (pos.first(), pos.get(1)) else {
        eprintln!("usage: transcode-decode-bench transcode|rust_h264|rusty_h264 FILE.h264 [--framemd5], or mpeg2 FILE.m2v");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let decode: fn(&[u8], bool) -> Run = match decoder.as_str() {
        "transcode" => run_transcode,
        "mpeg2" => run_transcode_mpeg2,
        #[cfg(feature = "rust_h264")]
        "rust_h264" => run_rust_h264,
        #[cfg(feature = "rusty_h264")]
        "rusty_h264" => run_rusty_h264,
        #[cfg(not(all(feature = "rust_h264", feature = "rusty_h264")))]
        other @ ("rust_h264" | "rusty_h264") => {
            eprintln!("{other} is not in this build (cargo feature {other} off)");
            return ExitCode::from(3);
        }
        other => {
            eprintln!("unknown decoder {other:?} (expected transcode, mpeg2, rust_h264 or rusty_h264)");
            return ExitCode::from(2);
        }
    };
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut run = decode(&data, md5);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    run.sample_rss();
    let threads = status_field("Threads:").unwrap_or(0);
    if md5 {
        run.md5s.sort_by_key(|(k, _)| *k);
        for (_, d) in &run.md5s {
            println!("md5 {}", hex(d));
        }
    }
    println!(
        "decoder={decoder} frames={} size={}x{} wall_s={wall:.4} cpu_s={cpu:.2} fps={:.1} cpu_fps={:.1} peak_rss_anon_kib={} threads={threads} errors={}",
        run.frames,
        run.width,
        run.height,
        run.frames as f64 / wall,
        run.frames as f64 / cpu,
        run.peak_rss_anon_kib,
        run.errors,
    );
    match run.first_error {
        Some(e) => {
            eprintln!("{decoder}: {} errors, first: {e}", run.errors);
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}
