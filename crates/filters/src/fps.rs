//! Frame-rate conversion by timestamps, as FFmpeg's `fps` filter does it: each output
//! slot of the new rate shows the last input frame that started at or before it, so
//! frames are dropped or repeated, never blended.

use crate::{Delay, Filter, Pull};
use std::fmt;
use transcode_core::{Acquire, Budget, Error, Result, TimeBase};
use transcode_frame_pool::{Frame, FrameLayout, FramePool, FramePoolConfig, FrameProps, SharedFrame};

/// `ts` ticks of `from` in ticks of `to`, rounded to the nearest tick, halves away from
/// zero (FFmpeg's `round=near`, its default).
fn rescale_near(ts: i64, from: TimeBase, to: TimeBase) -> i64 {
    let num = ts as i128 * from.num as i128 * to.den as i128;
    let den = (from.den as i128 * to.num as i128).max(1);
    let half = den / 2;
    let q = if num >= 0 { (num + half) / den } else { (num - half) / den };
    q.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// The frame-rate converter ([`Filter`]).
///
/// # Delay
///
/// It holds one frame until the next arrives: only then is it known how many output
/// slots the first one fills (none, when it is dropped).
///
/// # Timing
///
/// Input `pts` count ticks of the input time base given to [`Fps::new`]; output `pts`
/// count frames of the new rate ([`Filter::output_time_base`] is `1 / rate`), starting
/// at the first input's time, and each output lasts one tick. The last frame is
/// repeated up to its end (`pts + duration`). Frames without a `pts` are dropped, as
/// FFmpeg drops them.
///
/// Repeated frames and frames whose `pts` changes are copies from the filter's pool,
/// because the timestamp travels on the shared frame.
pub struct Fps {
    input_tb: TimeBase,
    output_tb: TimeBase,
    layout: FrameLayout,
    pool: FramePool,
    /// The frame being shown and the one after it, with their starts in output ticks.
    held: [Option<(SharedFrame, i64)>; 2],
    /// `Captions::seq` of the last frame put out: a repeat carries no captions.
    captions_seq: u32,
    pending: Option<SharedFrame>,
    next_pts: Option<i64>,
    /// End of the last input frame, in input ticks.
    end: Option<i64>,
    flushed: bool,
}

impl fmt::Debug for Fps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fps")
            .field("input_tb", &self.input_tb)
            .field("output_tb", &self.output_tb)
            .field("next_pts", &self.next_pts)
            .finish()
    }
}

impl Fps {
    /// A converter to `rate` (`(num, den)` frames per second) for frames of `input`
    /// timed in `input_tb`, with a pool of `pool_frames` output frames.
    ///
    /// Errors: a zero rate term.
    pub fn new(rate: (u32, u32), input_tb: TimeBase, input: FrameLayout, pool_frames: u32, budget: &Budget) -> Result<Fps> {
        if rate.0 == 0 || rate.1 == 0 {
            return Err(Error::invalid(format!("frame rate {}/{} (expected both terms above 0)", rate.0, rate.1)));
        }
        let pool = FramePool::new(
            FramePoolConfig { name: "fps", capacity: pool_frames, ..FramePoolConfig::new(input, &Default::default()) },
            budget,
        )?;
        Ok(Fps {
            input_tb,
            output_tb: TimeBase::new(rate.1, rate.0),
            layout: input,
            pool,
            held: [None, None],
            captions_seq: 0,
            pending: None,
            next_pts: None,
            end: None,
            flushed: false,
        })
    }

    /// The shown frame again at `pts`, or `None` when the pool is full.
    fn emit(&mut self, pts: i64) -> Option<SharedFrame> {
        let (frame, _) = self.held[0].as_ref()?;
        let mut out: Frame = match self.pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => return None,
        };
        for (i, p) in frame.layout().planes().iter().enumerate() {
            for y in 0..p.rows {
                out.row_mut(i, y).copy_from_slice(frame.row(i, y));
            }
        }
        let props = *frame.props();
        // A repeated frame does not repeat its picture's closed captions, which would
        // show them twice; a dropped one loses them, as FFmpeg's fps filter does.
        let captions = if props.captions.seq == self.captions_seq { Default::default() } else { props.captions };
        self.captions_seq = props.captions.seq;
        *out.props_mut() = FrameProps { pts: Some(pts), duration: Some(1), captions, ..props };
        Some(out.into_shared())
    }
}

