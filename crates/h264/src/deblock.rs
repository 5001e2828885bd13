//! The deblocking filter (clause 8.7), run on rows of macroblocks: boundary strengths
//! from macroblock types, coefficients and motion, then the normal (bS < 4) and
//! strong (bS = 4) filters on luma and chroma edges.
//!
//! ```text
//!   per macroblock:  thresholds (alpha, beta per plane) of the left, top and inner
//!                    edges ── all zero (low QP)? nothing to do
//!                    bS of the edges that can filter ── all zero? skip the edge
//!                    luma: vertical edges, then horizontal; chroma likewise, with
//!                    Cb and Cr side by side
//!   per edge:        gather the samples across the edge into 8 rows of 16 lanes
//!                    (p3 p2 p1 p0 q0 q1 q2 q3), filter every lane with one
//!                    branch-free loop the compiler vectorises, write back
//! ```
//!
//! Vertical edges need a transposition: 16 lines of 8 bytes become 8 rows of 16
//! lanes. It works on 64-bit words (two 8x8 byte transposes of three butterfly stages
//! each) and writes back only the 4 bytes per line the normal filter changes; that
//! costs less than filtering line by line with branches.
//!
//! A row can be filtered as soon as the row below it is decoded
//! ([`deblock_ready_rows`]), while its samples and motion data are still in cache:
//! filtering row `r` changes the bottom three sample rows of row `r - 1` (filtered
//! before) and all of row `r`, whose bottom sample row intra prediction of row `r + 1`
//! reads unfiltered.

use crate::mb::{MbInfo, MbKind, MbState, SliceDeblock};
use crate::picture::Picture;
use crate::tables::{ALPHA, BETA, CHROMA_QP, TC0};

mod mbaff;

/// Lines filtered at once: a luma macroblock edge, or a chroma one of Cb and Cr.
const LANES: usize = 16;

/// Strides above this are not filtered. None occurs: the SPS parser caps the width at
/// 1024 macroblocks (16,384 samples), so this only tells the compiler that `k * stride`
/// cannot overflow, which lets it drop the per-line bounds checks inside a checked
/// region.
const MAX_STRIDE: usize = 1 << 20;

/// Filters the macroblock rows `rows`, in macroblock order.
pub fn deblock_rows(
    pic: &Picture,
    planes: &mut [&mut [u8]; 3],
    st: &MbState,
    mb_w: usize,
    rows: std::ops::Range<usize>,
) {
    // Bounded strides let the compiler prove the line accesses inside each checked
    // region in bounds (no overflow in `k * stride`), so most need no checks.
    if pic.strides.iter().any(|&s| s > MAX_STRIDE) {
        return;
    }
    if pic.mbaff {
        let motion = Motion {
            uid: [&pic.ref_uid[0], &pic.ref_uid[1]],
            mv: [&pic.mv[0], &pic.mv[1]],
        };
        let [y, cb, cr] = planes;
        let mut planes = Planes {
            y,
            cb,
            cr,
            strides: pic.strides,
        };
        let mut tab = ParamTable::new(0, 0);
        // In pair order (top, then bottom macroblock), as MBAFF addresses them.
        let (first, last) = (rows.start / 2, rows.end.div_ceil(2));
        for py in first..last {
            for mx in 0..mb_w {
                for my in [2 * py, 2 * py + 1] {
                    if my < rows.end {
                        mbaff::deblock_mb(&mut planes, st, &motion, &mut tab, mb_w, mx, my);
                    }
                }
            }
        }
        return;
    }
    let [y, cb, cr] = planes;
    let mut planes = Planes {
        y,
        cb,
        cr,
        strides: pic.strides,
    };
    let motion = Motion {
        uid: [&pic.ref_uid[0], &pic.ref_uid[1]],
        mv: [&pic.mv[0], &pic.mv[1]],
    };
    let mut tab = ParamTable::new(0, 0);
    for my in rows {
        for mx in 0..mb_w {
            deblock_mb(
                &mut planes,
                st,
                &motion,
                &mut tab,
                mb_w,
                mx,
                my,
                pic.field_pic,
            );
        }
    }
}

/// Filters the rows from `*next` on that no later macroblock reads unfiltered: row
/// `r` once rows `r` and `r + 1` are completely decoded (slices may leave gaps, filled
/// in later or concealed at the end of the picture). Advances `*next` past them; the
/// last row waits for the end of the picture.
pub fn deblock_ready_rows(
    pic: &Picture,
    planes: &mut [&mut [u8]; 3],
    st: &MbState,
    mb_w: usize,
    mb_h: usize,
    next: &mut usize,
) {
    let first = *next;
    while *next + 1 < mb_h {
        let r = *next;
        match st.mbs.get(r * mb_w..(r + 2) * mb_w) {
            Some(two) if two.iter().all(|m| m.slice != 0) => *next += 1,
            _ => break,
        }
    }
    if *next > first {
        deblock_rows(pic, planes, st, mb_w, first..*next);
    }
}

