//! Time bases and the unwrapping of 33-bit MPEG timestamps.
//!
//! # Timing
//!
//! Every timestamp in transcode is an `i64` count of ticks of its stream's [`TimeBase`]
//! (`num / den` seconds per tick). MPEG-TS carries PTS and DTS as 33-bit counters of a
//! 90 kHz clock that wrap every 26.5 hours; [`Unwrap33`] maps them onto a monotonic
//! 64-bit timeline so that later stages never see a timestamp jump backwards at a wrap.

/// Seconds per tick, as the fraction `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeBase {
    pub num: u32,
    pub den: u32,
}

impl TimeBase {
    /// The 90 kHz clock of MPEG-TS PTS and DTS.
    pub const MPEG: TimeBase = TimeBase { num: 1, den: 90_000 };

    /// A time base of `num / den` seconds per tick. A zero denominator is replaced by 1
    /// so that later arithmetic can never divide by zero.
    pub const fn new(num: u32, den: u32) -> Self {
        TimeBase { num, den: if den == 0 { 1 } else { den } }
    }

    /// Converts `ts` ticks of `self` into ticks of `to`, rounding to nearest (half away
    /// from zero), without overflow for any `i64` input whose result fits.
    pub fn rescale(self, ts: i64, to: TimeBase) -> i64 {
        let n = ts as i128 * self.num as i128 * to.den as i128;
        let d = self.den as i128 * to.num.max(1) as i128;
        let r = if n >= 0 { (n + d / 2) / d } else { (n - d / 2) / d };
        r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// `ts` ticks as seconds.
    pub fn seconds(self, ts: i64) -> f64 {
        ts as f64 * self.num as f64 / self.den as f64
    }
}

/// Unwraps a 33-bit counter (PTS, DTS, PCR base) onto a 64-bit timeline.
///
/// Each value is placed on the timeline as close as possible to the previous one, so a
/// counter that wraps from `2^33 - 1` to `0` continues upwards, and a small backwards
/// step (a B-frame's PTS before the previous DTS) stays a small backwards step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unwrap33 {
    last: Option<i64>,
}

impl Unwrap33 {
    const PERIOD: i64 = 1 << 33;

    /// Places the raw 33-bit value `raw` (higher bits are ignored) on the timeline.
    pub fn unwrap(&mut self, raw: u64) -> i64 {
        let raw = (raw & (Self::PERIOD as u64 - 1)) as i64;
        let v = match self.last {
            None => raw,
            Some(last) => {
                let base = last - last.rem_euclid(Self::PERIOD);
                // Pick the candidate in {base - P, base, base + P} nearest to `last`.
                let mut best = base + raw;
                for cand in [base - Self::PERIOD + raw, base + Self::PERIOD + raw] {
                    if (cand - last).abs() < (best - last).abs() {
                        best = cand;
                    }
                }
                best
            }
        };
        self.last = Some(v);
        v
    }

    /// Like [`Unwrap33::unwrap`] but does not move the reference point: for values such
    /// as a PTS that should be placed relative to the DTS timeline without steering it.
    pub fn place(&self, raw: u64) -> i64 {
        let mut copy = *self;
        copy.unwrap(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_to_nearest() {
        let tb = TimeBase::new(1, 90_000);
        assert_eq!(tb.rescale(3003, TimeBase::new(1, 30_000)), 1001);
        assert_eq!(tb.rescale(1, TimeBase::new(1, 1000)), 0);
        assert_eq!(tb.rescale(45, TimeBase::new(1, 1000)), 1);
        assert_eq!(tb.rescale(-45, TimeBase::new(1, 1000)), -1);
        assert_eq!(TimeBase::new(1, 0).den, 1);
    }

    #[test]
    fn unwrap_survives_several_wraps_and_small_steps_back() {
        let mut u = Unwrap33::default();
        let p = 1i64 << 33;
        let mut expect = p - 3000;
        assert_eq!(u.unwrap(expect as u64), expect);
        for _ in 0..5 {
            expect += 3000;
            assert_eq!(u.unwrap((expect % p) as u64), expect);
            // A B-frame PTS slightly before: stays just before, not a whole period later.
            assert_eq!(u.place(((expect - 6000).rem_euclid(p)) as u64), expect - 6000);
            expect += p / 3;
            assert_eq!(u.unwrap((expect % p) as u64), expect);
        }
    }
}
