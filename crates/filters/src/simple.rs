//! One-frame-in, one-frame-out filters with no delay: crop, pad and pixel-format
//! conversion (4:2:2 to 4:2:0, 10-bit to 8-bit, full to limited range), on a shared
//! push/pull shell.

use crate::scale::{Padding, Table, COEF_BITS};
use crate::stripes::for_each_row;
use crate::{Delay, Filter, Parallelism, Pull, ScaleFilter};
use std::fmt;
use transcode_core::{Acquire, Budget, Error, Result, TimeBase};
use transcode_frame_pool::{Frame, FrameData, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};

/// What a one-to-one filter does to the pixels.
trait Kernel: Send + fmt::Debug {
    /// Fills `dst` (of the output layout) from `src` (of the input layout).
    fn apply(&self, src: &FrameData, dst: &mut Frame, parallelism: Parallelism);
}

/// The push/pull shell shared by the one-to-one filters.
#[derive(Debug)]
struct OneToOne<K> {
    name: &'static str,
    kernel: K,
    input: FrameLayout,
    output: FrameLayout,
    pool: FramePool,
    pending: Option<SharedFrame>,
    flushed: bool,
    parallelism: Parallelism,
}

impl<K: Kernel> OneToOne<K> {
    fn new(
        name: &'static str,
        kernel: K,
        input: FrameLayout,
        output: FrameLayout,
        pool_frames: u32,
        parallelism: Parallelism,
        budget: &Budget,
    ) -> Result<Self> {
        let pool = FramePool::new(
            FramePoolConfig { name, capacity: pool_frames, ..FramePoolConfig::new(output, &Default::default()) },
            budget,
        )?;
        Ok(OneToOne { name, kernel, input, output, pool, pending: None, flushed: false, parallelism })
    }

