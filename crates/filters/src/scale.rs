//! The scaling filter: separable polyphase resampling (Lanczos, bicubic, bilinear) of
//! planar YUV with chroma siting, output size from the input's display aspect ratio.
//!
//! Each plane is filtered horizontally into a 16-bit intermediate plane (every source
//! row), then vertically into the output frame. Filter tables are computed once, when
//! the filter is made; the intermediate planes are allocated then too, reserved against
//! the budget, so scaling a frame allocates nothing.

use crate::stripes::for_each_row;
use crate::{Delay, Filter, Parallelism, Pull};
use rayon::prelude::*;
use std::fmt;
use transcode_core::{Acquire, Budget, Error, Reservation, Result, TimeBase};
use transcode_frame_pool::{FrameLayout, FramePool, FramePoolConfig, FrameProps, PixelFormat, SharedFrame};

/// The resampling kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScaleFilter {
    /// Windowed sinc over three lobes (FFmpeg's `lanczos`, `param0=3`). Sharpest, with
    /// slight ringing at hard edges. Default.
    #[default]
    Lanczos,
    /// Keys' cubic with `a = -0.6` (FFmpeg's `bicubic`, B=0, C=0.6).
    Bicubic,
    /// Linear interpolation, a triangle widened when downscaling (FFmpeg's
    /// `bilinear`). Softest and fastest.
    Bilinear,
}

impl ScaleFilter {
    /// Radius of the kernel in source samples at a scale of 1.
    fn radius(self) -> f64 {
        match self {
            ScaleFilter::Lanczos => 3.0,
            ScaleFilter::Bicubic => 2.0,
            ScaleFilter::Bilinear => 1.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            ScaleFilter::Lanczos => {
                if x >= 3.0 {
                    0.0
                } else if x < 1e-9 {
                    1.0
                } else {
                    let px = std::f64::consts::PI * x;
                    3.0 * px.sin() * (px / 3.0).sin() / (px * px)
                }
            }
            ScaleFilter::Bicubic => {
                // Mitchell-Netravali with B = 0, C = 0.6.
                let a = -0.6;
                if x < 1.0 {
                    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
                } else {
                    0.0
                }
            }
            ScaleFilter::Bilinear => (1.0 - x).max(0.0),
        }
    }
}

/// The output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Exactly this size. The output SAR keeps the input's display aspect ratio.
    Exact { width: u32, height: u32 },
    /// This height; the width follows the display aspect ratio, rounded to a multiple
    /// of 2 (FFmpeg's `scale=-2:H`).
    Height(u32),
    /// This width; the height follows, rounded to a multiple of 2 (`scale=W:-2`).
    Width(u32),
}

/// What happens to the sample aspect ratio when the size is derived from the aspect
/// ratio ([`Size::Height`], [`Size::Width`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SarMode {
    /// The output has square pixels: 1440x1080 at SAR 4:3 to height 720 is 1280x720 at
    /// 1:1. Default: what players and encoders without SAR support show correctly.
    #[default]
    Square,
    /// The output keeps the input's SAR and its storage aspect (1440x1080 at 4:3 to
    /// height 720 is 960x720 at 4:3), as FFmpeg's `scale=-2:720` does.
    Keep,
}

/// Where 4:2:0 and 4:2:2 chroma samples sit relative to luma, horizontally (vertically,
/// 4:2:0 chroma is always midway between two luma lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChromaSiting {
    /// On the left luma sample of each pair: MPEG-2, H.264, HEVC and BT.601/709
    /// broadcast video (`chroma_location=left`). Default.
    #[default]
    Left,
    /// Between the two luma samples: JPEG, MPEG-1, and what FFmpeg 5.1's `scale`
    /// assumes unless told (`in_h_chr_pos=128`).
    Center,
}