/// The three planes of the picture being filtered.
struct Planes<'a> {
    y: &'a mut [u8],
    cb: &'a mut [u8],
    cr: &'a mut [u8],
    strides: [usize; 3],
}

/// Motion data per 4x4 block of the picture (raster order).
struct Motion<'a> {
    uid: [&'a [i32]; 2],
    mv: [&'a [[i16; 2]]; 2],
}

/// The QPs of one macroblock per plane (luma, Cb, Cr) as the filter uses them: 0 for
/// I_PCM, the chroma ones mapped through the slice's chroma QP offsets (8.7.2.2).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Qps([i32; 3]);

impl Qps {
    fn new(m: &MbInfo, sp: &SliceDeblock) -> Qps {
        let qp = if m.kind == MbKind::IPcm {
            0
        } else {
            m.qp as i32
        };
        let qpc = |c: usize| CHROMA_QP[(qp + sp.chroma_qp_offset[c]).clamp(0, 51) as usize] as i32;
        Qps([qp, qpc(0), qpc(1)])
    }
}

/// The filter parameters of one plane of an edge, from the average QP of its two
/// sides (8.7.2.2): alpha, beta, then tC0 by bS (-1 for bS 0: the lane is not
/// filtered; the table's value for bS 1 to 3; 0 for bS 4, unused by the strong
/// filter).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Params {
    alpha: i16,
    beta: i16,
    tc0: [i16; 5],
    /// Whether alpha and beta are both non-zero: whether anything can be filtered.
    on: bool,
}

/// [`Params`] by average QP for one slice's alpha and beta offsets, built once per
/// pair of offsets rather than looked up edge by edge.
struct ParamTable {
    offsets: (i32, i32),
    by_qp: [Params; 52],
}

impl ParamTable {
    fn new(alpha_off: i32, beta_off: i32) -> ParamTable {
        let by_qp = std::array::from_fn(|qav| {
            let index_a = (qav as i32 + alpha_off).clamp(0, 51) as usize;
            let index_b = (qav as i32 + beta_off).clamp(0, 51) as usize;
            let [a, b, c] = TC0[index_a];
            Params {
                alpha: ALPHA[index_a] as i16,
                beta: BETA[index_b] as i16,
                tc0: [-1, a as i16, b as i16, c as i16, 0],
                on: ALPHA[index_a] != 0 && BETA[index_b] != 0,
            }
        });
        ParamTable {
            offsets: (alpha_off, beta_off),
            by_qp,
        }
    }

    /// The table for the offsets of `sp`, rebuilt only when they change.
    fn update(&mut self, sp: &SliceDeblock) {
        if self.offsets != (sp.alpha, sp.beta) {
            *self = ParamTable::new(sp.alpha, sp.beta);
        }
    }
}

/// Filter parameters of one edge, per plane (luma, Cb, Cr): references into the
/// slice's [`ParamTable`], cheaper to pass around than copies.
#[derive(Clone, Copy)]
struct Thresholds<'a>([&'a Params; 3]);