    fn push(&mut self, frame: SharedFrame) -> Result<()> {
        let l = &self.input;
        if frame.format() != l.format() || frame.width() != l.width() || frame.height() != l.height() {
            return Err(Error::invalid(format!(
                "{}x{} {} frame pushed to {} (expected {}x{} {})",
                frame.width(),
                frame.height(),
                frame.format().name(),
                self.name,
                l.width(),
                l.height(),
                l.format().name()
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

    fn pull(&mut self) -> Result<Pull> {
        let Some(src) = self.pending.as_ref() else {
            return Ok(if self.flushed { Pull::Ended } else { Pull::NeedMore });
        };
        let mut out = match self.pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => return Ok(Pull::Full),
        };
        self.kernel.apply(src, &mut out, self.parallelism);
        *out.props_mut() = *src.props();
        self.pending = None;
        Ok(Pull::Frame(out.into_shared()))
    }
}

macro_rules! one_to_one_filter {
    ($t:ty) => {
        impl Filter for $t {
            fn delay(&self) -> Delay {
                Delay { held_inputs: 1, future_frames: 0, max_outputs_per_input: 1 }
            }
            fn output_layout(&self) -> FrameLayout {
                self.0.output
            }
            fn output_time_base(&self, input: TimeBase) -> TimeBase {
                input
            }
            fn push(&mut self, frame: SharedFrame) -> Result<()> {
                self.0.push(frame)
            }
            fn flush(&mut self) {
                self.0.flushed = true;
            }
            fn pull(&mut self) -> Result<Pull> {
                self.0.pull()
            }
        }
    };
}

/// A rectangle of a frame, in luma samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Rounds `v` down to a multiple of the chroma subsampling `1 << shift`, as FFmpeg's
/// crop and pad do, so chroma stays whole.
fn round_to_sub(v: u32, shift: u32) -> u32 {
    v & !((1 << shift) - 1)
}

fn planar_8bit(format: PixelFormat, what: &str) -> Result<()> {
    match format {
        PixelFormat::Yuv420p | PixelFormat::Yuv422p | PixelFormat::Yuv444p => Ok(()),
        other => Err(Error::unsupported(format!("{what} {} (expected yuv420p, yuv422p or yuv444p)", other.name()))),
    }
}

#[derive(Debug)]
struct CropKernel {
    x: usize,
    y: usize,
    shift: (u32, u32),
}

impl Kernel for CropKernel {
    fn apply(&self, src: &FrameData, dst: &mut Frame, _: Parallelism) {
        let layout = *dst.layout();
        for (i, p) in layout.planes().iter().enumerate() {
            let (sx, sy) = if i == 0 { (0, 0) } else { self.shift };
            let (x0, y0) = (self.x >> sx, self.y >> sy);
            for y in 0..p.rows {
                dst.row_mut(i, y).copy_from_slice(&src.row(i, y0 + y)[x0..x0 + p.row_bytes]);
            }
        }
    }
}

/// Cuts a rectangle out of each frame (FFmpeg's `crop=w:h:x:y`). Position and size are
/// rounded down to whole chroma samples, as FFmpeg rounds them.
#[derive(Debug)]
pub struct Crop(OneToOne<CropKernel>);

impl Crop {
    /// A crop of `rect` from frames of `input`, with a pool of `pool_frames` output
    /// frames (see [`crate::DeinterlaceConfig::pool_frames`]).
    ///
    /// Errors: a format other than 8-bit planar YUV, an empty rectangle (after
    /// rounding) or one reaching outside the frame.
    pub fn new(rect: Rect, input: FrameLayout, pool_frames: u32, budget: &Budget) -> Result<Crop> {
        planar_8bit(input.format(), "cropping")?;
        let (sx, sy) = input.format().chroma_shift();
        let r = Rect {
            x: round_to_sub(rect.x, sx),
            y: round_to_sub(rect.y, sy),
            width: round_to_sub(rect.width, sx),
            height: round_to_sub(rect.height, sy),
        };
        let fits = r.width > 0
            && r.height > 0
            && r.x as u64 + r.width as u64 <= input.width() as u64
            && r.y as u64 + r.height as u64 <= input.height() as u64;
        if !fits {
            return Err(Error::invalid(format!(
                "crop {}x{} at {},{} (expected a non-empty rectangle inside the {}x{} frame)",
                rect.width,
                rect.height,
                rect.x,
                rect.y,
                input.width(),
                input.height()
            )));
        }
        let output = FrameLayout::new(input.format(), r.width, r.height)?;
        let kernel = CropKernel { x: r.x as usize, y: r.y as usize, shift: (sx, sy) };
        Ok(Crop(OneToOne::new("crop", kernel, input, output, pool_frames, Parallelism::Serial, budget)?))
    }
}

one_to_one_filter!(Crop);

#[derive(Debug)]
struct PadKernel {
    x: usize,
    y: usize,
    shift: (u32, u32),
    colour: [u8; 3],
}

impl Kernel for PadKernel {
    fn apply(&self, src: &FrameData, dst: &mut Frame, _: Parallelism) {
        let layout = *dst.layout();
        let src_layout = *src.layout();
        for (i, p) in layout.planes().iter().enumerate() {
            let (sx, sy) = if i == 0 { (0, 0) } else { self.shift };
            let (x0, y0) = (self.x >> sx, self.y >> sy);
            let sp = src_layout.plane(i);
            for y in 0..p.rows {
                let row = dst.row_mut(i, y);
                row.fill(self.colour[i]);
                if (y0..y0 + sp.rows).contains(&y) {
                    row[x0..x0 + sp.row_bytes].copy_from_slice(src.row(i, y - y0));
                }
            }
        }
    }
}

/// Places each frame on a larger canvas of one colour (FFmpeg's `pad=w:h:x:y:color`).
/// Size and position are rounded down to whole chroma samples, as FFmpeg rounds them.
#[derive(Debug)]
pub struct Pad(OneToOne<PadKernel>);

impl Pad {
    /// Limited-range black, FFmpeg's default `color=black` for YUV: `[16, 128, 128]`.
    pub const BLACK: [u8; 3] = [16, 128, 128];

    /// A canvas of `rect.width`x`rect.height` with the input at `rect.x`,`rect.y`,
    /// elsewhere `colour` (`[Y, Cb, Cr]`).
    ///
    /// Errors: a format other than 8-bit planar YUV, or an input that does not fit the
    /// canvas at that position (after rounding).
    pub fn new(rect: Rect, colour: [u8; 3], input: FrameLayout, pool_frames: u32, budget: &Budget) -> Result<Pad> {
        planar_8bit(input.format(), "padding")?;
        let (sx, sy) = input.format().chroma_shift();
        let r = Rect {
            x: round_to_sub(rect.x, sx),
            y: round_to_sub(rect.y, sy),
            width: round_to_sub(rect.width, sx),
            height: round_to_sub(rect.height, sy),
        };
        // Both dimensions of the input are whole chroma samples too once rounded up,
        // which is what the chroma planes hold.
        let (iw, ih) = (input.width().div_ceil(1 << sx) << sx, input.height().div_ceil(1 << sy) << sy);
        let fits = r.x as u64 + iw as u64 <= r.width as u64 && r.y as u64 + ih as u64 <= r.height as u64;
        if !fits {
            return Err(Error::invalid(format!(
                "pad of {}x{} with the {}x{} frame at {},{} (expected the frame inside the canvas)",
                rect.width,
                rect.height,
                input.width(),
                input.height(),
                rect.x,
                rect.y
            )));
        }
        let output = FrameLayout::new(input.format(), r.width, r.height)?;
        let kernel = PadKernel { x: r.x as usize, y: r.y as usize, shift: (sx, sy), colour };
        Ok(Pad(OneToOne::new("pad", kernel, input, output, pool_frames, Parallelism::Serial, budget)?))
    }
}

one_to_one_filter!(Pad);

/// A pixel-format conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// 4:2:2 to 4:2:0: chroma resampled vertically with `filter`, from lines of its
    /// own onto positions midway between two luma lines (FFmpeg's
    /// `format=yuv420p`, whose default filter is [`ScaleFilter::Bicubic`]).
    Yuv422To420 { filter: ScaleFilter },
    /// 10-bit to 8-bit samples with the same chroma layout, with FFmpeg's 2x2 ordered
    /// dither (what `format=yuv420p` does to `yuv420p10le`, sample for sample).
    TenToEight,
    /// Full-range (JPEG, 0-255) to limited-range (16-235, chroma 16-240) 8-bit samples
    /// with FFmpeg's fixed-point constants (`scale=out_range=tv`, sample for sample).
    FullToLimited,
}

#[derive(Debug)]
struct ConvertKernel {
    conversion: Conversion,
    /// For [`Conversion::Yuv422To420`]: the vertical table of the chroma planes.
    chroma: Option<Table>,
}

/// FFmpeg's dither for dropping two bits, indexed by `[row & 1][column & 1]`.
const DITHER_2BIT: [[u16; 2]; 2] = [[1, 2], [3, 0]];

impl Kernel for ConvertKernel {
    fn apply(&self, src: &FrameData, dst: &mut Frame, parallelism: Parallelism) {
        let layout = *dst.layout();
        let [d0, d1, d2] = dst.planes_mut();
        for (i, d) in [d0, d1, d2].into_iter().enumerate().take(layout.plane_count()) {
            let p = layout.plane(i);
            let (s, stride) = (src.plane(i), src.stride(i));
            let width = p.row_bytes;
            match self.conversion {
                Conversion::FullToLimited => for_each_row(d, p.stride, p.rows, width, parallelism, |y, out| {
                    let row = &s[y * stride..y * stride + width];
                    // swscale's range constants, applied to samples with 7 fractional
                    // bits, then rounded back.
                    for (o, &v) in out.iter_mut().zip(row) {
                        let v = (v as i32) << 7;
                        let v = if i == 0 { (v * 14071 + 33_561_947) >> 14 } else { (v * 1799 + 4_081_085) >> 11 };
                        *o = ((v + 64) >> 7).clamp(0, 255) as u8;
                    }
                }),
                Conversion::TenToEight => for_each_row(d, p.stride, p.rows, width, parallelism, |y, out| {
                    let row = &s[y * stride..y * stride + 2 * width];
                    let dither = DITHER_2BIT[y & 1];
                    for (x, (o, b)) in out.iter_mut().zip(row.chunks_exact(2)).enumerate() {
                        // Samples above 10 bits are out of range: clamp them.
                        let v = u16::from_le_bytes([b[0], b[1]]).min(1023);
                        let t = (v + dither[x & 1]) >> 2;
                        // 1023 + dither overflows 255 by one: fold it back.
                        *o = (t - (t >> 8)) as u8;
                    }
                }),
                Conversion::Yuv422To420 { .. } => match (&self.chroma, i) {
                    (Some(t), 1 | 2) => for_each_row(d, p.stride, p.rows, width, parallelism, |y, out| {
                        let start = t.starts[y] as usize;
                        let coefs = t.coefs(y);
                        const ROUND: i32 = 1 << (COEF_BITS - 1);
                        for (x, o) in out.iter_mut().enumerate() {
                            let mut a = ROUND;
                            for (k, &c) in coefs.iter().enumerate() {
                                a += c as i32 * s[(start + k) * stride + x] as i32;
                            }
                            *o = (a >> COEF_BITS).clamp(0, 255) as u8;
                        }
                    }),
                    _ => for_each_row(d, p.stride, p.rows, width, parallelism, |y, out| {
                        out.copy_from_slice(&s[y * stride..y * stride + width]);
                    }),
                },
            }
        }
    }
}

/// Converts frames to another pixel format or range ([`Conversion`]).
#[derive(Debug)]
pub struct Convert(OneToOne<ConvertKernel>);

impl Convert {
    /// A conversion of frames of `input`.
    ///
    /// Errors: an input format the conversion does not start from (unsupported).
    pub fn new(conversion: Conversion, input: FrameLayout, pool_frames: u32, parallelism: Parallelism, budget: &Budget) -> Result<Convert> {
        let (w, h) = (input.width(), input.height());
        let (output, chroma) = match (conversion, input.format()) {
            (Conversion::FullToLimited, f @ (PixelFormat::Yuv420p | PixelFormat::Yuv422p | PixelFormat::Yuv444p)) => {
                (FrameLayout::new(f, w, h)?, None)
            }
            (Conversion::TenToEight, f @ (PixelFormat::Yuv420p10 | PixelFormat::Yuv422p10 | PixelFormat::Yuv444p10)) => {
                let eight = match f {
                    PixelFormat::Yuv420p10 => PixelFormat::Yuv420p,
                    PixelFormat::Yuv422p10 => PixelFormat::Yuv422p,
                    _ => PixelFormat::Yuv444p,
                };
                (FrameLayout::new(eight, w, h)?, None)
            }
            (Conversion::Yuv422To420 { filter }, PixelFormat::Yuv422p) => {
                let output = FrameLayout::new(PixelFormat::Yuv420p, w, h)?;
                let (src_rows, dst_rows) = (input.plane(1).rows, output.plane(1).rows);
                // Output chroma row j sits midway between luma lines 2j and 2j + 1, that
                // is at input chroma line 2j + 0.5.
                let table = Table::new(filter, src_rows, dst_rows, |j| 2.0 * j as f64 + 0.5, 2.0, Padding::None);
                (output, Some(table))
            }
            (c, f) => {
                let expected = match c {
                    Conversion::FullToLimited => "yuv420p, yuv422p or yuv444p",
                    Conversion::TenToEight => "yuv420p10le, yuv422p10le or yuv444p10le",
                    Conversion::Yuv422To420 { .. } => "yuv422p",
                };
                let what = match c {
                    Conversion::FullToLimited => "full to limited range",
                    Conversion::TenToEight => "10-bit to 8-bit",
                    Conversion::Yuv422To420 { .. } => "4:2:2 to 4:2:0",
                };
                return Err(Error::unsupported(format!("{what} conversion of {} (expected {expected})", f.name())));
            }
        };
        let kernel = ConvertKernel { conversion, chroma };
        Ok(Convert(OneToOne::new("convert", kernel, input, output, pool_frames, parallelism, budget)?))
    }
}

one_to_one_filter!(Convert);
