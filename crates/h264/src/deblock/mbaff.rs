//! Deblocking of MBAFF frames (8.7 with MbaffFrameFlag = 1): each macroblock is
//! filtered in the rows of its own structure (a field macroblock in its field's
//! lines), and the edges between pairs of different structure get the rules of
//! mixed edges.
//!
//! ```text
//!   left edge, frame/field pairs differ   line by line: each line's left samples lie
//!                                          in one macroblock of the left pair (Table
//!                                          6-4), whose QP and blocks give its bS (4
//!                                          intra, 2 coefficients, else 1)
//!   top edge of a frame pair under a       filtered twice in field lines: the top
//!   field pair                             field's rows against the upper pair's top
//!                                          field macroblock, then the bottom field's
//!   top edge of a field macroblock under   in its field's lines against the upper
//!   a frame pair                           pair's bottom macroblock
//!   horizontal edges touching a field      intra gives bS 3, not 4
//!   macroblock
//! ```
//!
//! Edges between macroblocks of the same structure go through the same vectorised
//! kernels as other pictures.

use super::*;
use crate::mbaff::left_nb;

/// The top macroblock edge of an MBAFF macroblock.
#[derive(Clone, Copy)]
enum Top {
    /// Not filtered (picture edge, other slice with idc 2, or none).
    None,
    /// Against a macroblock of the same structure, at this table index.
    Same(usize),
    /// A field macroblock over the bottom macroblock of a frame pair.
    Mixed(usize),
    /// A frame macroblock under a field pair: its top and bottom field
    /// macroblocks, each filtered with the rows of its parity.
    Twice(usize, usize),
}

/// A view of the planes addressing one field (`parity` 0 top, 1 bottom) with doubled
/// strides, or the frame.
fn view<'p>(planes: &'p mut Planes<'_>, field: Option<usize>) -> Planes<'p> {
    let [s0, s1, s2] = planes.strides;
    match field {
        None => Planes {
            y: &mut *planes.y,
            cb: &mut *planes.cb,
            cr: &mut *planes.cr,
            strides: [s0, s1, s2],
        },
        Some(p) => {
            let cut = |v: &'p mut [u8], o: usize| -> &'p mut [u8] {
                let n = o.min(v.len());
                &mut v[n..]
            };
            Planes {
                y: cut(&mut *planes.y, p * s0),
                cb: cut(&mut *planes.cb, p * s1),
                cr: cut(&mut *planes.cr, p * s2),
                strides: [2 * s0, 2 * s1, 2 * s2],
            }
        }
    }
}