impl<'a> Thresholds<'a> {
    /// From the QPs of the macroblocks on both sides.
    #[inline]
    fn new(p: Qps, q: Qps, tab: &'a ParamTable) -> Thresholds<'a> {
        Thresholds(std::array::from_fn(|c| {
            let qav = (p.0[c] + q.0[c] + 1) >> 1;
            &tab.by_qp[qav.clamp(0, 51) as usize]
        }))
    }

    /// Whether plane `c` can be filtered at all (alpha or beta 0 at low QP).
    #[inline]
    fn on(&self, c: usize) -> bool {
        self.0[c].on
    }

    /// Whether any plane can be filtered.
    #[inline]
    fn any(&self) -> bool {
        self.on(0) || self.on(1) || self.on(2)
    }
}

/// Filters the edges of the macroblock at `(mx, my)`.
#[allow(clippy::too_many_arguments)]
fn deblock_mb(
    planes: &mut Planes<'_>,
    st: &MbState,
    motion: &Motion<'_>,
    tab: &mut ParamTable,
    mb_w: usize,
    mx: usize,
    my: usize,
    field: bool,
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
    let avail = |p: &&MbInfo| p.slice != 0 && !(sp.disable == 2 && p.slice != q.slice);
    let left = if mx > 0 { st.mbs.get(addr - 1) } else { None }.filter(avail);
    let top = if my > 0 {
        st.mbs.get(addr - mb_w)
    } else {
        None
    }
    .filter(avail);

    // Thresholds first: at low QP nothing filters and the boundary strengths are not
    // needed at all. A neighbour with the macroblock's QP shares its thresholds.
    let qps_q = Qps::new(&q, &sp);
    tab.update(&sp);
    let inner = Thresholds::new(qps_q, qps_q, tab);
    let non_pcm = q.kind != MbKind::IPcm;
    let edge = |p: Option<&MbInfo>| {
        p.map(|p| {
            if p.qp == q.qp && non_pcm && p.kind != MbKind::IPcm {
                inner
            } else {
                Thresholds::new(Qps::new(p, &sp), qps_q, tab)
            }
        })
        .filter(Thresholds::any)
    };
    let (left_t, top_t) = (edge(left), edge(top));
    let inner_on = inner.any();
    if !inner_on && left_t.is_none() && top_t.is_none() {
        return;
    }
    let w4 = mb_w * 4;
    let b0 = my * 4 * w4 + mx * 4;
    let nb = Neighbours {
        q: &q,
        left: left.filter(|_| left_t.is_some()),
        top: top.filter(|_| top_t.is_some()),
        inner: inner_on,
        b0,
        left_b0: b0.wrapping_sub(4),
        top_b0: b0.wrapping_sub(4 * w4),
        w4,
        field,
    };
    let bs = strengths(&nb, &st.nnz, motion);
    let ts = [left_t.unwrap_or(inner), top_t.unwrap_or(inner), inner];
    for dir in 0..2 {
        filter_dir(planes, &bs[dir], dir, ts, mx, my, st.no_chroma);
    }
}

/// Filters the edges of one direction of a macroblock (0 vertical, 1 horizontal)
/// with strengths `bs[edge]` and thresholds `ts` (left edge, top edge, inner
/// edges); `(mx, my)` is the macroblock's position in the rows `planes` address.
#[inline]
fn filter_dir(
    planes: &mut Planes<'_>,
    bs: &[[u8; 4]; 4],
    dir: usize,
    ts: [Thresholds<'_>; 3],
    mx: usize,
    my: usize,
    no_chroma: bool,
) {
    filter_dir_dispatch((planes, bs, dir, ts, mx, my, no_chroma));
}

crate::simd::multiversion! {
    /// [`filter_dir`]. The edge filters are most of the deblocking time and
    /// vectorise: this runs them as compiled for AVX2 when the CPU has it
    /// ([`crate::simd`]), where a row of 16 lanes is one register, or for the baseline
    /// target otherwise. Both are the same code.
    fn filter_dir_dispatch(args: FilterDirArgs<'_, '_, '_, '_>) = filter_dir_body;
}

/// The arguments of [`filter_dir`], as one value for [`crate::simd::dispatch`].
type FilterDirArgs<'p, 'a, 'b, 't> = (
    &'p mut Planes<'a>,
    &'b [[u8; 4]; 4],
    usize,
    [Thresholds<'t>; 3],
    usize,
    usize,
    bool,
);

/// [`filter_dir`]'s work, inlined into each of its compiled copies.
#[inline(always)]
fn filter_dir_body((planes, bs, dir, ts, mx, my, no_chroma): FilterDirArgs<'_, '_, '_, '_>) {
    let [stride, scb, scr] = planes.strides;
    for e in 0..4 {
        let b = &bs[e];
        if *b == [0; 4] {
            continue;
        }
        let t = match (e, dir) {
            (0, 0) => ts[0],
            (0, _) => ts[1],
            _ => ts[2],
        };
        let strong = b[0] == 4;
        if t.on(0) {
            let tc0 = tc0_luma(b, &t.0[0].tc0);
            if dir == 0 {
                luma_v(planes.y, stride, mx * 16 + e * 4, my * 16, &tc0, strong, &t);
            } else {
                luma_h(planes.y, stride, mx * 16, my * 16 + e * 4, &tc0, strong, &t);
            }
        }
        // Chroma: luma edges 0 and 2 map onto chroma sample edges 0 and 4.
        if e % 2 == 0 && !no_chroma && (t.on(1) || t.on(2)) {
            let tc0 = tc0_chroma(b, &t);
            let c = Chroma {
                cb: &mut *planes.cb,
                cr: &mut *planes.cr,
                strides: [scb, scr],
            };
            if dir == 0 {
                chroma_v(c, mx * 8 + e * 2, my * 8, &tc0, strong, &t);
            } else {
                chroma_h(c, mx * 8, my * 8 + e * 2, &tc0, strong, &t);
            }
        }
    }
}

/// A macroblock and the neighbours its edges are filtered with.
struct Neighbours<'a> {
    q: &'a MbInfo,
    /// The left and top macroblocks, if their edge is filtered.
    left: Option<&'a MbInfo>,
    top: Option<&'a MbInfo>,
    /// Whether the inner edges are filtered.
    inner: bool,
    /// Raster index of the macroblock's top-left 4x4 block; 4x4 blocks per row.
    b0: usize,
    /// Raster indices of the top-left 4x4 blocks of the left and top neighbours.
    left_b0: usize,
    top_b0: usize,
    w4: usize,
    /// Whether the picture is a field.
    field: bool,
}

/// Boundary strengths of the macroblock's edges (8.7.2.1): `bs[dir][edge][k]`, dir 0
/// for vertical edges (k = row of 4x4 blocks), 1 for horizontal ones (k = column);
/// edge 0 is the macroblock edge. 0 for edges that are not filtered.
fn strengths(nb: &Neighbours<'_>, nnz: &[u8], motion: &Motion<'_>) -> [[[u8; 4]; 4]; 2] {
    let (q, b0, w4) = (nb.q, nb.b0, nb.w4);
    let lim_y = if nb.field { 2 } else { 4 };
    // In a field picture every macroblock is a field macroblock: an intra
    // macroblock's horizontal macroblock edges get bS 3, not 4 (8.7.2.1; vertical
    // ones keep 4).
    let intra_top = if nb.field { 3 } else { 4 };
    let mut bs = [[[0u8; 4]; 4]; 2];
    // With the 8x8 transform only edges 0 and 2 exist, for luma and chroma.
    let inner_edges: &[usize] = match (nb.inner, q.t8x8) {
        (false, _) => &[],
        (true, true) => &[2],
        (true, false) => &[1, 2, 3],
    };
    if q.kind.is_intra() {
        for dir in &mut bs {
            for &e in inner_edges {
                dir[e] = [3; 4];
            }
        }
        if nb.left.is_some() {
            bs[0][0] = [4; 4];
        }
        if nb.top.is_some() {
            bs[1][0] = [intra_top; 4];
        }
        return bs;
    }
    let nz_q = nz_mask(nnz, q, b0, w4);
    // The motion of the macroblock's blocks: one block stands for all sixteen when
    // they share it (no array of sixteen to fill then).
    let q00 = motion.blk(b0);
    let qb: Option<[[Blk; 4]; 4]> =
        (!q.uniform).then(|| std::array::from_fn(|y| motion.row(b0 + y * w4)));
    let qat = |x: usize, y: usize| match &qb {
        Some(qb) => qb[y][x],
        None => q00,
    };
    // Inner edges: coefficients on either side give 2; motion matters only when the
    // blocks do not all share it. `nz_v` has bit `k * 4 + e - 1` set when vertical
    // edge e has coefficients beside it in row k, `nz_h` bit `(e - 1) * 4 + k` for
    // horizontal edge e in column k.
    let nz_v = nz_q | nz_q >> 1;
    let nz_h = nz_q | nz_q >> 4;
    if qb.is_some() || nz_q != 0 {
        for &e in inner_edges {
            for k in 0..4 {
                bs[0][e][k] = if nz_v >> (k * 4 + e - 1) & 1 != 0 {
                    2
                } else if let Some(qb) = &qb {
                    motion_bs(&qb[k][e - 1], &qb[k][e], lim_y)
                } else {
                    0
                };
                bs[1][e][k] = if nz_h >> ((e - 1) * 4 + k) & 1 != 0 {
                    2
                } else if let Some(qb) = &qb {
                    motion_bs(&qb[e - 1][k], &qb[e][k], lim_y)
                } else {
                    0
                };
            }
        }
    }
    if let Some(l) = nb.left {
        bs[0][0] = if l.kind.is_intra() {
            [4; 4]
        } else {
            let nz_p = nz_mask(nnz, l, nb.left_b0, w4);
            let nz = |k: usize| (nz_p >> (k * 4 + 3) | nz_q >> (k * 4)) & 1 != 0;
            if l.uniform && q.uniform {
                // One motion on each side: one comparison for the whole edge.
                let m = motion_bs(&motion.blk(nb.left_b0), &q00, lim_y);
                std::array::from_fn(|k| if nz(k) { 2 } else { m })
            } else {
                std::array::from_fn(|k| {
                    if nz(k) {
                        2
                    } else {
                        motion_bs(&motion.blk(nb.left_b0 + k * w4 + 3), &qat(0, k), lim_y)
                    }
                })
            }
        };
    }
    if let Some(t) = nb.top {
        bs[1][0] = if t.kind.is_intra() {
            [intra_top; 4]
        } else {
            let nz_p = nz_mask(nnz, t, nb.top_b0, w4);
            let nz = |k: usize| (nz_p >> (12 + k) | nz_q >> k) & 1 != 0;
            if t.uniform && q.uniform {
                let m = motion_bs(&motion.blk(nb.top_b0), &q00, lim_y);
                std::array::from_fn(|k| if nz(k) { 2 } else { m })
            } else {
                let pr = if t.uniform {
                    [motion.blk(nb.top_b0); 4]
                } else {
                    motion.row(nb.top_b0 + 3 * w4)
                };
                std::array::from_fn(|k| {
                    if nz(k) {
                        2
                    } else {
                        motion_bs(&pr[k], &qat(k, 0), lim_y)
                    }
                })
            }
        };
    }
    bs
}

/// Bit `y * 4 + x` set when the transform block holding 4x4 block `(x, y)` of the
/// macroblock whose top-left block is `b0` has non-zero coefficients.
fn nz_mask(nnz: &[u8], m: &MbInfo, b0: usize, w4: usize) -> u16 {
    // A clear coded_block_pattern bit means no coefficients in that 8x8 block.
    if m.cbp & 15 == 0 {
        return 0;
    }
    let mut bits = 0u16;
    for y in 0..4 {
        let Some(row) = nnz.get(b0 + y * w4..b0 + y * w4 + 4) else {
            return 0;
        };
        for (x, &n) in row.iter().enumerate() {
            bits |= ((n != 0) as u16) << (y * 4 + x);
        }
    }
    if m.t8x8 {
        // The 8x8 transform: a block counts when any of its four quarters has any.
        let mut wide = 0;
        for quad in [0x0033u16, 0x00cc, 0x3300, 0xcc00] {
            if bits & quad != 0 {
                wide |= quad;
            }
        }
        bits = wide;
    }
    bits
}

/// References and motion vectors of one 4x4 block, per list.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Blk {
    uid: [i32; 2],
    mv: [[i16; 2]; 2],
}

impl Motion<'_> {
    /// Block `i` (picture raster index).
    #[inline]
    fn blk(&self, i: usize) -> Blk {
        let uid = |l: usize| self.uid[l].get(i).copied().unwrap_or(-1);
        let mv = |l: usize| self.mv[l].get(i).copied().unwrap_or_default();
        Blk {
            uid: [uid(0), uid(1)],
            mv: [mv(0), mv(1)],
        }
    }

