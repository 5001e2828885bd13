//! x86-64 SIMD versions of the pixel kernels: SSE2 (the x86-64 baseline) and AVX2
//! (chosen at run time), each bit-identical to the portable code.
//!
//! The workspace supports Rust 1.80, where every `std::arch` intrinsic is an `unsafe`
//! function; newer compilers make the arithmetic ones safe where their feature is
//! enabled and would call those `unsafe` blocks unused, hence the allow.
#![allow(unused_unsafe)]

pub(crate) mod avx2;
pub(crate) mod sse2;

/// Asks the CPU to bring the cache lines holding `data[at + k * stride]` for
/// `k < rows` into its caches ahead of use. A hint only: it changes no result, and
/// positions outside `data` are harmless (no check is needed, so none is made).
#[inline(always)]
pub(crate) fn prefetch(data: &[u8], at: usize, stride: usize, rows: usize) {
    let p = data.as_ptr().wrapping_add(at);
    for k in 0..rows {
        // SAFETY: SSE (baseline on x86-64) has `prefetcht0`, which neither reads nor
        // writes memory architecturally and never faults, whatever the address; the
        // pointer is only computed (with wrapping arithmetic), never dereferenced.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                p.wrapping_add(k * stride) as *const i8,
            )
        }
    }
}
