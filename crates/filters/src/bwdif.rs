//! bwdif's line interpolation ("Bob Weaver Deinterlacing Filter", Thomas Mundt): yadif's
//! motion-adaptive clamp around w3fdif's filters.
//!
//! Where the picture changes, the missing line is a vertical filter over the current
//! field (two lines each side) plus, where the field's lines disagree more than the
//! fields before and after do, a high-pass over those two fields; the result is clamped
//! by yadif's temporal and spatial differences. The coefficients are the published
//! w3fdif/bwdif ones, in units of 1/8192.

/// Low-frequency taps over the current field: lines ±1 and ±3.
const LF: [i32; 2] = [4309, 213];
/// High-frequency taps over the fields before and after: the same line, ±2 and ±4.
const HF: [i32; 3] = [5570, 3801, 1016];
/// Taps used alone where the field's lines agree (and for the very first field): lines
/// ±1 and ±3.
const SP: [i32; 2] = [5077, 981];

/// The lines one interpolated output line reads, resolved for the picture's edges.
///
/// `c`, `e` are the current frame's lines above and below, `c3`, `e3` three lines away;
/// `prev_*`/`next_*` the neighbouring frames at `c` and `e`; `p2`/`n2` the fields
/// before and after the missing one at the output line, `*_m2`/`*_p2` two lines above
/// and below it and `*_m4`/`*_p4` four lines. Lines a variant does not read may be any
/// line.
pub(crate) struct Lines<'a> {
    pub c: &'a [u8],
    pub e: &'a [u8],
    pub c3: &'a [u8],
    pub e3: &'a [u8],
    pub prev_c: &'a [u8],
    pub prev_e: &'a [u8],
    pub next_c: &'a [u8],
    pub next_e: &'a [u8],
    pub p2: &'a [u8],
    pub n2: &'a [u8],
    pub p2_m2: &'a [u8],
    pub n2_m2: &'a [u8],
    pub p2_p2: &'a [u8],
    pub n2_p2: &'a [u8],
    pub p2_m4: &'a [u8],
    pub n2_m4: &'a [u8],
    pub p2_p4: &'a [u8],
    pub n2_p4: &'a [u8],
}

/// How a line is interpolated, by where it is and which field it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The first field of the stream and the last field at its end: spatial only.
    Intra,
    /// Within four lines of the top or bottom: the mean of `c` and `e`, clamped; the
    /// spatial difference is included when lines ±2 exist.
    Edge { spatial: bool },
    /// Everywhere else: the full filter.
    Full,
}

/// Interpolates one line into `dst` (`dst.len()` samples).
pub(crate) fn line(dst: &mut [u8], l: &Lines<'_>, kind: Kind) {
    match kind {
        Kind::Intra => {
            for (x, out) in dst.iter_mut().enumerate() {
                let at = |s: &[u8]| s[x] as i32;
                let v = (SP[0] * (at(l.c) + at(l.e)) - SP[1] * (at(l.c3) + at(l.e3))) >> 13;
                *out = v.clamp(0, 255) as u8;
            }
        }
        Kind::Edge { spatial } => {
            for (x, out) in dst.iter_mut().enumerate() {
                *out = motion_pixel(l, x, spatial, false);
            }
        }
        Kind::Full => full(dst, l),
    }
}