    /// Blocks `i..i + 4`: one row of a macroblock.
    #[inline]
    fn row(&self, i: usize) -> [Blk; 4] {
        let (Some(u0), Some(u1), Some(m0), Some(m1)) = (
            self.uid[0].get(i..i + 4),
            self.uid[1].get(i..i + 4),
            self.mv[0].get(i..i + 4),
            self.mv[1].get(i..i + 4),
        ) else {
            return [Blk::default(); 4];
        };
        std::array::from_fn(|x| Blk {
            uid: [u0[x], u1[x]],
            mv: [m0[x], m1[x]],
        })
    }
}

#[inline]
fn mv_diff(a: [i16; 2], b: [i16; 2], lim_y: i32) -> bool {
    (a[0] as i32 - b[0] as i32).abs() >= 4 || (a[1] as i32 - b[1] as i32).abs() >= lim_y
}

/// bS 1 or 0 between blocks `p` and `q` from references and motion vectors (8.7.2.1,
/// frame macroblocks). Identical blocks, the common case, take one comparison.
#[inline]
/// `lim_y` is 4 (quarter frame samples), or 2 in field pictures, whose vertical
/// vectors count quarter field samples: the same distance in the frame.
fn motion_bs(p: &Blk, q: &Blk, lim_y: i32) -> u8 {
    if p == q {
        return 0;
    }
    let mv_diff = |a, b| mv_diff(a, b, lim_y);
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

/// tC0 per luma lane (4 lines per bS segment) from tC0 by bS.
#[inline(always)]
fn tc0_luma(bs: &[u8; 4], by_bs: &[i16; 5]) -> [i16; LANES] {
    let mut tc0 = [0; LANES];
    for (lanes, &b) in tc0.chunks_exact_mut(4).zip(bs) {
        lanes.fill(by_bs[(b as usize).min(4)]);
    }
    tc0
}

/// tC0 per chroma lane: lanes 0-7 Cb, 8-15 Cr, 2 lines per bS segment; -1 for a
/// component whose alpha or beta is 0.
#[inline(always)]
fn tc0_chroma(bs: &[u8; 4], t: &Thresholds<'_>) -> [i16; LANES] {
    let mut tc0 = [-1; LANES];
    for (c, comp) in tc0.chunks_exact_mut(8).enumerate() {
        if t.on(1 + c) {
            let by_bs = &t.0[1 + c].tc0;
            for (lanes, &b) in comp.chunks_exact_mut(2).zip(bs) {
                lanes.fill(by_bs[(b as usize).min(4)]);
            }
        }
    }
    tc0
}

/// One butterfly stage of the byte transposes: swaps the odd `s`-bit groups of `a`
/// with the even ones of `b` (`m` selects the even groups). Its own inverse.
#[inline(always)]
fn swap_groups(a: &mut u64, b: &mut u64, m: u64, s: u32) {
    let (x, y) = (*a, *b);
    *a = (x & m) | ((y & m) << s);
    *b = ((x >> s) & m) | (y & !m);
}

const M1: u64 = 0x00ff_00ff_00ff_00ff;
const M2: u64 = 0x0000_ffff_0000_ffff;

/// Transposes between four 8-lane rows `a b c d` and eight 4-byte lines held in pairs
/// `(line j, line j + 4)` (low and high half), in either direction: rows to lines
/// with `rows_to_lines`, lines to rows otherwise.
#[inline(always)]
fn transpose4x8(w: &mut [u64; 4], rows_to_lines: bool) {
    let [a, b, c, d] = w;
    if rows_to_lines {
        swap_groups(a, b, M1, 8);
        swap_groups(c, d, M1, 8);
        swap_groups(a, c, M2, 16);
        swap_groups(b, d, M2, 16);
    } else {
        swap_groups(a, c, M2, 16);
        swap_groups(b, d, M2, 16);
        swap_groups(a, b, M1, 8);
        swap_groups(c, d, M1, 8);
    }
}

/// Transposes an 8x8 byte matrix held as eight little-endian rows (byte `c` of
/// `r[k]` becomes byte `k` of `r[c]`): three butterfly stages swapping 1-, 2- and
/// 4-byte blocks between rows 1, 2 and 4 apart.
#[inline(always)]
fn transpose8(r: &mut [u64; 8]) {
    const M4: u64 = 0x0000_0000_ffff_ffff;
    for i in [0, 2, 4, 6] {
        let (a, b) = (r[i], r[i + 1]);
        r[i] = (a & M1) | ((b & M1) << 8);
        r[i + 1] = ((a >> 8) & M1) | (b & !M1);
    }
    for i in [0, 1, 4, 5] {
        let (a, b) = (r[i], r[i + 2]);
        r[i] = (a & M2) | ((b & M2) << 16);
        r[i + 2] = ((a >> 16) & M2) | (b & !M2);
    }
    for i in [0, 1, 2, 3] {
        let (a, b) = (r[i], r[i + 4]);
        r[i] = (a & M4) | (b << 32);
        r[i + 4] = (a >> 32) | (b & !M4);
    }
}

/// Reads 8 bytes at `at` as a little-endian word.
#[inline(always)]
fn read8(buf: &[u8], at: usize) -> u64 {
    match buf.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or_default()),
        None => 0,
    }
}