/// Settings of a [`Scale`] filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleConfig {
    /// The output size. No default: a scaler is made for a size.
    pub size: Size,
    /// Default: [`ScaleFilter::Lanczos`].
    pub filter: ScaleFilter,
    /// Default: [`SarMode::Square`].
    pub sar: SarMode,
    /// Siting of the input's and output's chroma. Default: [`ChromaSiting::Left`].
    pub chroma_siting: ChromaSiting,
    /// Output frames the filter's pool holds. Default: `4`; see
    /// [`crate::DeinterlaceConfig::pool_frames`].
    pub pool_frames: u32,
    /// Default: [`Parallelism::Auto`].
    pub parallelism: Parallelism,
}

impl ScaleConfig {
    /// A configuration for `size` with the defaults above.
    pub fn new(size: Size) -> ScaleConfig {
        ScaleConfig {
            size,
            filter: ScaleFilter::Lanczos,
            sar: SarMode::Square,
            chroma_siting: ChromaSiting::Left,
            pool_frames: 4,
            parallelism: Parallelism::Auto,
        }
    }
}

/// Coefficients are in units of 1/2^14; the intermediate keeps 7 fractional bits.
pub(crate) const COEF_BITS: u32 = 14;
const MID_SHIFT: u32 = 7;

/// Whether a [`Table`]'s windows are padded to vector widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    VectorWidth,
    None,
}

/// One direction's filter: for each output sample the first source sample and `taps`
/// coefficients, the window lying entirely inside the source (taps beyond the edge are
/// folded onto the edge sample, which is the same as repeating it).
#[derive(Debug, Clone)]
pub(crate) struct Table {
    taps: usize,
    pub(crate) starts: Vec<u32>,
    coefs: Vec<i16>,
}

impl Table {
    /// Output sample `i` is centred on source position `(i + shift) * scale - offset`
    /// (in source samples, 0 being the centre of the first), see [`plane_geometry`].
    pub(crate) fn new(filter: ScaleFilter, src: usize, dst: usize, map: impl Fn(usize) -> f64, scale: f64, padding: Padding) -> Table {
        let stretch = scale.max(1.0);
        let radius = filter.radius() * stretch;
        // Horizontal windows are rounded up to 4 or a multiple of 8 taps (the extra ones
        // weigh zero) so that each dot product fills vectors; vertical taps are whole
        // rows, where padding would only add work.
        let needed = (2.0 * radius).ceil() as usize + 1;
        let padded = match padding {
            Padding::VectorWidth if needed <= 4 => 4,
            Padding::VectorWidth => needed.div_ceil(8) * 8,
            Padding::None => needed,
        };
        let taps = padded.min(src).max(1);
        let mut starts = Vec::with_capacity(dst);
        let mut coefs = vec![0i16; dst * taps];
        let mut weights = vec![0f64; taps];
        for i in 0..dst {
            let centre = map(i);
            let first = (centre - radius).floor() as i64 + 1;
            let start = first.clamp(0, (src - taps) as i64) as usize;
            weights.fill(0.0);
            let mut sum = 0.0;
            for k in first..=(centre + radius).floor() as i64 {
                let wgt = filter.weight((k as f64 - centre) / stretch);
                let at = k.clamp(0, src as i64 - 1) as usize;
                // Samples outside the window (beyond the picture's edge, or past a
                // window shrunk to the picture) fold onto its nearest sample.
                let slot = at.clamp(start, start + taps - 1) - start;
                weights[slot] += wgt;
                sum += wgt;
            }
            if sum.abs() < 1e-12 {
                weights.fill(0.0);
                weights[(centre.round().clamp(0.0, (src - 1) as f64) as usize).clamp(start, start + taps - 1) - start] = 1.0;
                sum = 1.0;
            }
            // Quantise with the rounding error carried to the next tap, so the taps sum
            // to exactly 1.0 and a flat area stays flat.
            let one = (1 << COEF_BITS) as f64;
            let mut carry = 0.0;
            for (c, w) in coefs[i * taps..(i + 1) * taps].iter_mut().zip(&weights) {
                let v = w / sum * one + carry;
                let q = v.round();
                carry = v - q;
                *c = q as i16;
            }
            starts.push(start as u32);
        }
        Table { taps, starts, coefs }
    }

