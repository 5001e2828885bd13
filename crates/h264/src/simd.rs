//! Runtime dispatch of the hottest kernels to copies compiled for AVX2: the only module
//! of the crate allowed `unsafe`, for the one call that needs it.
//!
//! No kernel here is written with intrinsics. The kernels are plain Rust written to
//! vectorise (16 lanes of `i16`, branch-free selects); [`multiversion!`] makes a
//! function that runs one either as built for the baseline target (SSE2 on x86-64) or,
//! when the CPU has AVX2, as a second copy of the same code compiled with AVX2 enabled,
//! where a row of 16 lanes fits one register. Both copies come from the same source, so
//! their results are the same by construction; the kernels' tests check it on random
//! and extreme inputs anyway. This is function multiversioning as the `multiversion`
//! crate does it, by hand for one feature.

/// `multiversion!(fn name(args: Args) = body);` defines `fn name(args: Args)`, which
/// calls `body(args)` compiled for AVX2 when the CPU has it and as built otherwise.
/// `body` must be `#[inline(always)]` and call only `#[inline(always)]` code, so that
/// the whole kernel is inlined into the AVX2 copy (a call to anything else runs that
/// code in its baseline form). Several arguments travel as one tuple.
macro_rules! multiversion {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($args:ident: $ty:ty) = $body:path;) => {
        $(#[$attr])*
        $vis fn $name($args: $ty) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($args: $ty) {
                    $body($args)
                }
                if $crate::simd::avx2_enabled() {
                    // SAFETY: `avx2` is compiled for AVX2 and may only run on a CPU
                    // that has it, which `avx2_enabled` has just confirmed at run time.
                    #[allow(unsafe_code)]
                    return unsafe { avx2($args) };
                }
            }
            $body($args)
        }
    };
}
pub(crate) use multiversion;

/// Whether the CPU has AVX2 (`std` detects it once and caches the answer).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn avx2_enabled() -> bool {
    std::is_x86_feature_detected!("avx2")
}
