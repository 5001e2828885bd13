//! x86-64 SIMD versions of the pixel kernels: SSE2 (the x86-64 baseline) and AVX2
//! (chosen at run time), each bit-identical to the portable code.
//!
//! The workspace supports Rust 1.80, where every `std::arch` intrinsic is an `unsafe`
//! function; newer compilers make the arithmetic ones safe where their feature is
//! enabled and would call those `unsafe` blocks unused, hence the allow.
#![allow(unused_unsafe)]

pub(crate) mod avx2;
pub(crate) mod sse2;
