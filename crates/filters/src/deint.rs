//! The deinterlacing filter: a window of previous, current and next frames, one or two
//! output frames per input, with FFmpeg's yadif/bwdif handling of field order, of
//! progressive frames and of the first and last frames of a stream.

use crate::stripes::for_each_row;
use crate::{bwdif, yadif, Delay, Filter, Parallelism, Pull};
use std::fmt;
use transcode_core::{Acquire, Budget, Error, Result, TimeBase};
use transcode_frame_pool::{
    FieldOrder, Frame, FrameData, FrameLayout, FramePool, FramePoolConfig, FrameProps, PixelFormat, SharedFrame,
};

/// Which interpolation fills the missing lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// FFmpeg's `bwdif`: yadif's motion clamp around w3fdif's filters; sharper on
    /// moving detail. Default.
    #[default]
    Bwdif,
    /// FFmpeg's `yadif` with its spatial interlacing check (`mode=send_frame` or
    /// `send_field`).
    Yadif,
    /// FFmpeg's `yadif` without the spatial interlacing check (`mode=send_frame_nospatial`
    /// or `send_field_nospatial`): slightly faster, a little more flicker.
    YadifNoSpatialCheck,
}

/// How many frames come out per input frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rate {
    /// One frame per frame, from its first field (`mode=send_frame`). Output timestamps
    /// are the input's, in the input time base.
    FrameRate,
    /// One frame per field, doubling the frame rate (`mode=send_field`). Default, as in
    /// FFmpeg's bwdif: no motion is lost, at twice the frames downstream. Output
    /// timestamps count half ticks of the input time base, as FFmpeg counts them: the
    /// first field at `2 * pts`, the second at `pts + next_pts`.
    #[default]
    FieldRate,
}

/// Which field of a frame was captured first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parity {
    /// From each frame's [`FieldOrder`]; top first for frames marked progressive
    /// (`parity=auto`). Default.
    #[default]
    Auto,
    /// Top field first for every frame (`parity=tff`).
    TopFirst,
    /// Bottom field first for every frame (`parity=bff`).
    BottomFirst,
}

/// Which frames are deinterlaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldSelect {
    /// Every frame (`deint=all`). Default, as in FFmpeg: flags are often wrong.
    #[default]
    All,
    /// Only frames whose [`FieldOrder`] is interlaced (`deint=interlaced`); the others
    /// pass through unchanged.
    Interlaced,
}

/// Settings of a [`Deinterlace`] filter. The defaults are those of `ffmpeg -vf bwdif`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeinterlaceConfig {
    /// Default: [`Algorithm::Bwdif`].
    pub algorithm: Algorithm,
    /// Default: [`Rate::FieldRate`].
    pub rate: Rate,
    /// Default: [`Parity::Auto`].
    pub parity: Parity,
    /// Default: [`FieldSelect::All`].
    pub select: FieldSelect,
    /// Output frames the filter's pool holds, in use downstream or free.
    ///
    /// Default: `4`. More lets downstream hold more outputs at once (an encoder's
    /// lookahead), at the cost of one frame of memory each; fewer makes
    /// [`Pull::Full`] come sooner.
    pub pool_frames: u32,
    /// Default: [`Parallelism::Auto`].
    pub parallelism: Parallelism,
}

impl Default for DeinterlaceConfig {
    fn default() -> Self {
        DeinterlaceConfig {
            algorithm: Algorithm::Bwdif,
            rate: Rate::FieldRate,
            parity: Parity::Auto,
            select: FieldSelect::All,
            pool_frames: 4,
            parallelism: Parallelism::Auto,
        }
    }
}

/// A frame of the window, with the timestamp the filter uses for it (the frame's own,
/// or an extrapolated one for the copy of the last frame that stands in for the frame
/// after it at the end).
struct Slot {
    frame: SharedFrame,
    pts: Option<i64>,
}

/// The output due next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// The current frame, unchanged (a progressive frame with [`FieldSelect::Interlaced`]).
    Passthrough,
    /// The frame of the current frame's first field.
    First,
    /// The frame of its second field ([`Rate::FieldRate`]).
    Second,
}

/// Where the stream is, for bwdif, which fills the first field of a stream and the
/// last field at its end from the current field alone (FFmpeg's `current_field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// The next field deinterlaced is the first of the stream, or the last at its end.
    Intra,
    Normal,
    /// The end was reached: the current frame's second field is the last.
    BackEnd,
}