    pub(crate) fn coefs(&self, i: usize) -> &[i16] {
        &self.coefs[i * self.taps..(i + 1) * self.taps]
    }
}

/// Horizontal and vertical tables of one plane, and its intermediate plane
/// (`src_rows` rows of `dst_width` samples).
#[derive(Debug)]
struct PlaneScaler {
    h: Table,
    v: Table,
    src_w: usize,
    src_rows: usize,
    dst_w: usize,
    mid: Vec<i16>,
}

/// The scaling filter ([`Filter`]): no delay, one output per input.
///
/// The output size is settled when the filter is made, from the input layout and the
/// SAR its frames will carry; frames with another SAR are refused, frames with none are
/// taken to have that one.
pub struct Scale {
    config: ScaleConfig,
    input: FrameLayout,
    input_sar: (u32, u32),
    output: FrameLayout,
    output_sar: (u32, u32),
    pool: FramePool,
    planes: Vec<PlaneScaler>,
    pending: Option<SharedFrame>,
    flushed: bool,
    _scratch: Reservation,
}

impl fmt::Debug for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scale")
            .field("config", &self.config)
            .field("input", &self.input)
            .field("output", &self.output)
            .field("output_sar", &self.output_sar)
            .finish()
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

fn reduce(n: u64, d: u64) -> (u32, u32) {
    let g = gcd(n, d);
    let (n, d) = (n / g, d / g);
    // Keep within u32 for absurd inputs by scaling both down together.
    let shift = (64 - n.max(d).leading_zeros()).saturating_sub(31);
    (((n >> shift).max(1)) as u32, ((d >> shift).max(1)) as u32)
}

/// Rounds `n / d` to the nearest multiple of 2 (at least 2), as FFmpeg's `-2` does.
fn even(n: u64, d: u64) -> u64 {
    ((n + d) / (2 * d)).max(1) * 2
}

/// The output size and SAR for an input of `w`x`h` at `sar`.
///
/// Errors: a zero or out-of-range size, or a zero SAR term.
pub fn output_geometry(config: &ScaleConfig, w: u32, h: u32, sar: (u32, u32)) -> Result<((u32, u32), (u32, u32))> {
    let (sn, sd) = (sar.0 as u64, sar.1 as u64);
    if sn == 0 || sd == 0 {
        return Err(Error::invalid(format!("sample aspect ratio {}:{} (expected both terms above 0)", sar.0, sar.1)));
    }
    let (w64, h64) = (w as u64, h as u64);
    // Width and height of the picture as displayed, in units where the input's pixel
    // is sn wide and sd high.
    let (dw, dh) = match config.sar {
        SarMode::Square => (w64 * sn, h64 * sd),
        SarMode::Keep => (w64, h64),
    };
    let (ow, oh) = match config.size {
        Size::Exact { width, height } => (width as u64, height as u64),
        Size::Height(oh) => (even(oh as u64 * dw, dh), oh as u64),
        Size::Width(ow) => (ow as u64, even(ow as u64 * dh, dw)),
    };
    let max = FrameLayout::MAX_DIMENSION as u64;
    if ow == 0 || oh == 0 || ow > max || oh > max {
        return Err(Error::invalid(format!("scaled size {ow}x{oh} (expected 1..={max} each way)")));
    }
    // The SAR that keeps the display aspect: (w * sn / h * sd) = (ow * osar) / oh.
    let out_sar = match (config.size, config.sar) {
        (Size::Exact { .. }, _) | (_, SarMode::Keep) => reduce(w64 * sn * oh, h64 * sd * ow),
        (_, SarMode::Square) => (1, 1),
    };
    Ok(((ow as u32, oh as u32), out_sar))
}

