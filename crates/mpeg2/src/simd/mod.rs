//! x86-64 SIMD versions of the pixel kernels: SSE2 (the x86-64 baseline) and AVX2
//! (chosen at run time), each bit-identical to the portable code.
//!
//! The workspace supports Rust 1.80, where every `std::arch` intrinsic is an `unsafe`
//! function; newer compilers make the arithmetic ones safe where their feature is
//! enabled and would call those `unsafe` blocks unused, hence the allow.
#![allow(unused_unsafe)]

pub(crate) mod avx2;
pub(crate) mod sse2;

/// Asks the CPU to bring the cache line holding `data[at]` into its caches ahead of
/// use; nothing when `at` is outside `data`. A hint only: it changes no result.
#[inline(always)]
pub(crate) fn prefetch(data: &[u8], at: usize) {
    if let Some(b) = data.get(at) {
        // SAFETY: SSE (baseline on x86-64) has `prefetcht0`; the pointer is to an
        // element of `data`, and a prefetch neither reads nor writes memory
        // architecturally, nor faults.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                b as *const u8 as *const i8,
            )
        }
    }
}