/// The deinterlacing filter ([`Filter`]): FFmpeg's `bwdif` and `yadif`, bit-exact for
/// 8-bit planar 4:2:0, 4:2:2 and 4:4:4.
///
/// # Delay
///
/// It outputs a frame once the frame after it has been pushed: it holds the previous,
/// current and next frames (and one pushed, not yet consumed). At the start, the first
/// frame stands in for the one before it; at the end ([`Filter::flush`]), the last
/// frame stands in for the one after it, as in FFmpeg.
///
/// # Timing
///
/// See [`Rate`]: with [`Rate::FieldRate`] output timestamps count half ticks of the
/// input time base ([`Filter::output_time_base`]), and each field lasts the input
/// frame's `duration` of those half ticks.
pub struct Deinterlace {
    config: DeinterlaceConfig,
    layout: FrameLayout,
    pool: FramePool,
    prev: Option<Slot>,
    cur: Option<Slot>,
    next: Option<Slot>,
    input: Option<SharedFrame>,
    job: Option<Job>,
    field: Field,
    flushed: bool,
    end_pushed: bool,
}

impl fmt::Debug for Deinterlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deinterlace")
            .field("config", &self.config)
            .field("layout", &self.layout)
            .field("job", &self.job)
            .field("field", &self.field)
            .field("flushed", &self.flushed)
            .finish()
    }
}

impl Deinterlace {
    /// A deinterlacer for input frames of `input`'s format and size. Its output pool
    /// (`config.pool_frames` frames of the same layout) is registered with `budget`.
    ///
    /// Errors: formats other than 8-bit planar YUV (unsupported), frames smaller than
    /// 3x3 (as FFmpeg refuses them), a pool of no frames, or a pool the budget cannot
    /// hold.
    pub fn new(config: DeinterlaceConfig, input: FrameLayout, budget: &Budget) -> Result<Deinterlace> {
        match input.format() {
            PixelFormat::Yuv420p | PixelFormat::Yuv422p | PixelFormat::Yuv444p => {}
            other => {
                return Err(Error::unsupported(format!(
                    "deinterlacing {} (expected yuv420p, yuv422p or yuv444p)",
                    other.name()
                )))
            }
        }
        if input.width() < 3 || input.height() < 3 {
            return Err(Error::invalid(format!(
                "deinterlacing a {}x{} frame (expected at least 3x3)",
                input.width(),
                input.height()
            )));
        }
        let pool = FramePool::new(
            FramePoolConfig { name: "deinterlace", capacity: config.pool_frames, ..FramePoolConfig::new(input, &Default::default()) },
            budget,
        )?;
        Ok(Deinterlace {
            config,
            layout: input,
            pool,
            prev: None,
            cur: None,
            next: None,
            input: None,
            job: None,
            field: Field::Intra,
            flushed: false,
            end_pushed: false,
        })
    }

    /// Moves the window on by one frame and decides what it outputs.
    fn shift(&mut self, frame: SharedFrame, pts: Option<i64>) {
        self.prev = self.cur.take();
        self.cur = self.next.take();
        let cur_missing = self.cur.is_none();
        self.next = Some(Slot { frame: frame.clone(), pts });
        if cur_missing {
            // The first frame: it becomes current once the next one arrives, and stands
            // in for the frame before it.
            self.cur = Some(Slot { frame, pts });
            self.field = Field::Intra;
            return;
        }
        let cur = self.cur.as_ref().map(|s| s.frame.props().field_order);
        if self.config.select == FieldSelect::Interlaced && cur.is_some_and(|o| !o.is_interlaced()) {
            self.job = Some(Job::Passthrough);
            // Not read again: the next shift makes the current frame the previous one.
            self.prev = None;
        } else {
            self.job = Some(Job::First);
        }
    }

