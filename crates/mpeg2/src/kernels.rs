//! The choice between the portable pixel kernels and the SIMD ones, made once per
//! decoder and carried with each picture to the code that dispatches on it.

/// Which implementation of the pixel kernels (inverse DCT with its put/add, motion
/// compensation) a [`Decoder`](crate::Decoder) uses. All give the same pixels, bit
/// for bit; the choice exists so that tests and benchmarks can run each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernels {
    /// The fastest kernels for this machine: on x86-64, AVX2 where the CPU has it
    /// (checked at run time) and SSE2 (part of the x86-64 baseline) otherwise; the
    /// portable code elsewhere. The default.
    #[default]
    Native,
    /// On x86-64, SSE2 only, even where AVX2 is available; the portable code elsewhere.
    Sse2,
    /// Plain Rust only, on every target.
    Portable,
}

impl Kernels {
    /// The instruction set these kernels resolve to on this machine.
    pub(crate) fn isa(self) -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Kernels::Native => match crate::simd::avx2::Token::detect() {
                    Some(t) => Isa::Avx2(t),
                    None => Isa::Sse2,
                },
                Kernels::Sse2 => Isa::Sse2,
                Kernels::Portable => Isa::Portable,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = self;
            Isa::Portable
        }
    }
}

/// The kernels a picture is decoded with, resolved from [`Kernels`] once per decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse2,
    /// SSE2 and AVX2, the latter proven present by the token.
    #[cfg(target_arch = "x86_64")]
    Avx2(crate::simd::avx2::Token),
}

impl Isa {
    /// Whether the SSE2 kernels (or better) may be used.
    #[inline(always)]
    pub(crate) fn sse2(self) -> bool {
        self != Isa::Portable
    }
}
