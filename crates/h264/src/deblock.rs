//! The deblocking filter (clause 8.7), run over a whole picture once all its slices
//! are decoded: boundary strengths from macroblock types, coefficients and motion,
//! then the normal (bS < 4) and strong (bS = 4) filters on luma and chroma edges.

use crate::mb::{MbKind, MbState};
use crate::params::Pps;
use crate::picture::Picture;
use crate::tables::{ALPHA, BETA, CHROMA_QP, TC0};

#[inline]
fn mv_diff(a: [i16; 2], b: [i16; 2]) -> bool {
    (a[0] as i32 - b[0] as i32).abs() >= 4 || (a[1] as i32 - b[1] as i32).abs() >= 4
}

/// Motion and coefficient data of the 4x4 blocks around one macroblock: its 16 blocks
/// plus the column to the left and the row above, at `(x + 1, y + 1)`.
#[derive(Clone, Copy, Default)]
struct Blk {
    nz: bool,
    uid: [i32; 2],
    mv: [[i16; 2]; 2],
}

/// Filters the whole picture in macroblock order.
pub fn deblock_picture(
    pic: &Picture,
    planes: &mut [&mut [u8]; 3],
    st: &MbState,
    _pps: &[Option<Pps>],
    mb_w: usize,
    mb_h: usize,
) {
    let w4 = mb_w * 4;
    let mut grid = [[Blk::default(); 5]; 5];
    for my in 0..mb_h {
        for mx in 0..mb_w {
            let addr = my * mb_w + mx;
            let q = st.mbs[addr];
            if q.slice == 0 {
                continue;
            }
            let sp = st.slices.get(q.slice as usize).copied().unwrap_or_default();
            if sp.disable == 1 {
                continue;
            }
            let nb = |pmx: isize, pmy: isize| -> Option<crate::mb::MbInfo> {
                if pmx < 0 || pmy < 0 {
                    return None;
                }
                let p = st.mbs[pmy as usize * mb_w + pmx as usize];
                if p.slice == 0 || (sp.disable == 2 && p.slice != q.slice) {
                    None
                } else {
                    Some(p)
                }
            };
            let left = nb(mx as isize - 1, my as isize);
            let top = nb(mx as isize, my as isize - 1);
            // Gather the blocks once; intra macroblocks need no motion data.
            let need_motion = !q.kind.is_intra();
            let load = |x4: usize, y4: usize, t8: bool| -> Blk {
                let i = y4 * w4 + x4;
                Blk {
                    nz: coded(st, t8, i, w4),
                    uid: [pic.ref_uid[0][i], pic.ref_uid[1][i]],
                    mv: [pic.mv[0][i], pic.mv[1][i]],
                }
            };
            // Without luma coefficients and with one motion for the whole macroblock,
            // internal edges have bS 0: only the macroblock edges need data.
            let simple = q.uniform && q.cbp & 15 == 0;
            if need_motion {
                for y in 0..4 {
                    for x in 0..4 {
                        if !simple || x == 0 || y == 0 {
                            grid[y + 1][x + 1] = load(mx * 4 + x, my * 4 + y, q.t8x8);
                        }
                    }
                }
                if let Some(l) = left {
                    if !l.kind.is_intra() {
                        for y in 0..4 {
                            grid[y + 1][0] = load(mx * 4 - 1, my * 4 + y, l.t8x8);
                        }
                    }
                }
                if let Some(t) = top {
                    if !t.kind.is_intra() {
                        for x in 0..4 {
                            grid[0][x + 1] = load(mx * 4 + x, my * 4 - 1, t.t8x8);
                        }
                    }
                }
            }
            for dir in 0..2 {
                // dir 0: vertical edges (left neighbour), dir 1: horizontal edges.
                let pnb = if dir == 0 { left } else { top };
                for edge in 0..4 {
                    let mb_edge = edge == 0;
                    if (mb_edge && pnb.is_none()) || (!mb_edge && simple && need_motion) {
                        continue;
                    }
                    // With the 8x8 transform only edges 0 and 2 exist, for luma and chroma.
                    if q.t8x8 && edge % 2 == 1 {
                        continue;
                    }
                    let pmb = if mb_edge { pnb.unwrap_or(q) } else { q };
                    let mut bs = [0u8; 4];
                    if pmb.kind.is_intra() || q.kind.is_intra() {
                        bs = if mb_edge { [4; 4] } else { [3; 4] };
                    } else {
                        for (k, b) in bs.iter_mut().enumerate() {
                            let (qb, pb) = if dir == 0 {
                                (&grid[k + 1][edge + 1], &grid[k + 1][edge])
                            } else {
                                (&grid[edge + 1][k + 1], &grid[edge][k + 1])
                            };
                            *b = if pb.nz || qb.nz { 2 } else { motion_bs(pb, qb) };
                        }
                    }
                    if bs == [0; 4] {
                        continue;
                    }
                    let qp_p = if pmb.kind == MbKind::IPcm {
                        0
                    } else {
                        pmb.qp as i32
                    };
                    let qp_q = if q.kind == MbKind::IPcm {
                        0
                    } else {
                        q.qp as i32
                    };
                    let qav = (qp_p + qp_q + 1) >> 1;
                    let stride = pic.strides[0];
                    let (x0, y0) = (
                        mx * 16 + if dir == 0 { edge * 4 } else { 0 },
                        my * 16 + if dir == 1 { edge * 4 } else { 0 },
                    );
                    filter_edge::<true>(
                        &mut *planes[0],
                        stride,
                        x0,
                        y0,
                        dir,
                        &bs,
                        qav,
                        sp.alpha,
                        sp.beta,
                    );
                    // Chroma: luma edges 0 and 2 map onto chroma sample edges 0 and 4.
                    if edge % 2 == 0 {
                        for c in 0..2 {
                            let qpc = |qp: i32| {
                                CHROMA_QP[(qp + sp.chroma_qp_offset[c]).clamp(0, 51) as usize]
                                    as i32
                            };
                            let qav = (qpc(qp_p) + qpc(qp_q) + 1) >> 1;
                            let stride = pic.strides[1 + c];
                            let ce = edge / 2 * 4;
                            let (x0, y0) = (
                                mx * 8 + if dir == 0 { ce } else { 0 },
                                my * 8 + if dir == 1 { ce } else { 0 },
                            );
                            filter_edge::<false>(
                                &mut *planes[1 + c],
                                stride,
                                x0,
                                y0,
                                dir,
                                &bs,
                                qav,
                                sp.alpha,
                                sp.beta,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Whether the transform block containing 4x4 block `i` has non-zero coefficients.
fn coded(st: &MbState, t8: bool, i: usize, w4: usize) -> bool {
    if t8 {
        let (x, y) = ((i % w4) & !1, (i / w4) & !1);
        let b = y * w4 + x;
        st.nnz[b] != 0 || st.nnz[b + 1] != 0 || st.nnz[b + w4] != 0 || st.nnz[b + w4 + 1] != 0
    } else {
        st.nnz[i] != 0
    }
}

/// bS 1 or 0 from references and motion vectors (8.7.2.1, frame macroblocks).
#[inline]
fn motion_bs(p: &Blk, q: &Blk) -> u8 {
    let ([p0, p1], [q0, q1]) = (p.uid, q.uid);
    let ([pm0, pm1], [qm0, qm1]) = (p.mv, q.mv);
    let r = if p0 == q0 && p1 == q1 {
        if p0 != p1 {
            mv_diff(pm0, qm0) || mv_diff(pm1, qm1)
        } else {
            (mv_diff(pm0, qm0) || mv_diff(pm1, qm1)) && (mv_diff(pm0, qm1) || mv_diff(pm1, qm0))
        }
    } else if p0 == q1 && p1 == q0 {
        mv_diff(pm0, qm1) || mv_diff(pm1, qm0)
    } else {
        true
    };
    r as u8
}

/// Filters one edge starting at `(x0, y0)`: 16 luma or 8 chroma samples long.
///
/// The samples across the edge (`p3 p2 p1 p0 | q0 q1 q2 q3`) of every line are
/// gathered into eight lane arrays (rows of the picture for horizontal edges, a
/// transposition for vertical ones), filtered by one branch-free lane loop that the
/// compiler vectorises, and the changed ones written back.
#[allow(clippy::too_many_arguments)]
fn filter_edge<const LUMA: bool>(
    plane: &mut [u8],
    stride: usize,
    x0: usize,
    y0: usize,
    dir: usize,
    bs: &[u8; 4],
    qav: i32,
    alpha_off: i32,
    beta_off: i32,
) {
    let luma = LUMA;
    let len = if LUMA { 16 } else { 8 };
    let index_a = (qav + alpha_off).clamp(0, 51) as usize;
    let index_b = (qav + beta_off).clamp(0, 51) as usize;
    let alpha = ALPHA[index_a] as i16;
    let beta = BETA[index_b] as i16;
    if alpha == 0 || beta == 0 {
        return;
    }
    // Per lane: tC0, or -1 where bS is 0 (no filtering).
    let per_seg = len / 4;
    let mut tc0 = [-1i16; LANES];
    for (seg, &b) in bs.iter().enumerate() {
        if b == 0 {
            continue;
        }
        let t = if b < 4 {
            TC0[index_a][b as usize - 1] as i16
        } else {
            0
        };
        tc0[seg * per_seg..(seg + 1) * per_seg].fill(t);
    }
    let strong = bs[0] == 4;
    let base = y0 * stride + x0;
    let reach = if luma { 4 } else { 2 };
    if dir == 0 {
        // Vertical edges: each line is 8 (4) consecutive bytes of one row, filtered in
        // place; a transposition into lanes would cost more than it saves.
        for k in 0..len {
            let t0 = tc0[k];
            if t0 < 0 {
                continue;
            }
            let i = base + k * stride;
            let Some(lo) = i.checked_sub(reach) else {
                return;
            };
            let Some(w) = plane.get_mut(lo..i + reach) else {
                return;
            };
            if luma {
                let w: &mut [u8; 8] = w.try_into().unwrap_or_else(|_| unreachable!());
                line_luma(w, strong, t0, alpha, beta);
            } else {
                let w: &mut [u8; 4] = w.try_into().unwrap_or_else(|_| unreachable!());
                line_chroma(w, strong, t0, alpha, beta);
            }
        }
    } else {
        let mut px = [[0u8; LANES]; 8];
        let Some(lo) = base.checked_sub(reach * stride) else {
            return;
        };
        for r in 0..2 * reach {
            let at = lo + r * stride;
            let Some(row) = plane.get(at..at + len) else {
                return;
            };
            px[4 - reach + r][..len].copy_from_slice(row);
        }
        filter_lanes(&mut px, &tc0, strong, alpha, beta, luma);
        for r in 1..2 * reach - 1 {
            let at = lo + r * stride;
            if let Some(row) = plane.get_mut(at..at + len) {
                row.copy_from_slice(&px[4 - reach + r][..len]);
            }
        }
    }
}

/// Lines filtered at once: a luma macroblock edge.
const LANES: usize = 16;

/// The edge filters of 8.7.2.3 (bS < 4) and 8.7.2.4 (bS = 4) on every lane, without
/// branches: each output is computed and selected by the lane's conditions. Rows of
/// `px` are `p3 p2 p1 p0 q0 q1 q2 q3`; chroma uses only `p1 p0 q0 q1`.
fn filter_lanes(
    px: &mut [[u8; LANES]; 8],
    tc0: &[i16; LANES],
    strong: bool,
    alpha: i16,
    beta: i16,
    luma: bool,
) {
    // One straight-line loop per case, so each vectorises.
    match (luma, strong) {
        (true, false) => lanes::<true, false>(px, tc0, alpha, beta),
        (true, true) => lanes::<true, true>(px, tc0, alpha, beta),
        (false, false) => lanes::<false, false>(px, tc0, alpha, beta),
        (false, true) => lanes::<false, true>(px, tc0, alpha, beta),
    }
}

#[inline(always)]
fn lanes<const LUMA: bool, const STRONG: bool>(
    px: &mut [[u8; LANES]; 8],
    tc0: &[i16; LANES],
    alpha: i16,
    beta: i16,
) {
    let (luma, strong) = (LUMA, STRONG);
    let [r0, r1, r2, r3, r4, r5, r6, r7] = px;
    for k in 0..LANES {
        let (p3, p2, p1, p0) = (r0[k] as i16, r1[k] as i16, r2[k] as i16, r3[k] as i16);
        let (q0, q1, q2, q3) = (r4[k] as i16, r5[k] as i16, r6[k] as i16, r7[k] as i16);
        let t0 = tc0[k];
        let on =
            t0 >= 0 && (p0 - q0).abs() < alpha && (p1 - p0).abs() < beta && (q1 - q0).abs() < beta;
        let ap = luma && (p2 - p0).abs() < beta;
        let aq = luma && (q2 - q0).abs() < beta;
        let (np2, np1, np0, nq0, nq1, nq2);
        if !strong {
            let tc = t0 + if luma { ap as i16 + aq as i16 } else { 1 };
            // max/min rather than clamp: lanes that are off carry tC0 = -1.
            let delta = ((((q0 - p0) << 2) + (p1 - q1) + 4) >> 3).max(-tc).min(tc);
            np0 = (p0 + delta).clamp(0, 255);
            nq0 = (q0 - delta).clamp(0, 255);
            let avg = (p0 + q0 + 1) >> 1;
            np1 = if ap {
                p1 + ((p2 + avg - (p1 << 1)) >> 1).max(-t0).min(t0)
            } else {
                p1
            };
            nq1 = if aq {
                q1 + ((q2 + avg - (q1 << 1)) >> 1).max(-t0).min(t0)
            } else {
                q1
            };
            np2 = p2;
            nq2 = q2;
        } else {
            let strong_px = (p0 - q0).abs() < ((alpha >> 2) + 2);
            let sp = ap && strong_px;
            let sq = aq && strong_px;
            np0 = if sp {
                (p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1 + 4) >> 3
            } else {
                (2 * p1 + p0 + q1 + 2) >> 2
            };
            np1 = if sp { (p2 + p1 + p0 + q0 + 2) >> 2 } else { p1 };
            np2 = if sp {
                (2 * p3 + 3 * p2 + p1 + p0 + q0 + 4) >> 3
            } else {
                p2
            };
            nq0 = if sq {
                (p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2 + 4) >> 3
            } else {
                (2 * q1 + q0 + p1 + 2) >> 2
            };
            nq1 = if sq { (p0 + q0 + q1 + q2 + 2) >> 2 } else { q1 };
            nq2 = if sq {
                (2 * q3 + 3 * q2 + q1 + q0 + p0 + 4) >> 3
            } else {
                q2
            };
        }
        // Unconditional stores of selected values keep the loop vectorisable.
        let sel = |new: i16, old: i16| if on { new } else { old } as u8;
        r1[k] = sel(np2, p2);
        r2[k] = sel(np1, p1);
        r3[k] = sel(np0, p0);
        r4[k] = sel(nq0, q0);
        r5[k] = sel(nq1, q1);
        r6[k] = sel(nq2, q2);
    }
}

/// Filters one line `p3 p2 p1 p0 q0 q1 q2 q3` of luma samples across an edge.
#[inline(always)]
fn line_luma(px: &mut [u8; 8], strong: bool, t0: i16, alpha: i16, beta: i16) {
    let (p3, p2, p1, p0) = (px[0] as i16, px[1] as i16, px[2] as i16, px[3] as i16);
    let (q0, q1, q2, q3) = (px[4] as i16, px[5] as i16, px[6] as i16, px[7] as i16);
    if (p0 - q0).abs() >= alpha || (p1 - p0).abs() >= beta || (q1 - q0).abs() >= beta {
        return;
    }
    let ap = (p2 - p0).abs() < beta;
    let aq = (q2 - q0).abs() < beta;
    if !strong {
        let tc = t0 + ap as i16 + aq as i16;
        let delta = ((((q0 - p0) << 2) + (p1 - q1) + 4) >> 3).clamp(-tc, tc);
        px[3] = (p0 + delta).clamp(0, 255) as u8;
        px[4] = (q0 - delta).clamp(0, 255) as u8;
        let avg = (p0 + q0 + 1) >> 1;
        if ap {
            px[2] = (p1 + ((p2 + avg - (p1 << 1)) >> 1).clamp(-t0, t0)) as u8;
        }
        if aq {
            px[5] = (q1 + ((q2 + avg - (q1 << 1)) >> 1).clamp(-t0, t0)) as u8;
        }
    } else {
        let strong_px = (p0 - q0).abs() < ((alpha >> 2) + 2);
        if ap && strong_px {
            px[3] = ((p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1 + 4) >> 3) as u8;
            px[2] = ((p2 + p1 + p0 + q0 + 2) >> 2) as u8;
            px[1] = ((2 * p3 + 3 * p2 + p1 + p0 + q0 + 4) >> 3) as u8;
        } else {
            px[3] = ((2 * p1 + p0 + q1 + 2) >> 2) as u8;
        }
        if aq && strong_px {
            px[4] = ((p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2 + 4) >> 3) as u8;
            px[5] = ((p0 + q0 + q1 + q2 + 2) >> 2) as u8;
            px[6] = ((2 * q3 + 3 * q2 + q1 + q0 + p0 + 4) >> 3) as u8;
        } else {
            px[4] = ((2 * q1 + q0 + p1 + 2) >> 2) as u8;
        }
    }
}

/// Filters one line `p1 p0 q0 q1` of chroma samples across an edge.
#[inline(always)]
fn line_chroma(px: &mut [u8; 4], strong: bool, t0: i16, alpha: i16, beta: i16) {
    let (p1, p0, q0, q1) = (px[0] as i16, px[1] as i16, px[2] as i16, px[3] as i16);
    if (p0 - q0).abs() >= alpha || (p1 - p0).abs() >= beta || (q1 - q0).abs() >= beta {
        return;
    }
    if !strong {
        let tc = t0 + 1;
        let delta = ((((q0 - p0) << 2) + (p1 - q1) + 4) >> 3).clamp(-tc, tc);
        px[1] = (p0 + delta).clamp(0, 255) as u8;
        px[2] = (q0 - delta).clamp(0, 255) as u8;
    } else {
        px[1] = ((2 * p1 + p0 + q1 + 2) >> 2) as u8;
        px[2] = ((2 * q1 + q0 + p1 + 2) >> 2) as u8;
    }
}