    /// Produces the output of `job`; `None` when the pool has no free frame.
    fn run(&mut self, job: Job) -> Option<SharedFrame> {
        let (prev, cur, next) = match (&self.prev, &self.cur, &self.next) {
            (p, Some(c), Some(n)) => (p.as_ref().unwrap_or(c), c, n),
            // Jobs are only set with a full window.
            _ => return None,
        };
        let props = *cur.frame.props();
        let field_rate = self.config.rate == Rate::FieldRate;
        if job == Job::Passthrough {
            if !field_rate {
                return Some(cur.frame.clone());
            }
            // The frame is shared read-only, so the doubled timestamp needs a copy.
            let mut out = match self.pool.try_acquire() {
                Acquire::Ready(f) => f,
                Acquire::Full => return None,
            };
            copy_pixels(&cur.frame, &mut out);
            *out.props_mut() =
                FrameProps { pts: props.pts.map(|p| p.saturating_mul(2)), duration: props.duration.map(|d| d.saturating_mul(2)), ..props };
            return Some(out.into_shared());
        }
        let mut out = match self.pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => return None,
        };
        let second = job == Job::Second;
        let tff = match self.config.parity {
            Parity::Auto => props.field_order != FieldOrder::BottomFirst,
            Parity::TopFirst => true,
            Parity::BottomFirst => false,
        };
        if second && self.field == Field::BackEnd {
            self.field = Field::Intra;
        }
        let pass = Pass {
            // Output lines whose parity differs from the kept field's are interpolated.
            interpolate_odd: tff ^ second,
            first_field: !second,
            intra: self.field == Field::Intra,
            algorithm: self.config.algorithm,
        };
        pass.run(&prev.frame, &cur.frame, &next.frame, &mut out, self.config.parallelism);
        if self.field == Field::Intra {
            self.field = Field::Normal;
        }
        let pts = match (job, field_rate) {
            (_, false) => props.pts,
            (Job::Second, true) => cur.pts.zip(next.pts).map(|(c, n)| c.saturating_add(n)),
            // Saturating: damaged timestamps must not overflow.
            (_, true) => props.pts.map(|p| p.saturating_mul(2)),
        };
        // A picture's closed captions go with the first frame made of it only: at
        // field rate, repeating them on the second would show every caption twice.
        let captions = if second { Default::default() } else { props.captions };
        *out.props_mut() = FrameProps { pts, field_order: FieldOrder::Progressive, captions, ..props };
        Some(out.into_shared())
    }
}

impl Filter for Deinterlace {
    fn delay(&self) -> Delay {
        Delay {
            held_inputs: 4,
            future_frames: 1,
            max_outputs_per_input: if self.config.rate == Rate::FieldRate { 2 } else { 1 },
        }
    }

    fn output_layout(&self) -> FrameLayout {
        self.layout
    }

    fn output_time_base(&self, input: TimeBase) -> TimeBase {
        match self.config.rate {
            Rate::FrameRate => input,
            Rate::FieldRate => TimeBase::new(input.num, input.den.saturating_mul(2)),
        }
    }

