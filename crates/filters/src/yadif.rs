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
    for (x, out) in dst.iter_mut().enumerate() {
        let directional = x >= EDGE && x + EDGE < w;
        *out = pixel(l, x, directional, spatial_check);
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