/// Writes `v` as `N` little-endian bytes at `at`.
#[inline(always)]
fn write_le<const N: usize>(buf: &mut [u8], at: usize, v: u64) {
    if let Some(b) = buf.get_mut(at..at + N) {
        b.copy_from_slice(&v.to_le_bytes()[..N]);
    }
}

/// Filters the vertical luma edge at `(x0, y0)` (16 lines).
#[inline(always)]
fn luma_v(
    plane: &mut [u8],
    stride: usize,
    x0: usize,
    y0: usize,
    tc0: &[i16; LANES],
    strong: bool,
    t: &Thresholds<'_>,
) {
    let Some(lo) = (y0 * stride + x0).checked_sub(4) else {
        return;
    };
    let Some(region) = plane.get_mut(lo..lo + 15 * stride + 8) else {
        return;
    };
    // Lines 0-7 and 8-15 as two 8x8 blocks of 64-bit words, transposed into lanes.
    let mut top: [u64; 8] = std::array::from_fn(|k| read8(region, k * stride));
    let mut bot: [u64; 8] = std::array::from_fn(|k| read8(region, (k + 8) * stride));
    transpose8(&mut top);
    transpose8(&mut bot);
    let mut px: [[u8; LANES]; 8] =
        std::array::from_fn(|c| (top[c] as u128 | (bot[c] as u128) << 64).to_le_bytes());
    filter(&mut px, tc0, strong, t, true);
    let word = |row: &[u8; LANES], half: usize| {
        u64::from_le_bytes(row[half * 8..half * 8 + 8].try_into().unwrap_or_default())
    };
    if strong {
        for (half, blk) in [&mut top, &mut bot].into_iter().enumerate() {
            *blk = std::array::from_fn(|c| word(&px[c], half));
            transpose8(blk);
            for (k, &w) in blk.iter().enumerate() {
                write_le::<8>(region, (half * 8 + k) * stride, w);
            }
        }
    } else {
        // The normal filter changes p1 p0 q0 q1 only: 4 bytes per line.
        for half in 0..2 {
            let mut w: [u64; 4] = std::array::from_fn(|r| word(&px[2 + r], half));
            transpose4x8(&mut w, true);
            for (j, &v) in w.iter().enumerate() {
                write_le::<4>(region, (half * 8 + j) * stride + 2, v);
                write_le::<4>(region, (half * 8 + j + 4) * stride + 2, v >> 32);
            }
        }
    }
}