    fn push(&mut self, frame: SharedFrame) -> Result<()> {
        let l = &self.layout;
        if frame.format() != l.format() || frame.width() != l.width() || frame.height() != l.height() {
            return Err(Error::invalid(format!(
                "{}x{} {} frame pushed to a deinterlacer (expected {}x{} {})",
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
        if self.input.is_some() || self.job.is_some() {
            return Err(Error::invalid("frame pushed before the previous one was pulled through (expected pull until need-more)"));
        }
        self.input = Some(frame);
        Ok(())
    }

    fn flush(&mut self) {
        self.flushed = true;
    }

    fn pull(&mut self) -> Result<Pull> {
        loop {
            if let Some(job) = self.job {
                let Some(out) = self.run(job) else { return Ok(Pull::Full) };
                self.job = (job == Job::First && self.config.rate == Rate::FieldRate).then_some(Job::Second);
                return Ok(Pull::Frame(out));
            }
            if let Some(frame) = self.input.take() {
                let pts = frame.props().pts;
                self.shift(frame, pts);
                continue;
            }
            if self.flushed && !self.end_pushed {
                self.end_pushed = true;
                if let (Some(cur), Some(next)) = (&self.cur, &self.next) {
                    // FFmpeg's end of stream: the last frame again, timed one frame
                    // interval after it.
                    let pts = next.pts.zip(cur.pts).map(|(n, c)| n.saturating_mul(2).saturating_sub(c));
                    let frame = next.frame.clone();
                    self.field = Field::BackEnd;
                    self.shift(frame, pts);
                    continue;
                }
            }
            return Ok(if self.flushed { Pull::Ended } else { Pull::NeedMore });
        }
    }
}

/// Copies every plane of `src` into `dst` of the same layout (strides may differ).
fn copy_pixels(src: &FrameData, dst: &mut Frame) {
    for (i, p) in src.layout().planes().iter().enumerate() {
        for y in 0..p.rows {
            dst.row_mut(i, y).copy_from_slice(src.row(i, y));
        }
    }
}

/// One deinterlacing pass: a frame from one field of the current frame.
#[derive(Clone, Copy)]
struct Pass {
    interpolate_odd: bool,
    /// The kept field is the current frame's first: the missing lines lie between the
    /// previous frame and this one (`prev2 = prev`, `next2 = cur`); for the second,
    /// between this one and the next.
    first_field: bool,
    /// bwdif's first/last field of the stream.
    intra: bool,
    algorithm: Algorithm,
}

/// One plane of a source frame.
#[derive(Clone, Copy)]
struct Src<'a> {
    data: &'a [u8],
    stride: usize,
}

impl<'a> Src<'a> {
    fn of(f: &'a FrameData, plane: usize) -> Src<'a> {
        Src { data: f.plane(plane), stride: f.stride(plane) }
    }
}

/// The three frames' planes and the plane's size, with edge-aware row access.
struct Planes<'a> {
    prev: Src<'a>,
    cur: Src<'a>,
    next: Src<'a>,
    w: usize,
    h: usize,
}

impl<'a> Planes<'a> {
    /// Row `y` of `s`, `y` clamped into the plane: filters only ask for rows outside
    /// it on planes under 4 lines high, where FFmpeg reads outside the picture.
    #[inline]
    fn row(&self, s: Src<'a>, y: isize) -> &'a [u8] {
        let y = y.clamp(0, self.h as isize - 1) as usize;
        &s.data[y * s.stride..y * s.stride + self.w]
    }
}

impl Pass {
    fn run(self, prev: &FrameData, cur: &FrameData, next: &FrameData, out: &mut Frame, parallelism: Parallelism) {
        let layout = *out.layout();
        let [d0, d1, d2] = out.planes_mut();
        for (i, dst) in [d0, d1, d2].into_iter().enumerate().take(layout.plane_count()) {
            let pl = layout.plane(i);
            let planes = Planes {
                prev: Src::of(prev, i),
                cur: Src::of(cur, i),
                next: Src::of(next, i),
                w: pl.row_bytes,
                h: pl.rows,
            };
            for_each_row(dst, pl.stride, pl.rows, pl.row_bytes, parallelism, |y, row| {
                if (y & 1 == 1) != self.interpolate_odd {
                    row.copy_from_slice(planes.row(planes.cur, y as isize));
                } else {
                    self.line(&planes, y, row);
                }
            });
        }
    }

    /// Interpolates output line `y` into `dst`.
    fn line<'a>(self, p: &Planes<'a>, y: usize, dst: &mut [u8]) {
        let (h, yi) = (p.h, y as isize);
        // The lines above and below; at the top and bottom the one line that exists is
        // used for both.
        let up = if y > 0 { yi - 1 } else { yi + 1 };
        let down = if y + 1 < h { yi + 1 } else { yi - 1 };
        let (p2, n2) = if self.first_field { (p.prev, p.cur) } else { (p.cur, p.next) };
        let r = |s: Src<'a>, y: isize| -> &'a [u8] { p.row(s, y) };
        match self.algorithm {
            Algorithm::Yadif | Algorithm::YadifNoSpatialCheck => {
                // The check is skipped where lines two away would leave the picture.
                let spatial = self.algorithm == Algorithm::Yadif && !(y == 1 || y + 2 == h);
                let (up2, down2) = (2 * up - yi, 2 * down - yi);
                let lines = yadif::Lines {
                    c: r(p.cur, up),
                    e: r(p.cur, down),
                    prev_c: r(p.prev, up),
                    prev_e: r(p.prev, down),
                    next_c: r(p.next, up),
                    next_e: r(p.next, down),
                    p2: r(p2, yi),
                    n2: r(n2, yi),
                    p2_c2: r(p2, up2),
                    n2_c2: r(n2, up2),
                    p2_e2: r(p2, down2),
                    n2_e2: r(n2, down2),
                };
                yadif::line(dst, &lines, spatial);
            }
            Algorithm::Bwdif => {
                let kind = if self.intra {
                    bwdif::Kind::Intra
                } else if y < 4 || y + 5 > h {
                    bwdif::Kind::Edge { spatial: !(y < 2 || y + 3 > h) }
                } else {
                    bwdif::Kind::Full
                };
                let up3 = if y > 2 { yi - 3 } else { yi + 1 };
                let down3 = if y + 3 < h { yi + 3 } else { yi - 1 };
                let lines = bwdif::Lines {
                    c: r(p.cur, up),
                    e: r(p.cur, down),
                    c3: r(p.cur, up3),
                    e3: r(p.cur, down3),
                    prev_c: r(p.prev, up),
                    prev_e: r(p.prev, down),
                    next_c: r(p.next, up),
                    next_e: r(p.next, down),
                    p2: r(p2, yi),
                    n2: r(n2, yi),
                    p2_m2: r(p2, yi - 2),
                    n2_m2: r(n2, yi - 2),
                    p2_p2: r(p2, yi + 2),
                    n2_p2: r(n2, yi + 2),
                    p2_m4: r(p2, yi - 4),
                    n2_m4: r(n2, yi - 4),
                    p2_p4: r(p2, yi + 4),
                    n2_p4: r(n2, yi + 4),
                };
                bwdif::line(dst, &lines, kind);
            }
        }
    }
}
