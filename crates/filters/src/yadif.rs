//! yadif's line interpolation ("yet another deinterlacing filter", Michael Niedermayer):
//! a spatial edge-directed guess clamped by how much the picture moves in time.
//!
//! For a missing line, `d` is the temporal guess (the mean of the same line in the
//! fields before and after), the spatial guess averages the lines above and below along
//! the best of five directions, and the output is the spatial guess clamped to `d ± diff`
//! where `diff` measures temporal change. The optional "spatial interlacing check" widens
//! `diff` with the lines two above and below.

/// The lines one interpolated output line reads, resolved for the picture's edges.
///
/// `c` and `e` are the current frame's lines above and below (both the same line at the
/// top and bottom edges); `prev_*` and `next_*` the same lines of the neighbouring
/// frames; `p2`/`n2` the output line in the fields before and after the missing one
/// (`prev2`/`next2`), and `p2_c2` .. `n2_e2` those two fields two lines further away
/// from `c` and `e` (read only with the spatial check).
pub(crate) struct Lines<'a> {
    pub c: &'a [u8],
    pub e: &'a [u8],
    pub prev_c: &'a [u8],
    pub prev_e: &'a [u8],
    pub next_c: &'a [u8],
    pub next_e: &'a [u8],
    pub p2: &'a [u8],
    pub n2: &'a [u8],
    pub p2_c2: &'a [u8],
    pub n2_c2: &'a [u8],
    pub p2_e2: &'a [u8],
    pub n2_e2: &'a [u8],
}

/// Columns at each side that skip the directional search: it looks three samples
/// left and right.
const EDGE: usize = 3;

/// Interpolates one line into `dst` (`dst.len()` samples).
pub(crate) fn line(dst: &mut [u8], l: &Lines<'_>, spatial_check: bool) {
    let w = dst.len();
    if w <= 2 * EDGE {
        for (x, out) in dst.iter_mut().enumerate() {
            *out = pixel(l, x, false, spatial_check);
        }
        return;
    }
    for x in (0..EDGE).chain(w - EDGE..w) {
        dst[x] = pixel(l, x, false, spatial_check);
    }
    if spatial_check {
        inner::<true>(&mut dst[EDGE..w - EDGE], l);
    } else {
        inner::<false>(&mut dst[EDGE..w - EDGE], l);
    }
}

/// The columns away from the edges, written so that LLVM vectorises them: every input is
/// a slice of exactly `out.len()` samples (so no bounds checks remain), the arithmetic
/// is 16-bit (all intermediate values lie in -510..=765) and every decision is a select.
fn inner<'a, const SPATIAL: bool>(out: &mut [u8], l: &Lines<'a>) {
    let n = out.len();
    // Column x of `out` is column x + EDGE of the picture; `s(k)` is the run of a line
    // shifted by k - EDGE, so `s(EDGE)` is aligned with `out`.
    let (c, e) = (l.c, l.e);
    let (cm3, cm2, cm1, c0, cp1, cp2, cp3) = (&c[..n], &c[1..n + 1], &c[2..n + 2], &c[3..n + 3], &c[4..n + 4], &c[5..n + 5], &c[6..n + 6]);
    let (em3, em2, em1, e0, ep1, ep2, ep3) = (&e[..n], &e[1..n + 1], &e[2..n + 2], &e[3..n + 3], &e[4..n + 4], &e[5..n + 5], &e[6..n + 6]);
    let mid = |s: &'a [u8]| -> &'a [u8] { &s[EDGE..EDGE + n] };
    let (pc, pe, nc, ne) = (mid(l.prev_c), mid(l.prev_e), mid(l.next_c), mid(l.next_e));
    let (p2, n2) = (mid(l.p2), mid(l.n2));
    let (p2c2, n2c2, p2e2, n2e2) = if SPATIAL { (mid(l.p2_c2), mid(l.n2_c2), mid(l.p2_e2), mid(l.n2_e2)) } else { (p2, n2, p2, n2) };
    for i in 0..n {
        let v = |s: &[u8]| s[i] as i16;
        let (c, e) = (v(c0), v(e0));
        let (p2v, n2v) = (v(p2), v(n2));
        let d = (p2v + n2v) >> 1;
        let t0 = (p2v - n2v).abs();
        let t1 = ((v(pc) - c).abs() + (v(pe) - e).abs()) >> 1;
        let t2 = ((v(nc) - c).abs() + (v(ne) - e).abs()) >> 1;
        let mut diff = (t0 >> 1).max(t1).max(t2);

        let base = (v(cm1) - v(em1)).abs() + (c - e).abs() + (v(cp1) - v(ep1)).abs() - 1;
        let s_m1 = (v(cm2) - v(e0)).abs() + (v(cm1) - v(ep1)).abs() + (c - v(ep2)).abs();
        let s_m2 = (v(cm3) - v(ep1)).abs() + (v(cm2) - v(ep2)).abs() + (v(cm1) - v(ep3)).abs();
        let s_p1 = (c - v(em2)).abs() + (v(cp1) - v(em1)).abs() + (v(cp2) - e).abs();
        let s_p2 = (v(cp1) - v(em3)).abs() + (v(cp2) - v(em2)).abs() + (v(cp3) - v(em1)).abs();
        let (g0, g_m1, g_m2) = ((c + e) >> 1, (v(cm1) + v(ep1)) >> 1, (v(cm2) + v(ep2)) >> 1);
        let (g_p1, g_p2) = ((v(cp1) + v(em1)) >> 1, (v(cp2) + v(em2)) >> 1);
        // The same nested decisions as `pixel`, as selects.
        let take_m1 = s_m1 < base;
        let (best, pred) = if take_m1 { (s_m1, g_m1) } else { (base, g0) };
        let take_m2 = take_m1 & (s_m2 < best);
        let (best, pred) = if take_m2 { (s_m2, g_m2) } else { (best, pred) };
        let take_p1 = s_p1 < best;
        let (best, pred) = if take_p1 { (s_p1, g_p1) } else { (best, pred) };
        let take_p2 = take_p1 & (s_p2 < best);
        let mut pred = if take_p2 { g_p2 } else { pred };

        if SPATIAL {
            let b = (v(p2c2) + v(n2c2)) >> 1;
            let f = (v(p2e2) + v(n2e2)) >> 1;
            let max = (d - e).max(d - c).max((b - c).min(f - e));
            let min = (d - e).min(d - c).min((b - c).max(f - e));
            diff = diff.max(min).max(-max);
        }
        // `diff` is never negative, so this is the clamp of `pixel`.
        pred = pred.min(d + diff).max(d - diff);
        out[i] = pred as u8;
    }
}