impl Scale {
    /// A scaler for frames of `input` whose SAR is `input_sar` (`None`: square).
    /// Computes the filter tables and reserves the intermediate planes and the output
    /// pool against `budget`.
    ///
    /// Errors: formats other than 8-bit planar YUV (unsupported), a bad size or SAR,
    /// or a budget too small.
    pub fn new(config: ScaleConfig, input: FrameLayout, input_sar: Option<(u32, u32)>, budget: &Budget) -> Result<Scale> {
        if !matches!(input.format(), PixelFormat::Yuv420p | PixelFormat::Yuv422p | PixelFormat::Yuv444p) {
            return Err(Error::unsupported(format!(
                "scaling {} (expected yuv420p, yuv422p or yuv444p)",
                input.format().name()
            )));
        }
        let input_sar = input_sar.unwrap_or((1, 1));
        let ((ow, oh), output_sar) = output_geometry(&config, input.width(), input.height(), input_sar)?;
        let output = FrameLayout::new(input.format(), ow, oh)?;
        let mut scratch_bytes = 0u64;
        for i in 0..input.plane_count() {
            let (si, di) = (input.plane(i), output.plane(i));
            scratch_bytes += (PlaneScaler::mid_len(si.row_bytes, si.rows, di.row_bytes, di.rows) * 2) as u64;
        }
        let scratch = match budget.try_reserve("scaler intermediate planes", scratch_bytes)? {
            Acquire::Ready(r) => r,
            Acquire::Full => {
                return Err(Error::LimitExceeded {
                    what: "scaler intermediate planes",
                    requested: scratch_bytes,
                    limit: budget.available(),
                })
            }
        };
        let pool = FramePool::new(
            FramePoolConfig { name: "scale", capacity: config.pool_frames, ..FramePoolConfig::new(output, &Default::default()) },
            budget,
        )?;
        let (sx, sy) = input.format().chroma_shift();
        let planes = (0..input.plane_count())
            .map(|i| {
                let (si, di) = (input.plane(i), output.plane(i));
                let (shift_x, shift_y) = if i == 0 { (0, 0) } else { (sx, sy) };
                let cosited = config.chroma_siting == ChromaSiting::Left;
                let h = axis_table(config.filter, input.width(), ow, shift_x, si.row_bytes, di.row_bytes, cosited, Padding::VectorWidth);
                let v = axis_table(config.filter, input.height(), oh, shift_y, si.rows, di.rows, false, Padding::None);
                PlaneScaler { h, v, src_w: si.row_bytes, src_rows: si.rows, dst_w: di.row_bytes, mid: vec![0; PlaneScaler::mid_len(si.row_bytes, si.rows, di.row_bytes, di.rows)] }
            })
            .collect();
        Ok(Scale { config, input, input_sar, output, output_sar, pool, planes, pending: None, flushed: false, _scratch: scratch })
    }

    /// The SAR of every output frame.
    pub fn output_sar(&self) -> (u32, u32) {
        self.output_sar
    }
}

/// The table of one axis of one plane. `luma_src`/`luma_dst` are the luma sizes along
/// the axis, `shift` the plane's subsampling (0 or 1), `src`/`dst` its sample counts.
/// The scale factor is the luma one, so chroma stays registered with luma also for odd
/// sizes; `cosited` puts subsampled samples on the first luma sample of their pair
/// instead of between the two.
#[allow(clippy::too_many_arguments)]
fn axis_table(
    filter: ScaleFilter,
    luma_src: u32,
    luma_dst: u32,
    shift: u32,
    src: usize,
    dst: usize,
    cosited: bool,
    padding: Padding,
) -> Table {
    let scale = luma_src as f64 / luma_dst as f64;
    let sub = (1u32 << shift) as f64;
    // Position of sample j of a plane in luma samples: j * sub + p.
    let p = if shift == 0 || cosited { 0.0 } else { (sub - 1.0) / 2.0 };
    let map = move |j: usize| {
        let luma_dst_pos = j as f64 * sub + p;
        let luma_src_pos = (luma_dst_pos + 0.5) * scale - 0.5;
        (luma_src_pos - p) / sub
    };
    Table::new(filter, src, dst, map, scale, padding)
}

impl PlaneScaler {
    /// Which pass runs first: the one that leaves the smaller intermediate, so the
    /// costlier horizontal pass (each output gathers its own window) runs on as few
    /// rows as possible.
    fn vertical_first(&self) -> bool {
        self.v.starts.len() < self.src_rows
    }

