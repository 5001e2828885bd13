//! The choice between the portable pixel kernels and the SIMD ones, made once per
//! decoder and carried with each picture to the code that dispatches on it.

/// Which implementation of the pixel kernels (inverse DCT with its put/add, motion
/// compensation) a [`Decoder`](crate::Decoder) uses. Both give the same pixels, bit
/// for bit; the choice exists so that tests and benchmarks can run each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernels {
    /// The fastest kernels for this machine: SSE2 on x86-64 (part of its baseline, so
    /// no detection is needed), the portable code elsewhere. The default.
    #[default]
    Native,
    /// Plain Rust only, on every target.
    Portable,
}

impl Kernels {
    /// Whether the SSE2 kernels are to be used.
    #[inline(always)]
    pub(crate) fn sse2(self) -> bool {
        cfg!(target_arch = "x86_64") && self == Kernels::Native
    }
}