/// Filters the horizontal luma edge at `(x0, y0)` (16 columns).
#[inline(always)]
fn luma_h(
    plane: &mut [u8],
    stride: usize,
    x0: usize,
    y0: usize,
    tc0: &[i16; LANES],
    strong: bool,
    t: &Thresholds<'_>,
) {
    let Some(lo) = (y0 * stride + x0).checked_sub(4 * stride) else {
        return;
    };
    let Some(region) = plane.get_mut(lo..lo + 7 * stride + LANES) else {
        return;
    };
    // Rows copied straight into place (`array::from_fn` built them aside first).
    let mut px = [[0u8; LANES]; 8];
    for (r, row) in px.iter_mut().enumerate() {
        if let Some(b) = region.get(r * stride..r * stride + LANES) {
            row.copy_from_slice(b);
        }
    }
    filter(&mut px, tc0, strong, t, true);
    let rows = if strong { 1..7 } else { 2..6 };
    for r in rows {
        if let Some(b) = region.get_mut(r * stride..r * stride + LANES) {
            b.copy_from_slice(&px[r]);
        }
    }
}

/// The two chroma planes and their strides.
struct Chroma<'a> {
    cb: &'a mut [u8],
    cr: &'a mut [u8],
    strides: [usize; 2],
}

/// The `len` bytes of `plane` from `start`, if there are that many.
fn window(plane: &mut [u8], start_len: Option<(usize, usize)>) -> Option<&mut [u8]> {
    let (start, len) = start_len?;
    plane.get_mut(start..start.checked_add(len)?)
}