/// Filters macroblock `(mx, my)` (table position) of an MBAFF frame.
pub(super) fn deblock_mb(
    planes: &mut Planes<'_>,
    st: &MbState,
    motion: &Motion<'_>,
    tab: &mut ParamTable,
    mb_w: usize,
    mx: usize,
    my: usize,
) {
    let addr = my * mb_w + mx;
    let Some(&q) = st.mbs.get(addr) else {
        return;
    };
    if q.slice == 0 {
        return;
    }
    let sp = st.slices.get(q.slice as usize).copied().unwrap_or_default();
    if sp.disable == 1 {
        return;
    }
    let field_at = |i: usize| st.mb_field.get(i).copied().unwrap_or(false);
    let avail = |i: usize| {
        st.mbs
            .get(i)
            .is_some_and(|p| p.slice != 0 && !(sp.disable == 2 && p.slice != q.slice))
    };
    let qf = field_at(addr);
    let top_mb = my.is_multiple_of(2);
    let py = my / 2;
    let w4 = mb_w * 4;
    let b0 = my * 4 * w4 + mx * 4;
    let blk0 = |i: usize| (i / mb_w) * 4 * w4 + (i % mb_w) * 4;

    // The left pair (both its macroblocks share its slice).
    let left_top = (2 * py * mb_w + mx).wrapping_sub(1);
    let left_ok = mx > 0 && avail(left_top);
    let left_field = left_ok && field_at(left_top);
    let mixed_left = left_ok && left_field != qf;

    let top = if py == 0 && (top_mb || qf) {
        Top::None
    } else if !qf && !top_mb {
        Top::Same(addr - mb_w)
    } else {
        let above_top = (2 * py - 2) * mb_w + mx;
        let above_bottom = above_top + mb_w;
        let af = field_at(above_top);
        match (qf, top_mb, af) {
            (false, _, false) => Top::Same(above_bottom),
            (false, _, true) => Top::Twice(above_top, above_bottom),
            (true, true, true) => Top::Same(above_top),
            (true, _, true) => Top::Same(above_bottom),
            (true, _, false) => Top::Mixed(above_bottom),
        }
    };
    let top = match top {
        Top::Same(p) | Top::Mixed(p) if !avail(p) => Top::None,
        Top::Twice(p, _) if !avail(p) => Top::None,
        t => t,
    };

    let qps_q = Qps::new(&q, &sp);
    tab.update(&sp);
    let tab = &*tab;
    let inner = Thresholds::new(qps_q, qps_q, tab);
    let thr = |p: &MbInfo| Thresholds::new(Qps::new(p, &sp), qps_q, tab);

    // Edges between macroblocks of the same structure: the usual strengths.
    let left_same = (left_ok && !mixed_left).then(|| &st.mbs[addr - 1]);
    let top_same = match top {
        Top::Same(p) => Some(p),
        _ => None,
    };
    let nb = Neighbours {
        q: &q,
        left: left_same,
        top: top_same.map(|p| &st.mbs[p]),
        inner: inner.any(),
        b0,
        left_b0: b0.wrapping_sub(4),
        top_b0: top_same.map(blk0).unwrap_or(0),
        w4,
        field: qf,
    };
    let mut bs = strengths(&nb, &st.nnz, motion);
    let ts = [
        left_same.map(thr).unwrap_or(inner),
        top_same.map(|p| thr(&st.mbs[p])).unwrap_or(inner),
        inner,
    ];
    let own = if qf { Some(my % 2) } else { None };
    let row = if qf { py } else { my };

    if mixed_left {
        mixed_left_edge(planes, st, &q, qps_q, tab, &sp, (mx, my), (qf, left_field));
    }
    filter_dir(&mut view(planes, own), &bs[0], 0, ts, mx, row, st.no_chroma);

    // Top edges with a field macroblock on one side and a frame one on the other.
    let nz_q = nz_mask(&st.nnz, &q, b0, w4);
    let mixed_bs = |p: usize| -> [u8; 4] {
        let pm = &st.mbs[p];
        if q.kind.is_intra() || pm.kind.is_intra() {
            return [3; 4];
        }
        let nz_p = nz_mask(&st.nnz, pm, blk0(p), w4);
        std::array::from_fn(|k| {
            if (nz_p >> (12 + k) | nz_q >> k) & 1 != 0 {
                2
            } else {
                1
            }
        })
    };
    let zero = [0u8; 4];
    match top {
        Top::Mixed(p) => {
            let edge = [mixed_bs(p), zero, zero, zero];
            let t = [inner, thr(&st.mbs[p]), inner];
            filter_dir(&mut view(planes, own), &edge, 1, t, mx, row, st.no_chroma);
        }
        Top::Twice(pt, pb) => {
            for (parity, p) in [(0, pt), (1, pb)] {
                let edge = [mixed_bs(p), zero, zero, zero];
                let t = [inner, thr(&st.mbs[p]), inner];
                filter_dir(
                    &mut view(planes, Some(parity)),
                    &edge,
                    1,
                    t,
                    mx,
                    py,
                    st.no_chroma,
                );
            }
        }
        _ => {}
    }
    if !matches!(top, Top::Same(_)) {
        bs[1][0] = zero;
    }
    filter_dir(&mut view(planes, own), &bs[1], 1, ts, mx, row, st.no_chroma);
}