#[inline(always)]
fn pixel(l: &Lines<'_>, x: usize, directional: bool, spatial_check: bool) -> u8 {
    let at = |s: &[u8], i: usize| s[i] as i32;
    let c = at(l.c, x);
    let e = at(l.e, x);
    let p2 = at(l.p2, x);
    let n2 = at(l.n2, x);
    let d = (p2 + n2) >> 1;
    let temporal0 = (p2 - n2).abs();
    let temporal1 = ((at(l.prev_c, x) - c).abs() + (at(l.prev_e, x) - e).abs()) >> 1;
    let temporal2 = ((at(l.next_c, x) - c).abs() + (at(l.next_e, x) - e).abs()) >> 1;
    // Unlike bwdif, a `diff` of 0 does not settle the sample: the spatial check below
    // may still widen it.
    let mut diff = (temporal0 >> 1).max(temporal1).max(temporal2);
    let mut pred = (c + e) >> 1;
    if directional {
        let (cl, el) = (l.c, l.e);
        // Direction j pairs the line above shifted by +j with the line below shifted by
        // -j; its score sums three absolute differences around the pair.
        let score = |j: isize| {
            let (xc, xe) = ((x as isize + j) as usize, (x as isize - j) as usize);
            (at(cl, xc - 1) - at(el, xe - 1)).abs() + (at(cl, xc) - at(el, xe)).abs() + (at(cl, xc + 1) - at(el, xe + 1)).abs()
        };
        let guess = |j: isize| (at(cl, (x as isize + j) as usize) + at(el, (x as isize - j) as usize)) >> 1;
        let mut best = score(0) - 1;
        // Each side tries the steeper direction only when the shallower one won.
        for side in [-1isize, 1] {
            let s = score(side);
            if s < best {
                best = s;
                pred = guess(side);
                let s = score(2 * side);
                if s < best {
                    best = s;
                    pred = guess(2 * side);
                }
            }
        }
    }
    if spatial_check {
        let b = (at(l.p2_c2, x) + at(l.n2_c2, x)) >> 1;
        let f = (at(l.p2_e2, x) + at(l.n2_e2, x)) >> 1;
        let max = (d - e).max(d - c).max((b - c).min(f - e));
        let min = (d - e).min(d - c).min((b - c).max(f - e));
        diff = diff.max(min).max(-max);
    }
    if pred > d + diff {
        pred = d + diff;
    } else if pred < d - diff {
        pred = d - diff;
    }
    pred as u8
}