impl Filter for Fps {
    fn delay(&self) -> Delay {
        Delay { held_inputs: 3, future_frames: 1, max_outputs_per_input: u32::MAX }
    }

    fn output_layout(&self) -> FrameLayout {
        self.layout
    }

    fn output_time_base(&self, _input: TimeBase) -> TimeBase {
        self.output_tb
    }

    fn push(&mut self, frame: SharedFrame) -> Result<()> {
        let l = &self.layout;
        if frame.format() != l.format() || frame.width() != l.width() || frame.height() != l.height() {
            return Err(Error::invalid(format!(
                "{}x{} {} frame pushed to a frame-rate converter (expected {}x{} {})",
                frame.width(),
                frame.height(),
                frame.format().name(),
                l.width(),
                l.height(),
                l.format().name()
            )));
        }
        if self.flushed {
            return Err(Error::invalid("frame pushed after flush (expected no more input)"));
        }
        if self.pending.is_some() || self.held[1].is_some() {
            return Err(Error::invalid("frame pushed before the previous one was pulled through (expected pull until need-more)"));
        }
        self.pending = Some(frame);
        Ok(())
    }

    fn flush(&mut self) {
        self.flushed = true;
    }

    fn pull(&mut self) -> Result<Pull> {
        loop {
            if let Some(frame) = self.pending.take() {
                let Some(pts) = frame.props().pts else { continue };
                let start = rescale_near(pts, self.input_tb, self.output_tb);
                self.next_pts.get_or_insert(start);
                self.end = Some(pts.saturating_add(frame.props().duration.unwrap_or(0).max(0)));
                let slot = if self.held[0].is_none() { 0 } else { 1 };
                self.held[slot] = Some((frame, start));
                continue;
            }
            let Some(next) = self.next_pts else {
                return Ok(if self.flushed { Pull::Ended } else { Pull::NeedMore });
            };
            match (&self.held[0], &self.held[1]) {
                (Some(_), Some((_, following))) => {
                    if *following <= next {
                        // The next frame starts at or before this slot: this one is
                        // never shown (again).
                        self.held[0] = self.held[1].take();
                        continue;
                    }
                }
                (Some(_), None) if self.flushed => {
                    let end = self.end.map_or(next, |e| rescale_near(e, self.input_tb, self.output_tb));
                    if next >= end {
                        self.held[0] = None;
                        return Ok(Pull::Ended);
                    }
                }
                (Some(_), None) => return Ok(Pull::NeedMore),
                _ => return Ok(if self.flushed { Pull::Ended } else { Pull::NeedMore }),
            }
            let Some(out) = self.emit(next) else { return Ok(Pull::Full) };
            self.next_pts = Some(next.saturating_add(1));
            return Ok(Pull::Frame(out));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaling_rounds_halves_away_from_zero() {
        let (tb25, tb10) = (TimeBase::new(1, 25), TimeBase::new(1, 10));
        assert_eq!(rescale_near(5, tb25, tb10), 2); // 2.0
        assert_eq!(rescale_near(6, tb25, tb10), 2); // 2.4
        assert_eq!(rescale_near(10, TimeBase::new(1, 4), TimeBase::new(1, 1)), 3); // 2.5
        assert_eq!(rescale_near(-10, TimeBase::new(1, 4), TimeBase::new(1, 1)), -3);
        assert_eq!(rescale_near(1001, TimeBase::new(1, 24000), TimeBase::new(1001, 24000)), 1);
        assert_eq!(rescale_near(500, TimeBase::new(1, 24000), TimeBase::new(1001, 24000)), 0);
    }
}