/// [`Kind::Full`] written so that LLVM vectorises it: every input is a slice of exactly
/// `dst.len()` samples (no bounds checks remain) and every decision is a select. The
/// filters need 32 bits; the clamps stay in 16.
fn full<'a>(dst: &mut [u8], l: &Lines<'a>) {
    let n = dst.len();
    let s = |s: &'a [u8]| -> &'a [u8] { &s[..n] };
    let (c, e, c3, e3) = (s(l.c), s(l.e), s(l.c3), s(l.e3));
    let (pc, pe, nc, ne) = (s(l.prev_c), s(l.prev_e), s(l.next_c), s(l.next_e));
    let (p2, n2, p2m2, n2m2, p2p2, n2p2) = (s(l.p2), s(l.n2), s(l.p2_m2), s(l.n2_m2), s(l.p2_p2), s(l.n2_p2));
    let (p2m4, n2m4, p2p4, n2p4) = (s(l.p2_m4), s(l.n2_m4), s(l.p2_p4), s(l.n2_p4));
    for i in 0..n {
        let v = |s: &[u8]| s[i] as i16;
        let (cv, ev, p2v, n2v) = (v(c), v(e), v(p2), v(n2));
        let d = (p2v + n2v) >> 1;
        let t0 = (p2v - n2v).abs();
        let t1 = ((v(pc) - cv).abs() + (v(pe) - ev).abs()) >> 1;
        let t2 = ((v(nc) - cv).abs() + (v(ne) - ev).abs()) >> 1;
        let diff = (t0 >> 1).max(t1).max(t2);
        let (m2, p2s) = (v(p2m2) + v(n2m2), v(p2p2) + v(n2p2));
        let b = (m2 >> 1) - cv;
        let f = (p2s >> 1) - ev;
        let (dc, de) = (d - cv, d - ev);
        let max = de.max(dc).max(b.min(f));
        let min = de.min(dc).min(b.max(f));
        let clamp = diff.max(min).max(-max);

        let w = |x: i16| x as i32;
        let ce = w(cv + ev);
        let ce3 = w(v(c3) + v(e3));
        let hf = (HF[0] * w(p2v + n2v) - HF[1] * (w(m2) + w(p2s)) + HF[2] * (w(v(p2m4) + v(n2m4)) + w(v(p2p4) + v(n2p4)))) >> 2;
        let with_hf = (hf + LF[0] * ce - LF[1] * ce3) >> 13;
        let spatial = (SP[0] * ce - SP[1] * ce3) >> 13;
        let interpol = if (cv - ev).abs() > t0 { with_hf } else { spatial };
        let (lo, hi) = (w(d - clamp), w(d + clamp));
        let clamped = interpol.min(hi).max(lo).clamp(0, 255) as u8;
        dst[i] = if diff == 0 { d as u8 } else { clamped };
    }
}

#[inline(always)]
/// One sample of a line with motion: `spatial` includes the lines ±2 in the clamp, `full`
/// uses the w3fdif filters instead of the mean of `c` and `e`.
fn motion_pixel(l: &Lines<'_>, x: usize, spatial: bool, full: bool) -> u8 {
    let at = |s: &[u8]| s[x] as i32;
    let c = at(l.c);
    let e = at(l.e);
    let p2 = at(l.p2);
    let n2 = at(l.n2);
    let d = (p2 + n2) >> 1;
    let temporal0 = (p2 - n2).abs();
    let temporal1 = ((at(l.prev_c) - c).abs() + (at(l.prev_e) - e).abs()) >> 1;
    let temporal2 = ((at(l.next_c) - c).abs() + (at(l.next_e) - e).abs()) >> 1;
    let mut diff = (temporal0 >> 1).max(temporal1).max(temporal2);
    if diff == 0 {
        return d as u8;
    }
    if spatial {
        let b = ((at(l.p2_m2) + at(l.n2_m2)) >> 1) - c;
        let f = ((at(l.p2_p2) + at(l.n2_p2)) >> 1) - e;
        let (dc, de) = (d - c, d - e);
        let max = de.max(dc).max(b.min(f));
        let min = de.min(dc).min(b.max(f));
        diff = diff.max(min).max(-max);
    }
    let mut v = if !full {
        (c + e) >> 1
    } else if (c - e).abs() > temporal0 {
        let hf = (HF[0] * (p2 + n2) - HF[1] * (at(l.p2_m2) + at(l.n2_m2) + at(l.p2_p2) + at(l.n2_p2))
            + HF[2] * (at(l.p2_m4) + at(l.n2_m4) + at(l.p2_p4) + at(l.n2_p4)))
            >> 2;
        (hf + LF[0] * (c + e) - LF[1] * (at(l.c3) + at(l.e3))) >> 13
    } else {
        (SP[0] * (c + e) - SP[1] * (at(l.c3) + at(l.e3))) >> 13
    };
    if v > d + diff {
        v = d + diff;
    } else if v < d - diff {
        v = d - diff;
    }
    v.clamp(0, 255) as u8
}
