//! Fuzz target: the MPEG-1/MPEG-2 video decoder on damaged streams (never panics,
//! stays in its budget, hands out well-formed frames).
//!
//! - **Mutation mode** (first byte not 0): the first byte picks a fixture compiled in
//!   below, the second how the stream is cut into [`Decoder::send`] calls (whole, TS
//!   payload sized, 7-byte or 1-byte pieces, or uneven ones) and how many decoded
//!   pictures the caller keeps, the third how many bytes of the fixture are used. Every
//!   following 5 bytes are one edit: flip a bit, overwrite or zero a run, xor a burst,
//!   cut bytes out, duplicate a run elsewhere, or splice in the start of another
//!   fixture (a sequence change mid-stream).
//! - **Raw mode** (first byte 0): the rest of the input is the stream.
//!
//! Beyond "no panic" it checks: the heap of a run stays within the decoder's
//! [`MemoryConfig::max_memory`] of [`BUDGET`] (the counting allocator aborts the run
//! otherwise) and [`Decoder::memory_bytes`] within it; every frame has the size of a
//! sequence header sent (its low 12 bits, never 0) and planes that hold it at their strides; frames out
//! never exceed the picture start codes sent; `NeedsOutput` is answered by taking
//! frames and a decoder that asks again without consuming anything must have had a
//! picture kept by the caller; error messages start lowercase.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_core::MemoryConfig;
use transcode_fuzz::{check_error, with_heap_budget};
use transcode_mpeg2::{DecodeStatus, DecodedPicture, Decoder, Frame, PixelFormat};

/// The decoder's memory budget and the run's heap cap.
const BUDGET: u64 = 16 << 20;

/// Bytes of the edited stream at most.
const MAX_STREAM: usize = 192 << 10;

const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../testdata/mpeg2/b_ipb_closed.m2v"),
    include_bytes!("../../testdata/mpeg2/c_ipb_open.m2v"),
    include_bytes!("../../testdata/mpeg2/d_interlaced_tff.m2v"),
    include_bytes!("../../testdata/mpeg2/f_altscan.m2v"),
    include_bytes!("../../testdata/mpeg2/g_intra_vlc.m2v"),
    include_bytes!("../../testdata/mpeg2/k_dc10.m2v"),
    include_bytes!("../../testdata/mpeg2/l_yuv422.m2v"),
    include_bytes!("../../testdata/mpeg2/m_mpeg1.m1v"),
    include_bytes!("../../testdata/mpeg2/n_matrices.m2v"),
    include_bytes!("../../testdata/mpeg2/s_cut_at_b.m2v"),
    include_bytes!("../../testdata/mpeg2/t_mpeg2enc_pulldown.m2v"),
    include_bytes!("../../testdata/mpeg2/w_mpeg2enc_dualprime.m2v"),
];

fn edit(s: &mut Vec<u8>, op: &[u8]) {
    if s.is_empty() {
        return;
    }
    let at = (u32::from_le_bytes([op[1], op[2], op[3], 0]) as usize) % s.len();
    let v = op[4];
    match op[0] % 8 {
        0 | 1 => s[at] ^= 1 << (v & 7),
        2 => {
            let end = (at + 1 + v as usize % 16).min(s.len());
            s[at..end].fill(v);
        }
        3 => {
            let end = (at + 1 + v as usize % 64).min(s.len());
            s[at..end].fill(0);
        }
        4 => {
            let end = (at + 8).min(s.len());
            for (k, b) in s[at..end].iter_mut().enumerate() {
                *b ^= v.rotate_left(k as u32);
            }
        }
        5 => {
            let end = (at + 1 + (v as usize) * 37).min(s.len());
            s.drain(at..end);
        }
        6 => {
            let end = (at + 1 + (v as usize) * 37).min(s.len());
            let run = s[at..end].to_vec();
            if s.len() + run.len() <= MAX_STREAM {
                let to = (v as usize * 131) % s.len();
                s.splice(to..to, run);
            }
        }
        _ => {
            let other = FIXTURES[v as usize % FIXTURES.len()];
            let n = (4096 + at % 16384).min(other.len());
            if s.len() + n <= MAX_STREAM {
                s.splice(at..at, other[..n].iter().copied());
            }
        }
    }
}