/// The left edge of a macroblock whose left pair has the other structure, line by
/// line in the macroblock's own rows (luma 16, chroma 8 per plane).
#[allow(clippy::too_many_arguments)]
fn mixed_left_edge(
    planes: &mut Planes<'_>,
    st: &MbState,
    q: &MbInfo,
    qps_q: Qps,
    tab: &ParamTable,
    sp: &SliceDeblock,
    (mx, my): (usize, usize),
    (qf, left_field): (bool, bool),
) {
    let mb_w = st.mb_w;
    let w4 = mb_w * 4;
    let top_mb = my.is_multiple_of(2);
    let py = my / 2;
    let nz_q = nz_mask(&st.nnz, q, my * 4 * w4 + mx * 4, w4);
    // bS of a line from the left macroblock `p` (bottom of the pair or not), the
    // row of 4x4 blocks on the left (`prow`) and on the right (`qrow`).
    let line = |bottom: bool, prow: usize, qrow: usize| -> (u8, Thresholds<'_>) {
        let pa = (2 * py + bottom as usize) * mb_w + mx - 1;
        let p = &st.mbs[pa];
        let t = Thresholds::new(Qps::new(p, sp), qps_q, tab);
        if q.kind.is_intra() || p.kind.is_intra() {
            return (4, t);
        }
        let nz_p = nz_mask(&st.nnz, p, (pa / mb_w) * 4 * w4 + (mx - 1) * 4, w4);
        let coded = (nz_p >> (prow * 4 + 3) | nz_q >> (qrow * 4)) & 1 != 0;
        (if coded { 2 } else { 1 }, t)
    };
    let own = if qf { Some(my % 2) } else { None };
    let v = view(planes, own);
    let row0 = if qf { py } else { my };
    for y in 0..16 {
        let (bottom, ym) = left_nb(qf, top_mb, left_field, y as i32, 16);
        let (b, t) = line(bottom, ym as usize / 4, y / 4);
        let at = (row0 * 16 + y) * v.strides[0] + mx * 16;
        filter_line(v.y, at, b, t.0[0], true);
    }
    if st.no_chroma {
        return;
    }
    for c in 0..8 {
        let (bottom, ym) = left_nb(qf, top_mb, left_field, c as i32, 8);
        let (b, t) = line(bottom, ym as usize / 2, c / 2);
        let at = (row0 * 8 + c) * v.strides[1] + mx * 8;
        filter_line(v.cb, at, b, t.0[1], false);
        let at = (row0 * 8 + c) * v.strides[2] + mx * 8;
        filter_line(v.cr, at, b, t.0[2], false);
    }
}

/// Filters one line across a vertical edge: samples `p3..p0` left of `at`, `q0..q3`
/// from `at` (8.7.2.3 and 8.7.2.4), with strength `bs` and the edge's parameters.
fn filter_line(px: &mut [u8], at: usize, bs: u8, prm: &Params, luma: bool) {
    if bs == 0 || !prm.on || at < 4 || at + 4 > px.len() {
        return;
    }
    let s = |i: usize| px[i] as i32;
    let (p0, p1, p2, p3) = (s(at - 1), s(at - 2), s(at - 3), s(at - 4));
    let (q0, q1, q2, q3) = (s(at), s(at + 1), s(at + 2), s(at + 3));
    let (alpha, beta) = (prm.alpha as i32, prm.beta as i32);
    if (p0 - q0).abs() >= alpha || (p1 - p0).abs() >= beta || (q1 - q0).abs() >= beta {
        return;
    }
    let clip1 = |v: i32| v.clamp(0, 255) as u8;
    let (ap, aq) = ((p2 - p0).abs(), (q2 - q0).abs());
    if bs < 4 {
        let tc0 = prm.tc0[bs as usize] as i32;
        let tc = if luma {
            tc0 + (ap < beta) as i32 + (aq < beta) as i32
        } else {
            tc0 + 1
        };
        let delta = ((((q0 - p0) << 2) + (p1 - q1) + 4) >> 3).clamp(-tc, tc);
        px[at - 1] = clip1(p0 + delta);
        px[at] = clip1(q0 - delta);
        if luma {
            if ap < beta {
                let d = ((p2 + ((p0 + q0 + 1) >> 1) - (p1 << 1)) >> 1).clamp(-tc0, tc0);
                px[at - 2] = (p1 + d) as u8;
            }
            if aq < beta {
                let d = ((q2 + ((p0 + q0 + 1) >> 1) - (q1 << 1)) >> 1).clamp(-tc0, tc0);
                px[at + 1] = (q1 + d) as u8;
            }
        }
        return;
    }
    let small = (p0 - q0).abs() < ((alpha >> 2) + 2);
    if luma && ap < beta && small {
        px[at - 1] = ((p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1 + 4) >> 3) as u8;
        px[at - 2] = ((p2 + p1 + p0 + q0 + 2) >> 2) as u8;
        px[at - 3] = ((2 * p3 + 3 * p2 + p1 + p0 + q0 + 4) >> 3) as u8;
    } else {
        px[at - 1] = ((2 * p1 + p0 + q1 + 2) >> 2) as u8;
    }
    if luma && aq < beta && small {
        px[at] = ((p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2 + 4) >> 3) as u8;
        px[at + 1] = ((p0 + q0 + q1 + q2 + 2) >> 2) as u8;
        px[at + 2] = ((2 * q3 + 3 * q2 + q1 + q0 + p0 + 4) >> 3) as u8;
    } else {
        px[at] = ((2 * q1 + q0 + p1 + 2) >> 2) as u8;
    }
}