/// Filters the vertical chroma edge at `(x0, y0)` of Cb and Cr (8 lines each).
#[inline(always)]
fn chroma_v(
    c: Chroma<'_>,
    x0: usize,
    y0: usize,
    tc0: &[i16; LANES],
    strong: bool,
    t: &Thresholds<'_>,
) {
    let region = |stride: usize| Some(((y0 * stride + x0).checked_sub(2)?, 7 * stride + 4));
    let [scb, scr] = c.strides;
    let (Some(cb), Some(cr)) = (window(c.cb, region(scb)), window(c.cr, region(scr))) else {
        return;
    };
    // Rows 2-5 of the lanes are p1 p0 q0 q1; lanes 0-7 are Cb lines, 8-15 Cr. Lines
    // are 4 bytes: copying them byte by byte costs less than a word transposition.
    let mut px = [[0u8; LANES]; 8];
    for k in 0..8 {
        let (Some(b), Some(r)) = (cb.get(k * scb..k * scb + 4), cr.get(k * scr..k * scr + 4))
        else {
            return;
        };
        for c in 0..4 {
            px[2 + c][k] = b[c];
            px[2 + c][8 + k] = r[c];
        }
    }
    filter(&mut px, tc0, strong, t, false);
    // Both chroma filters change p0 and q0 only.
    for k in 0..8 {
        if let Some(b) = cb.get_mut(k * scb + 1..k * scb + 3) {
            b.copy_from_slice(&[px[3][k], px[4][k]]);
        }
        if let Some(r) = cr.get_mut(k * scr + 1..k * scr + 3) {
            r.copy_from_slice(&[px[3][8 + k], px[4][8 + k]]);
        }
    }
}

/// Filters the horizontal chroma edge at `(x0, y0)` of Cb and Cr (8 columns each).
#[inline(always)]
fn chroma_h(
    c: Chroma<'_>,
    x0: usize,
    y0: usize,
    tc0: &[i16; LANES],
    strong: bool,
    t: &Thresholds<'_>,
) {
    let region =
        |stride: usize| Some(((y0 * stride + x0).checked_sub(2 * stride)?, 3 * stride + 8));
    let [scb, scr] = c.strides;
    let (Some(cb), Some(cr)) = (window(c.cb, region(scb)), window(c.cr, region(scr))) else {
        return;
    };
    // Rows 2-5 of the lanes are p1 p0 q0 q1: 8 Cb samples, then 8 Cr.
    let mut px = [[0u8; LANES]; 8];
    for r in 0..4 {
        px[2 + r] = (read8(cb, r * scb) as u128 | (read8(cr, r * scr) as u128) << 64).to_le_bytes();
    }
    filter(&mut px, tc0, strong, t, false);
    for r in 1..3 {
        let v = u128::from_le_bytes(px[2 + r]);
        write_le::<8>(cb, r * scb, v as u64);
        write_le::<8>(cr, r * scr, (v >> 64) as u64);
    }
}

/// Runs the lane filter of the right kind: luma or chroma (Cb lanes 0-7, Cr 8-15),
/// normal or strong.
#[inline(always)]
fn filter(
    px: &mut [[u8; LANES]; 8],
    tc0: &[i16; LANES],
    strong: bool,
    t: &Thresholds<'_>,
    luma: bool,
) {
    let (alpha, beta): ([i16; LANES], [i16; LANES]) = if luma {
        ([t.0[0].alpha; LANES], [t.0[0].beta; LANES])
    } else {
        (
            std::array::from_fn(|k| t.0[1 + k / 8].alpha),
            std::array::from_fn(|k| t.0[1 + k / 8].beta),
        )
    };
    match (luma, strong) {
        (true, false) => lanes::<true, false>(px, tc0, &alpha, &beta),
        (true, true) => lanes::<true, true>(px, tc0, &alpha, &beta),
        (false, false) => lanes::<false, false>(px, tc0, &alpha, &beta),
        (false, true) => lanes::<false, true>(px, tc0, &alpha, &beta),
    }
}