    /// Samples of the intermediate plane.
    fn mid_len(src_w: usize, src_rows: usize, dst_w: usize, dst_rows: usize) -> usize {
        if dst_rows < src_rows {
            dst_rows * src_w
        } else {
            src_rows * dst_w
        }
    }

    fn run(&mut self, src: &[u8], src_stride: usize, dst: &mut [u8], dst_stride: usize, dst_rows: usize, parallelism: Parallelism) {
        let vertical_first = self.vertical_first();
        let (h, v) = (&self.h, &self.v);
        let (src_w, dst_w, src_rows) = (self.src_w, self.dst_w, self.src_rows);
        // The intermediate keeps MID_SHIFT fractional bits.
        let to_mid = |acc: i32| (acc >> (COEF_BITS - MID_SHIFT)).max(i16::MIN as i32).min(i16::MAX as i32) as i16;
        let to_pixel = |acc: i32| (acc >> (COEF_BITS + MID_SHIFT)).clamp(0, 255) as u8;
        const MID_ROUND: i32 = 1 << (COEF_BITS - MID_SHIFT - 1);
        const PIXEL_ROUND: i32 = 1 << (COEF_BITS + MID_SHIFT - 1);
        let (mid_w, mid_rows) = if vertical_first { (src_w, dst_rows) } else { (dst_w, src_rows) };
        let mid = &mut self.mid[..mid_w * mid_rows];
        let first = |y: usize, out: &mut [i16]| {
            if vertical_first {
                let rows = |k: usize| &src[(v.starts[y] as usize + k) * src_stride..][..src_w];
                vpass(rows, v.coefs(y), MID_ROUND, out, to_mid);
            } else {
                hpass(&src[y * src_stride..y * src_stride + src_w], out, h, MID_ROUND, to_mid);
            }
        };
        let striped = parallelism == Parallelism::Auto
            && rayon::current_num_threads() > 1
            && mid_rows * mid_w >= Parallelism::MIN_STRIPED_SAMPLES;
        if striped {
            mid.par_chunks_mut(mid_w * 16).enumerate().for_each(|(i, chunk)| {
                for (j, out) in chunk.chunks_mut(mid_w).enumerate() {
                    first(i * 16 + j, out);
                }
            });
        } else {
            for (y, out) in mid.chunks_mut(mid_w).enumerate() {
                first(y, out);
            }
        }
        let mid = &*mid;
        for_each_row(dst, dst_stride, dst_rows, dst_w, parallelism, |y, out| {
            if vertical_first {
                hpass(&mid[y * mid_w..(y + 1) * mid_w], out, h, PIXEL_ROUND, to_pixel);
            } else {
                let rows = |k: usize| &mid[(v.starts[y] as usize + k) * mid_w..][..mid_w];
                vpass(rows, v.coefs(y), PIXEL_ROUND, out, to_pixel);
            }
        });
    }
}

/// One row through the horizontal table: each output sample is the dot product of its
/// window of `row` with its taps, plus `round`, through `finish`.
fn hpass<S: Copy + Into<i32>, O>(row: &[S], out: &mut [O], t: &Table, round: i32, finish: impl Fn(i32) -> O) {
    macro_rules! fixed {
        ($n:literal) => {{
            for ((o, &s), c) in out.iter_mut().zip(&t.starts).zip(t.coefs.chunks_exact($n)) {
                let win: &[S; $n] = row[s as usize..s as usize + $n].try_into().expect("window inside the row");
                let c: &[i16; $n] = c.try_into().expect("taps per sample");
                let mut acc = round;
                for k in 0..$n {
                    acc += c[k] as i32 * win[k].into();
                }
                *o = finish(acc);
            }
        }};
    }
    match t.taps {
        2 => fixed!(2),
        3 => fixed!(3),
        4 => fixed!(4),
        8 => fixed!(8),
        16 => fixed!(16),
        24 => fixed!(24),
        n => {
            for ((o, &s), c) in out.iter_mut().zip(&t.starts).zip(t.coefs.chunks_exact(n)) {
                let win = &row[s as usize..s as usize + n];
                let acc: i32 = win.iter().zip(c).map(|(&p, &c)| p.into() * c as i32).sum();
                *o = finish(acc + round);
            }
        }
    }
}

