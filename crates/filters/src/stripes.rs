//! Row stripes: runs a per-row function over a destination plane on the calling thread
//! or in horizontal stripes on rayon's pool.

use crate::Parallelism;
use rayon::prelude::*;

/// Calls `f(y, row)` for every row `y` of a plane of `rows` rows `stride` bytes apart,
/// `row` being the row's first `row_bytes` bytes. With stripes, rows are split into
/// a few contiguous runs per thread so that each thread reads neighbouring rows from
/// its own cache; the order of calls is then unspecified, so `f` must depend only on
/// `y`.
pub(crate) fn for_each_row<F>(dst: &mut [u8], stride: usize, rows: usize, row_bytes: usize, parallelism: Parallelism, f: F)
where
    F: Fn(usize, &mut [u8]) + Sync,
{
    let dst = &mut dst[..stride * rows];
    let threads = rayon::current_num_threads();
    let striped = parallelism == Parallelism::Auto
        && threads > 1
        && row_bytes * rows >= Parallelism::MIN_STRIPED_SAMPLES;
    if !striped {
        for (y, row) in dst.chunks_mut(stride).enumerate() {
            f(y, &mut row[..row_bytes]);
        }
        return;
    }
    // Two stripes per thread even out stripes that cost more (moving areas).
    let per_stripe = rows.div_ceil(threads * 2).max(8);
    dst.par_chunks_mut(stride * per_stripe).enumerate().for_each(|(i, stripe)| {
        for (j, row) in stripe.chunks_mut(stride).enumerate() {
            f(i * per_stripe + j, &mut row[..row_bytes]);
        }
    });
}