/// The edge filters of 8.7.2.3 (bS < 4) and 8.7.2.4 (bS = 4) on every lane, without
/// branches: each output is computed and selected by the lane's conditions. Rows of
/// `px` are `p3 p2 p1 p0 q0 q1 q2 q3`; chroma uses only `p1 p0 q0 q1`.
#[inline(always)]
fn lanes<const LUMA: bool, const STRONG: bool>(
    px: &mut [[u8; LANES]; 8],
    tc0: &[i16; LANES],
    alpha: &[i16; LANES],
    beta: &[i16; LANES],
) {
    let (luma, strong) = (LUMA, STRONG);
    let [r0, r1, r2, r3, r4, r5, r6, r7] = px;
    for k in 0..LANES {
        let (p3, p2, p1, p0) = (r0[k] as i16, r1[k] as i16, r2[k] as i16, r3[k] as i16);
        let (q0, q1, q2, q3) = (r4[k] as i16, r5[k] as i16, r6[k] as i16, r7[k] as i16);
        let (t0, alpha, beta) = (tc0[k], alpha[k], beta[k]);
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
        r3[k] = sel(np0, p0);
        r4[k] = sel(nq0, q0);
        if luma {
            r1[k] = sel(np2, p2);
            r2[k] = sel(np1, p1);
            r5[k] = sel(nq1, q1);
            r6[k] = sel(nq2, q2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift generator: the test needs varied inputs, not a good generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// The AVX2 copy of the edge filters (picked on this CPU when it has AVX2) against
    /// the portable one, called directly, on random and extreme samples, strengths and
    /// QPs: they must agree byte for byte.
    #[test]
    fn dispatched_edge_filters_equal_the_portable_ones() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (w, h) = (48, 48);
        let (cw, ch) = (w / 2, h / 2);
        let mut tables: Vec<ParamTable> = Vec::new();
        for off in [(-12, -12), (0, 0), (6, 6), (12, -6)] {
            tables.push(ParamTable::new(off.0, off.1));
        }
        let mut changed = 0;
        for round in 0..3000 {
            // Smooth areas (small differences, so that the filters switch on), noise,
            // and the extremes 0 and 255 side by side.
            let kind = round % 3;
            let base = (rng.next() % 256) as i32;
            let sample = |rng: &mut Rng| -> u8 {
                match kind {
                    0 => (base + (rng.next() % 9) as i32 - 4).clamp(0, 255) as u8,
                    1 => rng.next() as u8,
                    _ => [0u8, 255, 1, 254][(rng.next() % 4) as usize],
                }
            };
            let y: Vec<u8> = (0..w * h).map(|_| sample(&mut rng)).collect();
            let cb: Vec<u8> = (0..cw * ch).map(|_| sample(&mut rng)).collect();
            let cr: Vec<u8> = (0..cw * ch).map(|_| sample(&mut rng)).collect();
            let dir = (rng.next() % 2) as usize;
            let mut bs = [[0u8; 4]; 4];
            for (e, edge) in bs.iter_mut().enumerate() {
                for b in edge.iter_mut() {
                    *b = (rng.next() % if e == 0 { 5 } else { 4 }) as u8;
                }
                if e == 0 && rng.next() % 3 == 0 {
                    *edge = [4; 4];
                }
            }
            let tab = &tables[(rng.next() % 4) as usize];
            let qp = |rng: &mut Rng| Qps(std::array::from_fn(|_| (rng.next() % 52) as i32));
            let ts: [Thresholds<'_>; 3] =
                std::array::from_fn(|_| Thresholds::new(qp(&mut rng), qp(&mut rng), tab));
            let no_chroma = rng.next() % 8 == 0;
            let before = (y.clone(), cb.clone(), cr.clone());
            let mut out = [(y.clone(), cb.clone(), cr.clone()), (y, cb, cr)];
            for (k, (y, cb, cr)) in out.iter_mut().enumerate() {
                let mut planes = Planes { y, cb, cr, strides: [w, cw, cw] };
                let args = (&mut planes, &bs, dir, ts, 1, 1, no_chroma);
                if k == 0 {
                    filter_dir_body(args);
                } else {
                    filter_dir_dispatch(args);
                }
            }
            assert!(out[0] == out[1], "round {round}: dir {dir}, bs {bs:?}");
            changed += (out[0] != before) as usize;
        }
        // Most rounds filter something, or the comparison would prove little.
        assert!(changed > 1000, "only {changed} of 3000 rounds changed any sample");
    }
}