/// One output row from source rows `rows(0)..rows(coefs.len() - 1)` (each `out.len()`
/// samples): per column the dot product with the taps, plus `round`, through `finish`.
fn vpass<'a, S: Copy + Into<i32> + 'a, O>(rows: impl Fn(usize) -> &'a [S], coefs: &[i16], round: i32, out: &mut [O], finish: impl Fn(i32) -> O) {
    const LANES: usize = 32;
    let w = out.len();
    let mut x = 0;
    // Blocks of LANES columns with the accumulators in an array: LLVM keeps them in
    // vector registers and vectorises the multiply-adds.
    while x + LANES <= w {
        let mut acc = [round; LANES];
        for (k, &c) in coefs.iter().enumerate() {
            let r: &[S; LANES] = rows(k)[x..x + LANES].try_into().expect("a block of the row");
            for j in 0..LANES {
                acc[j] += c as i32 * r[j].into();
            }
        }
        for (o, a) in out[x..x + LANES].iter_mut().zip(acc) {
            *o = finish(a);
        }
        x += LANES;
    }
    for (j, o) in out.iter_mut().enumerate().skip(x) {
        let mut a = round;
        for (k, &c) in coefs.iter().enumerate() {
            a += c as i32 * rows(k)[j].into();
        }
        *o = finish(a);
    }
}

impl Filter for Scale {
    fn delay(&self) -> Delay {
        Delay { held_inputs: 1, future_frames: 0, max_outputs_per_input: 1 }
    }

    fn output_layout(&self) -> FrameLayout {
        self.output
    }

    fn output_time_base(&self, input: TimeBase) -> TimeBase {
        input
    }

    fn push(&mut self, frame: SharedFrame) -> Result<()> {
        let l = &self.input;
        if frame.format() != l.format() || frame.width() != l.width() || frame.height() != l.height() {
            return Err(Error::invalid(format!(
                "{}x{} {} frame pushed to a scaler (expected {}x{} {})",
                frame.width(),
                frame.height(),
                frame.format().name(),
                l.width(),
                l.height(),
                l.format().name()
            )));
        }
        // A frame without a SAR (unknown) is taken to have the one negotiated.
        let sar = frame.props().sar.unwrap_or(self.input_sar);
        if reduce(sar.0 as u64, sar.1 as u64) != reduce(self.input_sar.0 as u64, self.input_sar.1 as u64) {
            return Err(Error::invalid(format!(
                "frame with SAR {}:{} pushed to a scaler (expected {}:{}, the SAR it was made for)",
                sar.0, sar.1, self.input_sar.0, self.input_sar.1
            )));
        }
        if self.flushed {
            return Err(Error::invalid("frame pushed after flush (expected no more input)"));
        }
        if self.pending.is_some() {
            return Err(Error::invalid("frame pushed before the previous one was pulled through (expected pull until need-more)"));
        }
        self.pending = Some(frame);
        Ok(())
    }

    fn flush(&mut self) {
        self.flushed = true;
    }

    fn pull(&mut self) -> Result<Pull> {
        let Some(src) = self.pending.as_ref() else {
            return Ok(if self.flushed { Pull::Ended } else { Pull::NeedMore });
        };
        let mut out = match self.pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => return Ok(Pull::Full),
        };
        let layout = self.output;
        {
            let [d0, d1, d2] = out.planes_mut();
            for (i, (dst, plane)) in [d0, d1, d2].into_iter().zip(self.planes.iter_mut()).enumerate() {
                let dl = layout.plane(i);
                plane.run(src.plane(i), src.stride(i), dst, dl.stride, dl.rows, self.config.parallelism);
            }
        }
        *out.props_mut() = FrameProps { sar: Some(self.output_sar), ..*src.props() };
        self.pending = None;
        Ok(Pull::Frame(out.into_shared()))
    }
}
