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
    pic: &mut Picture,
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
                    filter_edge(
                        &mut pic.planes[0],
                        stride,
                        x0,
                        y0,
                        dir,
                        16,
                        &bs,
                        qav,
                        sp.alpha,
                        sp.beta,
                        true,
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
                            filter_edge(
                                &mut pic.planes[1 + c],
                                stride,
                                x0,
                                y0,
                                dir,
                                8,
                                &bs,
                                qav,
                                sp.alpha,
                                sp.beta,
                                false,
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

/// Filters one edge of `len` samples starting at `(x0, y0)`.
#[allow(clippy::too_many_arguments)]
fn filter_edge(
    plane: &mut [u8],
    stride: usize,
    x0: usize,
    y0: usize,
    dir: usize,
    len: usize,
    bs: &[u8; 4],
    qav: i32,
    alpha_off: i32,
    beta_off: i32,
    luma: bool,
) {
    let index_a = (qav + alpha_off).clamp(0, 51) as usize;
    let index_b = (qav + beta_off).clamp(0, 51) as usize;
    let alpha = ALPHA[index_a] as i32;
    let beta = BETA[index_b] as i32;
    if alpha == 0 || beta == 0 {
        return;
    }
    // Step between samples across the edge, and along it.
    let (across, along) = if dir == 0 {
        (1usize, stride)
    } else {
        (stride, 1usize)
    };
    let per_seg = len / 4;
    let base = y0 * stride + x0;
    for (seg, &b) in bs.iter().enumerate() {
        if b == 0 {
            continue;
        }
        let tc0 = if b < 4 {
            TC0[index_a][b as usize - 1] as i32
        } else {
            0
        };
        for k in seg * per_seg..(seg + 1) * per_seg {
            let q0i = base + k * along;
            let p0 = plane[q0i - across] as i32;
            let q0 = plane[q0i] as i32;
            let p1 = plane[q0i - 2 * across] as i32;
            let q1 = plane[q0i + across] as i32;
            if (p0 - q0).abs() >= alpha || (p1 - p0).abs() >= beta || (q1 - q0).abs() >= beta {
                continue;
            }
            if luma {
                let p2 = plane[q0i - 3 * across] as i32;
                let q2 = plane[q0i + 2 * across] as i32;
                let ap = (p2 - p0).abs() < beta;
                let aq = (q2 - q0).abs() < beta;
                if b < 4 {
                    let tc = tc0 + ap as i32 + aq as i32;
                    let delta = ((((q0 - p0) << 2) + (p1 - q1) + 4) >> 3).clamp(-tc, tc);
                    plane[q0i - across] = (p0 + delta).clamp(0, 255) as u8;
                    plane[q0i] = (q0 - delta).clamp(0, 255) as u8;
                    if ap {
                        plane[q0i - 2 * across] = (p1
                            + ((p2 + ((p0 + q0 + 1) >> 1) - (p1 << 1)) >> 1).clamp(-tc0, tc0))
                            as u8;
                    }
                    if aq {
                        plane[q0i + across] = (q1
                            + ((q2 + ((p0 + q0 + 1) >> 1) - (q1 << 1)) >> 1).clamp(-tc0, tc0))
                            as u8;
                    }
                } else {
                    let strong = (p0 - q0).abs() < ((alpha >> 2) + 2);
                    if ap && strong {
                        let p3 = plane[q0i - 4 * across] as i32;
                        plane[q0i - across] = ((p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1 + 4) >> 3) as u8;
                        plane[q0i - 2 * across] = ((p2 + p1 + p0 + q0 + 2) >> 2) as u8;
                        plane[q0i - 3 * across] = ((2 * p3 + 3 * p2 + p1 + p0 + q0 + 4) >> 3) as u8;
                    } else {
                        plane[q0i - across] = ((2 * p1 + p0 + q1 + 2) >> 2) as u8;
                    }
                    if aq && strong {
                        let q3 = plane[q0i + 3 * across] as i32;
                        plane[q0i] = ((p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2 + 4) >> 3) as u8;
                        plane[q0i + across] = ((p0 + q0 + q1 + q2 + 2) >> 2) as u8;
                        plane[q0i + 2 * across] = ((2 * q3 + 3 * q2 + q1 + q0 + p0 + 4) >> 3) as u8;
                    } else {
                        plane[q0i] = ((2 * q1 + q0 + p1 + 2) >> 2) as u8;
                    }
                }
            } else if b < 4 {
                let tc = tc0 + 1;
                let delta = ((((q0 - p0) << 2) + (p1 - q1) + 4) >> 3).clamp(-tc, tc);
                plane[q0i - across] = (p0 + delta).clamp(0, 255) as u8;
                plane[q0i] = (q0 - delta).clamp(0, 255) as u8;
            } else {
                plane[q0i - across] = ((2 * p1 + p0 + q1 + 2) >> 2) as u8;
                plane[q0i] = ((2 * q1 + q0 + p1 + 2) >> 2) as u8;
            }
        }
    }
}