fn check_frame(f: &Frame<'_>, sizes: &[(usize, usize)]) {
    assert!(f.width > 0 && f.height > 0);
    // A damaged sequence extension may add size bits above the 12 of the header.
    let low = (f.width & 0xfff, f.height & 0xfff);
    assert!(
        sizes.contains(&low),
        "frame {}x{} of no sequence header",
        f.width,
        f.height
    );
    let (cw, ch) = match f.format {
        PixelFormat::Yuv422p => (f.width.div_ceil(2), f.height),
        _ => (f.width.div_ceil(2), f.height.div_ceil(2)),
    };
    for p in 0..3 {
        let (w, h) = if p == 0 {
            (f.width, f.height)
        } else {
            (cw, ch)
        };
        assert!(f.strides[p] >= w);
        assert!(f.planes[p].len() >= (h - 1) * f.strides[p] + w);
    }
}

/// The sizes of every sequence header in `s` (12-bit fields; the fixtures need no
/// size extension).
fn sizes(s: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for w in s.windows(7) {
        if w[..4] == [0, 0, 1, 0xb3] {
            let width = (w[4] as usize) << 4 | (w[5] as usize) >> 4;
            let height = ((w[5] & 15) as usize) << 8 | w[6] as usize;
            out.push((width, height));
        }
    }
    out
}

fn run(stream: &[u8], feed: u8, keep: usize) {
    let config = MemoryConfig {
        max_memory: BUDGET,
        ..MemoryConfig::default()
    };
    let mut dec = Decoder::new(&config);
    let sizes = sizes(stream);
    let pictures = stream.windows(4).filter(|w| *w == [0, 0, 1, 0]).count();
    let mut frames = 0usize;
    let mut kept: Vec<DecodedPicture> = Vec::new();
    let pieces = [usize::MAX, 184, 7, 1, 4093];
    let mut at = 0;
    let mut k = 0;
    while at < stream.len() {
        let n = match feed % 6 {
            5 => [4093, 7, 1000, 1, 300, 65536][k % 6],
            f => pieces[f as usize],
        }
        .min(stream.len() - at);
        k += 1;
        let mut rest = &stream[at..at + n];
        at += n;
        loop {
            let res = dec.send(rest);
            let mut taken = 0;
            while let Some(p) = dec.next_picture() {
                check_frame(&p.frame(), &sizes);
                frames += 1;
                taken += 1;
                if kept.len() < keep {
                    kept.push(p);
                }
            }
            assert!(dec.memory_bytes() as u64 <= BUDGET);
            match res {
                Ok(DecodeStatus::Done) => break,
                Ok(DecodeStatus::NeedsOutput { consumed }) => {
                    assert!(consumed <= rest.len());
                    if consumed == 0 && taken == 0 {
                        assert!(
                            !kept.is_empty(),
                            "decoder stuck with nothing held by the caller"
                        );
                        kept.clear();
                    }
                    rest = &rest[consumed..];
                }
                Err(e) => {
                    check_error(&e);
                    break;
                }
            }
        }
        if k % 3 == 0 {
            kept.clear();
        }
    }
    kept.clear();
    dec.flush();
    while let Some(f) = dec.next_frame() {
        check_frame(&f, &sizes);
        frames += 1;
    }
    assert!(
        frames <= pictures,
        "{frames} frames from {pictures} pictures"
    );
    dec.flush();
    assert!(dec.next_frame().is_none());
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    with_heap_budget(BUDGET + (4 << 20), || {
        if data[0] == 0 {
            let s = &data[1..data.len().min(MAX_STREAM)];
            run(s, data.len() as u8, data.len() / 4 % 3);
            return;
        }
        let fixture = FIXTURES[data[0] as usize % FIXTURES.len()];
        let feed = data.get(1).copied().unwrap_or(0);
        let len = match data.get(2) {
            Some(&l) => fixture.len() * (1 + l as usize) / 256,
            None => fixture.len(),
        };
        let mut s = fixture[..len].to_vec();
        for op in data.get(3..).unwrap_or(&[]).chunks_exact(5).take(64) {
            edit(&mut s, op);
        }
        run(&s, feed, (feed >> 3 & 3) as usize);
    });
});
