//! A test-only MPEG-2 video (ISO/IEC 13818-2) bitstream writer for what encoders do not
//! produce: field pictures, field, 16x8 and dual-prime motion, either field order.
//!
//! It writes syntax, not a good encoding: intra macroblocks carry a real picture (forward
//! DCT and quantisation of a committed source frame), inter macroblocks carry random but
//! valid motion vectors (half-pel too, every vector kept inside the reference) and small
//! synthetic residuals. Nothing is reconstructed here: what the streams decode to is
//! defined by the decoding process, and FFmpeg's output is the oracle committed beside
//! them. Only the VLC subsets the streams need are written; other AC coefficients use
//! the escape code. Everything is integer arithmetic and a seeded PRNG, so the same
//! source gives the same bytes on every machine.

/// Raster positions (`v * 8 + u`) in scan order: the zigzag scan (alternate_scan 0).
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56,
    57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Raster positions in scan order for alternate_scan 1 (the vertical scan for fields).
const ALTERNATE: [u8; 64] = [
    0, 8, 16, 24, 1, 9, 2, 10, 17, 25, 32, 40, 48, 56, 57, 49, 41, 33, 26, 18, 3, 11, 4, 12, 19, 27, 34, 42, 50, 58, 35, 43, 51, 59, 20,
    28, 5, 13, 6, 14, 21, 29, 36, 44, 52, 60, 37, 45, 53, 61, 22, 30, 7, 15, 23, 31, 38, 46, 54, 62, 39, 47, 55, 63,
];

/// The default intra quantiser matrix, raster order.
const INTRA_MATRIX: [u8; 64] = [
    8, 16, 19, 22, 26, 27, 29, 34, 16, 16, 22, 24, 27, 29, 34, 37, 19, 22, 26, 27, 29, 34, 34, 38, 22, 22, 26, 27, 29, 34, 37, 40, 22, 26,
    27, 29, 32, 35, 40, 48, 26, 27, 29, 32, 35, 40, 48, 58, 26, 27, 29, 34, 38, 46, 56, 69, 27, 29, 35, 38, 46, 56, 69, 83,
];

/// quantiser_scale for q_scale_type 1, by quantiser_scale_code.
const NONLINEAR_QSCALE: [u8; 32] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 36, 40, 44, 48, 52, 56, 64, 72, 80, 88, 96, 104, 112];

/// cos(k*pi/16) * 2^15 for k = 0..8: the forward DCT in integers, so no libm rounding can
/// change a stream between machines.
const COS: [i64; 9] = [32768, 32138, 30274, 27246, 23170, 18205, 12540, 6393, 0];

/// Table B-9 (coded_block_pattern, 4:2:0), the subset used: (cbp, code, length).
const CBP_VLC: [(u8, u32, u32); 29] = [
    (60, 0b111, 3),
    (4, 0b1101, 4),
    (8, 0b1100, 4),
    (16, 0b1011, 4),
    (32, 0b1010, 4),
    (12, 0b10011, 5),
    (48, 0b10010, 5),
    (20, 0b10001, 5),
    (40, 0b10000, 5),
    (28, 0b01111, 5),
    (44, 0b01110, 5),
    (52, 0b01101, 5),
    (56, 0b01100, 5),
    (1, 0b01011, 5),
    (61, 0b01010, 5),
    (2, 0b01001, 5),
    (62, 0b01000, 5),
    (24, 0b001111, 6),
    (36, 0b001110, 6),
    (3, 0b001101, 6),
    (63, 0b001100, 6),
    (5, 0b0010111, 7),
    (9, 0b0010110, 7),
    (17, 0b0010101, 7),
    (33, 0b0010100, 7),
    (6, 0b0010011, 7),
    (10, 0b0010010, 7),
    (18, 0b0010001, 7),
    (34, 0b0010000, 7),
];

/// Table B-10 (motion_code), magnitudes 0..=16 without the sign bit: (code, length).
const MOTION_VLC: [(u32, u32); 17] = [
    (0b1, 1),
    (0b01, 2),
    (0b001, 3),
    (0b0001, 4),
    (0b000011, 6),
    (0b0000101, 7),
    (0b0000100, 7),
    (0b0000011, 7),
    (0b000001011, 9),
    (0b000001010, 9),
    (0b000001001, 9),
    (0b0000010001, 10),
    (0b0000010000, 10),
    (0b0000001111, 10),
    (0b0000001110, 10),
    (0b0000001101, 10),
    (0b0000001100, 10),
];

/// Tables B-12 / B-13 (dct_dc_size_luminance / _chrominance), by size: (code, length).
const DC_LUMA_VLC: [(u32, u32); 12] = [
    (0b100, 3),
    (0b00, 2),
    (0b01, 2),
    (0b101, 3),
    (0b110, 3),
    (0b1110, 4),
    (0b11110, 5),
    (0b111110, 6),
    (0b1111110, 7),
    (0b11111110, 8),
    (0b111111110, 9),
    (0b111111111, 9),
];
const DC_CHROMA_VLC: [(u32, u32); 12] = [
    (0b00, 2),
    (0b01, 2),
    (0b10, 2),
    (0b110, 3),
    (0b1110, 4),
    (0b11110, 5),
    (0b111110, 6),
    (0b1111110, 7),
    (0b11111110, 8),
    (0b111111110, 9),
    (0b1111111110, 10),
    (0b1111111111, 10),
];

/// MSB-first bit writer.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn new() -> Self {
        Bits { out: Vec::new(), acc: 0, n: 0 }
    }

    fn put(&mut self, value: u32, len: u32) {
        debug_assert!(len <= 32 && (len == 32 || value >> len == 0), "value {value} does not fit {len} bits");
        self.acc = (self.acc << len) | u64::from(value);
        self.n += len;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
        self.acc &= (1 << self.n) - 1;
    }

    fn flag(&mut self, b: bool) {
        self.put(u32::from(b), 1);
    }

    /// next_start_code(): zero bits up to the byte boundary, then the start code.
    fn start_code(&mut self, code: u8) {
        if self.n > 0 {
            self.put(0, 8 - self.n);
        }
        self.out.extend_from_slice(&[0, 0, 1, code]);
    }
}

/// xorshift64*: a small, seeded, portable PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        ((self.next() >> 32) % u64::from(n)) as u32
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1) as u32) as i32
    }
    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }
}

/// A 4:2:0 picture at the coded size (rows past the display height repeat the last one).
pub struct Image {
    w: usize,
    h: usize,
    planes: [Vec<u8>; 3],
}

impl Image {
    /// Reads a raw yuv420p frame of `w`x`h` and pads it to `coded_h` rows.
    pub fn from_yuv420p(data: &[u8], w: usize, h: usize, coded_h: usize) -> Option<Image> {
        let (cw, ch) = (w / 2, h / 2);
        if data.len() < w * h + 2 * cw * ch {
            return None;
        }
        let pad = |plane: &[u8], pw: usize, ph: usize, ch_out: usize| -> Vec<u8> {
            (0..ch_out).flat_map(|y| plane[y.min(ph - 1) * pw..][..pw].iter().copied()).collect()
        };
        let y = pad(&data[..w * h], w, h, coded_h);
        let cb = pad(&data[w * h..][..cw * ch], cw, ch, coded_h / 2);
        let cr = pad(&data[w * h + cw * ch..][..cw * ch], cw, ch, coded_h / 2);
        Some(Image { w, h: coded_h, planes: [y, cb, cr] })
    }

    /// The sample of plane `c` at (x, y), the picture panned by (dx, dy) with clamping:
    /// each frame of a stream shows the source moved a little, so intra pictures differ.
    fn at(&self, c: usize, x: i32, y: i32, pan: (i32, i32)) -> i64 {
        let (pw, ph) = if c == 0 { (self.w, self.h) } else { (self.w / 2, self.h / 2) };
        let (dx, dy) = if c == 0 { pan } else { (pan.0 / 2, pan.1 / 2) };
        let x = (x + dx).clamp(0, pw as i32 - 1) as usize;
        let y = (y + dy).clamp(0, ph as i32 - 1) as usize;
        i64::from(self.planes[c][y * pw + x])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Coding {
    I = 1,
    P = 2,
    B = 3,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Structure {
    Top = 1,
    Bottom = 2,
    Frame = 3,
}

/// A motion vector (horizontal, vertical) in half samples; vertical in field lines for
/// field prediction.
type Mv = [i32; 2];

/// One direction's motion for a macroblock.
#[derive(Clone, Copy, Debug)]
enum Motion {
    /// Frame picture, frame prediction.
    Frame(Mv),
    /// Frame picture, field prediction: (field select, vector) for the top and bottom
    /// field of the macroblock.
    FrameField([(u8, Mv); 2]),
    /// Field picture, field prediction.
    Field(u8, Mv),
    /// Field picture, 16x8: upper and lower halves.
    Field16x8([(u8, Mv); 2]),
    /// Dual prime (P only): vector' and dmvector.
    DualPrime(Mv, Mv),
}

impl Motion {
    fn motion_type(&self) -> u32 {
        match self {
            Motion::Frame(_) | Motion::Field16x8(_) => 0b10,
            Motion::FrameField(_) | Motion::Field(..) => 0b01,
            Motion::DualPrime(..) => 0b11,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Mb {
    Intra,
    /// P only: zero-vector prediction from the same parity (fields) or the frame.
    NoMc,
    Inter {
        fwd: Option<Motion>,
        bwd: Option<Motion>,
    },
}

/// Which prediction tools a picture may use, with weights.
#[derive(Clone, Copy, Default)]
struct Tools {
    intra_pct: u32,
    nomc: bool,
    field: bool,
    mv16x8: bool,
    dual: bool,
    frame: bool,
    frame_field: bool,
    /// B pictures: backward and bi-directional prediction.
    bidir: bool,
    /// Skipped macroblocks (address increments above 1).
    skips: bool,
    /// Rows split into two slices at a random column.
    slices: bool,
}

/// One picture to write.
#[derive(Clone)]
struct Picture {
    coding: Coding,
    structure: Structure,
    temporal_reference: u16,
    /// Display index of the frame (for the picture content of intra macroblocks).
    frame: i32,
    tff: bool,
    rff: bool,
    progressive_frame: bool,
    frame_pred_frame_dct: bool,
    concealment: bool,
    q_scale_type: bool,
    intra_vlc_format: bool,
    alternate_scan: bool,
    dc_precision: u8,
    f_code: [[u8; 2]; 2],
    /// Forward reference fields that exist (bit 0 top, bit 1 bottom); same for backward.
    fwd_fields: u8,
    bwd_fields: u8,
    tools: Tools,
}

impl Picture {
    fn new(coding: Coding, structure: Structure, tr: u16, frame: i32) -> Picture {
        let f = if coding == Coding::I { 15 } else { 2 };
        Picture {
            coding,
            structure,
            temporal_reference: tr,
            frame,
            tff: false,
            rff: false,
            progressive_frame: false,
            frame_pred_frame_dct: false,
            concealment: false,
            q_scale_type: false,
            intra_vlc_format: false,
            alternate_scan: false,
            dc_precision: 0,
            f_code: [[f, f], [if coding == Coding::B { 2 } else { 15 }; 2]],
            fwd_fields: 3,
            bwd_fields: 3,
            tools: Tools::default(),
        }
    }
}

/// A stream: geometry, source and pictures in coding order.
struct Stream {
    width: usize,
    height: usize,
    seed: u64,
    pictures: Vec<Picture>,
}

/// Per-slice prediction state the syntax depends on.
struct SliceState {
    dc_pred: [i32; 3],
    pmv: [[[i32; 2]; 2]; 2],
    qscale_code: u32,
    /// The motion of the last coded macroblock, which a skipped macroblock of a B
    /// picture repeats (`None` after an intra or No-MC macroblock).
    last: Option<(Option<Motion>, Option<Motion>)>,
}

/// Table B-1 (macroblock_address_increment) for increments 1..=15: (code, length).
const MBA_VLC: [(u32, u32); 15] = [
    (0b1, 1),
    (0b011, 3),
    (0b010, 3),
    (0b0011, 4),
    (0b0010, 4),
    (0b00011, 5),
    (0b00010, 5),
    (0b0000111, 7),
    (0b0000110, 7),
    (0b00001011, 8),
    (0b00001010, 8),
    (0b00001001, 8),
    (0b00001000, 8),
    (0b00000111, 8),
    (0b00000110, 8),
];

struct Writer<'a> {
    bits: Bits,
    rng: Rng,
    image: &'a Image,
    mb_width: usize,
    mb_height: usize,
}

/// Whether a `w`x`h` block at (x, y) displaced by `mv` (half samples) stays inside a
/// `pw`x`ph` reference, half-sample interpolation included.
fn fits(x: i32, y: i32, w: i32, h: i32, mv: Mv, pw: i32, ph: i32) -> bool {
    let ix = x + (mv[0] >> 1);
    let iy = y + (mv[1] >> 1);
    ix >= 0 && iy >= 0 && ix + w + (mv[0] & 1) <= pw && iy + h + (mv[1] & 1) <= ph
}

/// `fits` for luma and the 4:2:0 chroma vector derived from it (halved towards zero).
fn fits_yc(x: i32, y: i32, w: i32, h: i32, mv: Mv, pw: i32, ph: i32) -> bool {
    fits(x, y, w, h, mv, pw, ph) && fits(x / 2, y / 2, w / 2, h / 2, [mv[0] / 2, mv[1] / 2], pw / 2, ph / 2)
}

impl Writer<'_> {
    fn sequence_header(&mut self, s: &Stream) {
        let b = &mut self.bits;
        b.start_code(0xB3);
        b.put(s.width as u32, 12);
        b.put(s.height as u32, 12);
        b.put(2, 4); // aspect_ratio_information: 4:3
        b.put(3, 4); // frame_rate_code: 25
        b.put(12500, 18); // bit_rate_value: 5 Mbit/s
        b.put(1, 1); // marker
        b.put(112, 10); // vbv_buffer_size_value: MP@ML's maximum
        b.put(0, 1); // constrained_parameters_flag
        b.put(0, 2); // no quantiser matrices: the defaults
        b.start_code(0xB5);
        b.put(1, 4); // sequence_extension
        b.put(0x48, 8); // Main profile, Main level
        b.put(0, 1); // progressive_sequence
        b.put(1, 2); // chroma_format 4:2:0
        b.put(0, 4); // size extensions
        b.put(0, 12); // bit_rate_extension
        b.put(1, 1); // marker
        b.put(0, 8); // vbv_buffer_size_extension
        b.put(0, 1); // low_delay
        b.put(0, 7); // frame_rate_extension_n, _d
    }

    fn gop_header(&mut self) {
        let b = &mut self.bits;
        b.start_code(0xB8);
        b.put(0, 1 + 5 + 6); // drop_frame_flag, hours, minutes
        b.put(1, 1); // marker
        b.put(0, 6 + 6); // seconds, pictures
        b.put(1, 1); // closed_gop
        b.put(0, 1); // broken_link
    }

    fn picture_header(&mut self, p: &Picture) {
        let b = &mut self.bits;
        b.start_code(0x00);
        b.put(u32::from(p.temporal_reference), 10);
        b.put(p.coding as u32, 3);
        b.put(0xFFFF, 16); // vbv_delay: variable bit rate
        if p.coding != Coding::I {
            b.put(0, 1); // full_pel_forward_vector
            b.put(7, 3); // forward_f_code (MPEG-2: in the extension)
        }
        if p.coding == Coding::B {
            b.put(0, 1);
            b.put(7, 3);
        }
        b.put(0, 1); // extra_bit_picture
        b.start_code(0xB5);
        b.put(8, 4); // picture_coding_extension
        for s in p.f_code {
            for f in s {
                b.put(u32::from(f), 4);
            }
        }
        b.put(u32::from(p.dc_precision), 2);
        b.put(p.structure as u32, 2);
        b.flag(p.tff);
        b.flag(p.frame_pred_frame_dct);
        b.flag(p.concealment);
        b.flag(p.q_scale_type);
        b.flag(p.intra_vlc_format);
        b.flag(p.alternate_scan);
        b.flag(p.rff);
        b.flag(p.progressive_frame); // chroma_420_type equals progressive_frame in 4:2:0
        b.flag(p.progressive_frame);
        b.put(0, 1); // composite_display_flag
    }

    fn picture(&mut self, p: &Picture) {
        self.picture_header(p);
        let rows = if p.structure == Structure::Frame { self.mb_height } else { self.mb_height / 2 };
        let w = self.mb_width;
        for row in 0..rows {
            // One slice per row, or two split at a random column.
            let split = if p.tools.slices && self.rng.chance(60) { self.rng.range(1, w as i32 - 1) as usize } else { w };
            for (start, end) in [(0, split), (split, w)] {
                if start == end {
                    continue;
                }
                self.slice(p, row, start, end);
            }
        }
    }

    /// One slice of macroblocks `start..end` of a row.
    fn slice(&mut self, p: &Picture, row: usize, start: usize, end: usize) {
        self.bits.start_code(row as u8 + 1);
        let code = self.rng.range(2, 12) as u32;
        self.bits.put(code, 5);
        self.bits.put(0, 1); // extra_bit_slice
        let dc_reset = [1 << (7 + p.dc_precision); 3];
        let mut st = SliceState { dc_pred: dc_reset, pmv: [[[0; 2]; 2]; 2], qscale_code: code, last: None };
        // The first macroblock's increment counts from the end of the row above.
        let mut increment = start + 1;
        for col in start..end {
            // Neither the first nor the last macroblock of a slice may be skipped (7.6.6).
            if p.tools.skips && col != start && col + 1 != end && self.skippable(p, &st, col, row) && self.rng.chance(30) {
                increment += 1;
                // What a skipped macroblock does to the prediction state.
                st.dc_pred = dc_reset;
                if p.coding == Coding::P {
                    st.pmv = [[[0; 2]; 2]; 2];
                }
                continue;
            }
            let (c, l) = MBA_VLC[increment - 1];
            self.bits.put(c, l);
            increment = 1;
            self.macroblock(p, &mut st, col, row);
        }
    }

    /// Whether the macroblock at (col, row) may be skipped: in P pictures it is then
    /// predicted with a zero vector from the same parity (which must exist), in B
    /// pictures with the motion of the macroblock before it, which must not be intra
    /// and must stay inside the references from here too. Not after a 16x8 macroblock:
    /// what a skipped macroblock repeats of 16x8 motion is where FFmpeg and libmpeg2
    /// part ways (7.6.6.4 speaks of one prediction), so it is left out.
    fn skippable(&self, p: &Picture, st: &SliceState, col: usize, row: usize) -> bool {
        match p.coding {
            Coding::I => false,
            Coding::P => {
                let parity = if p.structure == Structure::Bottom { 2 } else { 1 };
                p.structure == Structure::Frame || p.fwd_fields & parity != 0
            }
            Coding::B => match st.last {
                Some((f, b)) => [f, b].iter().flatten().all(|m| !matches!(m, Motion::Field16x8(_)) && self.motion_fits(m, col, row)),
                None => false,
            },
        }
    }

    /// Whether motion `m` keeps the macroblock at (col, row) inside its references.
    fn motion_fits(&self, m: &Motion, col: usize, row: usize) -> bool {
        let (x, w) = (col as i32 * 16, self.image.w as i32);
        let (fh, y) = (self.image.h as i32 / 2, row as i32 * 16);
        match *m {
            Motion::Frame(v) => fits_yc(x, y, 16, 16, v, w, fh * 2),
            Motion::FrameField(f) => f.iter().all(|&(_, v)| fits_yc(x, row as i32 * 8, 16, 8, v, w, fh)),
            Motion::Field(_, v) => fits_yc(x, y, 16, 16, v, w, fh),
            Motion::Field16x8(f) => f.iter().enumerate().all(|(i, &(_, v))| fits_yc(x, y + 8 * i as i32, 16, 8, v, w, fh)),
            Motion::DualPrime(..) => false,
        }
    }

    /// Chooses a vector for a `w`x`h` block at (x, y) in a `pw`x`ph` reference, within the
    /// f_code range; zero if nothing random fits (zero always does).
    #[allow(clippy::too_many_arguments)]
    fn pick_mv(&mut self, f_code: [u8; 2], x: i32, y: i32, w: i32, h: i32, pw: i32, ph: i32) -> Mv {
        for _ in 0..16 {
            let lim = |f: u8| (16 << (f - 1)).min(40) - 1;
            let mv = [self.rng.range(-lim(f_code[0]), lim(f_code[0])), self.rng.range(-lim(f_code[1]), lim(f_code[1]))];
            if fits_yc(x, y, w, h, mv, pw, ph) {
                return mv;
            }
        }
        [0, 0]
    }

    fn pick_select(&mut self, fields: u8) -> u8 {
        match fields {
            1 => 0,
            2 => 1,
            _ => self.rng.below(2) as u8,
        }
    }

    /// A random motion of an allowed kind for one direction (`fields` are the reference
    /// fields that exist), or None if no kind applies.
    fn pick_motion(&mut self, p: &Picture, st: &SliceState, dir: usize, col: usize, row: usize, allow_dual: bool) -> Option<Motion> {
        let m = self.pick_motion_once(p, dir, col, row, allow_dual)?;
        // libmpeg2 does not wrap the vertical component of a field vector in a frame
        // picture into the f_code range (7.6.3.1 does), nor a frame vector predicted from
        // a doubled field vector outside that range; such vectors are legal, but avoiding
        // them lets a second decoder check these streams. Retry, then give up (the
        // macroblock becomes intra).
        let f = 1 << (p.f_code[dir][1] - 1);
        let wraps = |v: i32, pmv: i32| !(-16 * f..16 * f).contains(&(v - (pmv >> 1)));
        let ok = |m: &Motion| match m {
            Motion::FrameField(v) => !wraps(v[0].1[1], st.pmv[0][dir][1]) && !wraps(v[1].1[1], st.pmv[1][dir][1]),
            Motion::DualPrime(v, _) if p.structure == Structure::Frame => !wraps(v[1], st.pmv[0][dir][1]),
            Motion::Frame(v) => (-16 * f..16 * f).contains(&(v[1] - st.pmv[0][dir][1])),
            _ => true,
        };
        if ok(&m) {
            return Some(m);
        }
        for _ in 0..16 {
            let m = self.pick_motion_once(p, dir, col, row, allow_dual)?;
            if ok(&m) {
                return Some(m);
            }
        }
        None
    }

    fn pick_motion_once(&mut self, p: &Picture, dir: usize, col: usize, row: usize, allow_dual: bool) -> Option<Motion> {
        let t = p.tools;
        let fields = if dir == 0 { p.fwd_fields } else { p.bwd_fields };
        let fc = p.f_code[dir];
        let (x, fw) = (col as i32 * 16, self.image.w as i32);
        let fh = self.image.h as i32 / 2;
        let mut kinds = Vec::new();
        if p.structure == Structure::Frame {
            if t.frame || p.frame_pred_frame_dct {
                kinds.push(0);
            }
            if t.frame_field && !p.frame_pred_frame_dct {
                kinds.push(1);
            }
        } else {
            if t.field {
                kinds.push(2);
            }
            if t.mv16x8 {
                kinds.push(3);
            }
        }
        // Dual prime needs both reference fields (the same-parity one included).
        if t.dual && allow_dual && fields == 3 && !(p.structure == Structure::Frame && p.frame_pred_frame_dct) {
            kinds.push(4);
            kinds.push(4);
        }
        if kinds.is_empty() {
            return None;
        }
        let kind = kinds[self.rng.below(kinds.len() as u32) as usize];
        Some(match kind {
            0 => Motion::Frame(self.pick_mv(fc, x, row as i32 * 16, 16, 16, fw, fh * 2)),
            1 => {
                let mut v = [(0, [0, 0]); 2];
                for e in &mut v {
                    *e = (self.pick_select(fields), self.pick_mv(fc, x, row as i32 * 8, 16, 8, fw, fh));
                }
                Motion::FrameField(v)
            }
            2 => Motion::Field(self.pick_select(fields), self.pick_mv(fc, x, row as i32 * 16, 16, 16, fw, fh)),
            3 => {
                let mut v = [(0, [0, 0]); 2];
                for (half, e) in v.iter_mut().enumerate() {
                    *e = (self.pick_select(fields), self.pick_mv(fc, x, row as i32 * 16 + half as i32 * 8, 16, 8, fw, fh));
                }
                Motion::Field16x8(v)
            }
            _ => {
                // The derived opposite-parity vectors scale vector' by 1/2 or 3/2 and add
                // -1..=1 (field offset) and the dmvector; check every combination.
                let (y, h) = if p.structure == Structure::Frame { (row as i32 * 8, 8) } else { (row as i32 * 16, 16) };
                for _ in 0..16 {
                    let v = [self.rng.range(-12, 12), self.rng.range(-8, 8)];
                    let dmv = [self.rng.range(-1, 1), self.rng.range(-1, 1)];
                    let ok = fits_yc(x, y, 16, h, v, fw, fh)
                        && [1, 3].iter().all(|&m| {
                            [-1, 1].iter().all(|&e| {
                                let d = |c: i32| (c * m + i32::from(c > 0)) >> 1;
                                fits_yc(x, y, 16, h, [d(v[0]) + dmv[0], d(v[1]) + e + dmv[1]], fw, fh)
                            })
                        });
                    if ok {
                        return Some(Motion::DualPrime(v, dmv));
                    }
                }
                Motion::Field(self.pick_select(fields), [0, 0]).into_frame_safe(p.structure)
            }
        })
    }

    fn choose_mb(&mut self, p: &Picture, st: &SliceState, col: usize, row: usize) -> Mb {
        if p.coding == Coding::I || self.rng.chance(p.tools.intra_pct) {
            return Mb::Intra;
        }
        // No MC predicts from the same parity field, which must exist.
        let parity = if p.structure == Structure::Bottom { 2 } else { 1 };
        if p.coding == Coding::P && p.tools.nomc && (p.structure == Structure::Frame || p.fwd_fields & parity != 0) && self.rng.chance(15) {
            return Mb::NoMc;
        }
        if p.coding == Coding::P {
            return match self.pick_motion(p, st, 0, col, row, true) {
                Some(m) => Mb::Inter { fwd: Some(m), bwd: None },
                None => Mb::Intra,
            };
        }
        // B: one motion type for both directions.
        let dir = if p.tools.bidir { self.rng.below(3) } else { 0 };
        let first = if dir == 1 { 1 } else { 0 };
        let Some(m) = self.pick_motion(p, st, first, col, row, false) else { return Mb::Intra };
        if dir == 2 {
            let mut other = self.pick_motion(p, st, 1, col, row, false);
            for _ in 0..8 {
                match other {
                    Some(o) if o.motion_type() == m.motion_type() => break,
                    _ => other = self.pick_motion(p, st, 1, col, row, false),
                }
            }
            if let Some(o) = other.filter(|o| o.motion_type() == m.motion_type()) {
                return Mb::Inter { fwd: Some(m), bwd: Some(o) };
            }
        }
        if first == 1 {
            Mb::Inter { fwd: None, bwd: Some(m) }
        } else {
            Mb::Inter { fwd: Some(m), bwd: None }
        }
    }

    fn macroblock(&mut self, p: &Picture, st: &mut SliceState, col: usize, row: usize) {
        let mb = self.choose_mb(p, st, col, row);
        let intra = matches!(mb, Mb::Intra);
        let (fwd, bwd) = match mb {
            Mb::Inter { fwd, bwd } => (fwd, bwd),
            _ => (None, None),
        };
        st.last = matches!(mb, Mb::Inter { .. }).then_some((fwd, bwd));
        let cbp: u8 = match mb {
            Mb::Intra => 63,
            Mb::NoMc => CBP_VLC[self.rng.below(29) as usize].0,
            Mb::Inter { .. } if self.rng.chance(60) => CBP_VLC[self.rng.below(29) as usize].0,
            Mb::Inter { .. } => 0,
        };
        let pattern = !intra && cbp != 0;
        let quant = (intra || pattern) && self.rng.chance(20);

        let (code, len) = match (p.coding, intra, fwd.is_some(), bwd.is_some(), pattern, quant) {
            (_, true, ..) if p.coding == Coding::I => {
                if quant {
                    (0b01, 2)
                } else {
                    (0b1, 1)
                }
            }
            (_, true, _, _, _, false) => (0b00011, 5),
            (_, true, _, _, _, true) => (0b000001, 6),
            (Coding::P, _, true, _, true, false) => (0b1, 1),
            (Coding::P, _, false, _, true, false) => (0b01, 2),
            (Coding::P, _, true, _, false, _) => (0b001, 3),
            (Coding::P, _, true, _, true, true) => (0b00010, 5),
            (Coding::P, _, false, _, true, true) => (0b00001, 5),
            (_, _, true, true, false, _) => (0b10, 2),
            (_, _, true, true, true, false) => (0b11, 2),
            (_, _, false, true, false, _) => (0b010, 3),
            (_, _, false, true, true, false) => (0b011, 3),
            (_, _, true, false, false, _) => (0b0010, 4),
            (_, _, true, false, true, false) => (0b0011, 4),
            (_, _, true, true, true, true) => (0b00010, 5),
            (_, _, true, false, true, true) => (0b000011, 6),
            (_, _, false, true, true, true) => (0b000010, 6),
            _ => unreachable!("no macroblock_type for {mb:?}"),
        };
        self.bits.put(code, len);
        let frame_pic = p.structure == Structure::Frame;
        if let Some(m) = fwd.or(bwd) {
            if !frame_pic || !p.frame_pred_frame_dct {
                self.bits.put(m.motion_type(), 2);
            }
        }
        let field_dct = frame_pic && !p.frame_pred_frame_dct && (intra || pattern) && self.rng.chance(50);
        if frame_pic && !p.frame_pred_frame_dct && (intra || pattern) {
            self.bits.flag(field_dct);
        }
        if quant {
            st.qscale_code = self.rng.range(1, 20) as u32;
            self.bits.put(st.qscale_code, 5);
        }
        if intra && p.concealment {
            // Concealment vectors: frame-based in frame pictures, field-based in fields.
            let m = if frame_pic {
                Motion::Frame(self.pick_mv(p.f_code[0], col as i32 * 16, row as i32 * 16, 16, 16, self.image.w as i32, self.image.h as i32))
            } else {
                let sel = self.rng.below(2) as u8;
                Motion::Field(
                    sel,
                    self.pick_mv(p.f_code[0], col as i32 * 16, row as i32 * 16, 16, 16, self.image.w as i32, self.image.h as i32 / 2),
                )
            };
            self.motion_vectors(p, st, 0, m);
        }
        if let Some(m) = fwd {
            self.motion_vectors(p, st, 0, m);
        }
        if let Some(m) = bwd {
            self.motion_vectors(p, st, 1, m);
        }
        if intra && p.concealment {
            self.bits.put(1, 1); // marker_bit
        }
        if pattern {
            let &(_, c, l) = CBP_VLC.iter().find(|e| e.0 == cbp).expect("cbp from the table");
            self.bits.put(c, l);
        }

        // Prediction state the decoder keeps (7.2.1 and 7.6.3.4).
        if intra {
            if !p.concealment {
                st.pmv = [[[0; 2]; 2]; 2];
            }
        } else {
            st.dc_pred = [1 << (7 + p.dc_precision); 3];
            if matches!(mb, Mb::NoMc) {
                st.pmv = [[[0; 2]; 2]; 2];
            }
        }

        for block in 0..6 {
            if cbp & (32 >> block) == 0 {
                continue;
            }
            if intra {
                self.intra_block(p, st, col, row, block, field_dct);
            } else {
                self.residual_block();
            }
        }
    }

    /// motion_vectors(s) with the PMV updates of 7.6.3.1.
    fn motion_vectors(&mut self, p: &Picture, st: &mut SliceState, s: usize, m: Motion) {
        let frame_pic = p.structure == Structure::Frame;
        match m {
            Motion::Frame(v) => {
                self.motion_vector(p, st, 0, s, v, false, None);
                st.pmv[1][s] = st.pmv[0][s];
            }
            Motion::Field(sel, v) => {
                self.bits.put(u32::from(sel), 1);
                self.motion_vector(p, st, 0, s, v, false, None);
                st.pmv[1][s] = st.pmv[0][s];
            }
            Motion::FrameField(v) | Motion::Field16x8(v) => {
                for (r, (sel, mv)) in v.into_iter().enumerate() {
                    self.bits.put(u32::from(sel), 1);
                    self.motion_vector(p, st, r, s, mv, frame_pic, None);
                }
            }
            Motion::DualPrime(v, dmv) => {
                self.motion_vector(p, st, 0, s, v, frame_pic, Some(dmv));
                st.pmv[1][s] = st.pmv[0][s];
            }
        }
    }

    /// motion_vector(r, s): codes `v` against the prediction; `field_in_frame` is a field
    /// vector in a frame picture, whose vertical prediction is PMV halved (DIV 2, towards
    /// minus infinity) and whose PMV is stored doubled.
    #[allow(clippy::too_many_arguments)]
    fn motion_vector(&mut self, p: &Picture, st: &mut SliceState, r: usize, s: usize, v: Mv, field_in_frame: bool, dmv: Option<Mv>) {
        for t in 0..2 {
            let r_size = u32::from(p.f_code[s][t]) - 1;
            let f = 1i32 << r_size;
            let (low, high, range) = (-16 * f, 16 * f - 1, 32 * f);
            let scaled = field_in_frame && t == 1;
            let pred = if scaled { st.pmv[r][s][t] >> 1 } else { st.pmv[r][s][t] };
            debug_assert!((low..=high).contains(&v[t]), "vector {v:?} outside the f_code range");
            let mut delta = v[t] - pred;
            if delta < low {
                delta += range;
            }
            if delta > high {
                delta -= range;
            }
            if delta == 0 {
                self.bits.put(1, 1);
            } else {
                let a = delta.unsigned_abs() - 1;
                let code = (a >> r_size) + 1;
                let (c, l) = MOTION_VLC[code as usize];
                self.bits.put(c, l);
                self.bits.flag(delta < 0);
                if r_size > 0 {
                    self.bits.put(a & ((1 << r_size) - 1), r_size);
                }
            }
            if let Some(d) = dmv {
                match d[t] {
                    0 => self.bits.put(0, 1),
                    1 => self.bits.put(0b10, 2),
                    _ => self.bits.put(0b11, 2),
                }
            }
            st.pmv[r][s][t] = if scaled { v[t] * 2 } else { v[t] };
        }
    }

    /// A small synthetic residual: one to three low-frequency coefficients.
    fn residual_block(&mut self) {
        let n = self.rng.range(1, 3);
        let mut pos = 0i32;
        for i in 0..n {
            let run = self.rng.range(0, 4);
            pos += run;
            if pos > 63 {
                break;
            }
            let level = if self.rng.chance(50) { 1 } else { self.rng.range(2, 4) } * if self.rng.chance(50) { 1 } else { -1 };
            self.coefficient(run as u32, level, i == 0, false);
            pos += 1;
        }
        self.bits.put(0b10, 2); // EOB, table B-14
    }

    /// One run/level pair: the short code for run 0, level ±1, else the escape.
    fn coefficient(&mut self, run: u32, level: i32, first_non_intra: bool, b15: bool) {
        if run == 0 && level.abs() == 1 {
            match (first_non_intra, b15) {
                (true, _) => self.bits.put(0b1, 1),
                (false, false) => self.bits.put(0b11, 2),
                (false, true) => self.bits.put(0b10, 2),
            }
            self.bits.flag(level < 0);
        } else {
            self.bits.put(0b000001, 6);
            self.bits.put(run, 6);
            self.bits.put((level as u32) & 0xFFF, 12);
        }
    }

    /// An intra block of the picture's content: forward DCT, quantisation with the
    /// default matrix, DC differential and run/level coding.
    fn intra_block(&mut self, p: &Picture, st: &mut SliceState, col: usize, row: usize, block: usize, field_dct: bool) {
        let c = block.saturating_sub(3);
        let pan = (p.frame * 3, p.frame);
        // Sample rows of the block in frame coordinates: (first row, step).
        let (x0, y0, step) = if c == 0 {
            let (bx, by) = ((block & 1) as i32, (block >> 1) as i32);
            match p.structure {
                Structure::Frame if field_dct => (col as i32 * 16 + bx * 8, row as i32 * 16 + by, 2),
                Structure::Frame => (col as i32 * 16 + bx * 8, row as i32 * 16 + by * 8, 1),
                s => (col as i32 * 16 + bx * 8, 2 * (row as i32 * 16 + by * 8) + (s == Structure::Bottom) as i32, 2),
            }
        } else {
            match p.structure {
                Structure::Frame => (col as i32 * 8, row as i32 * 8, 1),
                s => (col as i32 * 8, 2 * (row as i32 * 8) + (s == Structure::Bottom) as i32, 2),
            }
        };
        let mut px = [0i64; 64];
        for (i, v) in px.iter_mut().enumerate() {
            *v = self.image.at(c, x0 + (i % 8) as i32, y0 + (i / 8) as i32 * step, pan);
        }
        let basis = |u: usize, x: usize| -> i64 {
            let k = ((2 * x + 1) * u) % 32;
            let (k, sign) = match k {
                0..=8 => (k, 1),
                9..=16 => (16 - k, -1),
                17..=24 => (k - 16, -1),
                _ => (32 - k, 1),
            };
            let cos = sign * COS[k];
            if u == 0 {
                cos * 23170 / 32768 / 2
            } else {
                cos / 2
            }
        };
        let qscale = if p.q_scale_type { i64::from(NONLINEAR_QSCALE[st.qscale_code as usize]) } else { 2 * i64::from(st.qscale_code) };
        let mut qf = [0i32; 64];
        for v in 0..8 {
            for u in 0..8 {
                let mut sum = 0i64;
                for y in 0..8 {
                    for x in 0..8 {
                        sum += basis(v, y) * basis(u, x) * px[y * 8 + x];
                    }
                }
                // sum is F(u, v) * 2^30; round to nearest.
                let idx = v * 8 + u;
                if idx == 0 {
                    let mult = 8i64 >> p.dc_precision;
                    qf[0] = div_round(sum, mult << 30) as i32;
                } else {
                    let q = div_round(16 * sum, (i64::from(INTRA_MATRIX[idx]) * qscale) << 30);
                    qf[idx] = q.clamp(-2047, 2047) as i32;
                }
            }
        }
        let dc_max = (256i32 << p.dc_precision) - 1;
        qf[0] = qf[0].clamp(0, dc_max);
        let diff = qf[0] - st.dc_pred[c];
        st.dc_pred[c] = qf[0];
        let size = 32 - diff.unsigned_abs().leading_zeros();
        let (code, len) = if c == 0 { DC_LUMA_VLC[size as usize] } else { DC_CHROMA_VLC[size as usize] };
        self.bits.put(code, len);
        if size > 0 {
            let bits = if diff > 0 { diff } else { diff + (1 << size) - 1 };
            self.bits.put(bits as u32, size);
        }
        let scan = if p.alternate_scan { &ALTERNATE } else { &ZIGZAG };
        let mut run = 0;
        for &pos in &scan[1..] {
            let level = qf[pos as usize];
            if level == 0 {
                run += 1;
                continue;
            }
            self.coefficient(run, level, false, p.intra_vlc_format);
            run = 0;
        }
        if p.intra_vlc_format {
            self.bits.put(0b0110, 4);
        } else {
            self.bits.put(0b10, 2);
        }
    }
}

impl Motion {
    /// The zero-vector fallback when no dual-prime vector fits: field motion in field
    /// pictures, frame-picture field motion from the same parities in frame pictures.
    fn into_frame_safe(self, structure: Structure) -> Motion {
        match (self, structure) {
            (Motion::Field(..), Structure::Frame) => Motion::FrameField([(0, [0, 0]), (1, [0, 0])]),
            (m, _) => m,
        }
    }
}

/// Rounds n / d to the nearest integer, halves away from zero (d > 0).
fn div_round(n: i64, d: i64) -> i64 {
    if n >= 0 {
        (n + d / 2) / d
    } else {
        -((-n + d / 2) / d)
    }
}

fn write_stream(s: &Stream, image: &Image) -> Vec<u8> {
    let mut w = Writer {
        bits: Bits::new(),
        rng: Rng(s.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        image,
        mb_width: s.width.div_ceil(16),
        mb_height: 2 * s.height.div_ceil(32),
    };
    w.sequence_header(s);
    w.gop_header();
    for p in &s.pictures {
        w.picture(p);
    }
    w.bits.start_code(0xB7);
    w.bits.out
}

/// A synthetic stream: file name, what it exercises, how many frames FFmpeg must output.
pub struct Synth {
    pub name: &'static str,
    pub about: &'static str,
    pub frames: usize,
    /// Which committed source frame the intra content comes from.
    pub source: &'static str,
    pub data: Vec<u8>,
}

/// The display size of every synthetic stream. 144 lines make the coded height 160
/// (interlaced sequences round to 32 lines), so decoders must handle the padding rows.
pub const WIDTH: usize = 176;
pub const HEIGHT: usize = 144;
pub const CODED_HEIGHT: usize = 160;

/// A field pair of one frame: (first, second) coding types, the first field's parity,
/// temporal_reference and display index.
fn field_pair(first: Coding, second: Coding, top_first: bool, tr: u16, frame: i32) -> [Picture; 2] {
    let (s1, s2) = if top_first { (Structure::Top, Structure::Bottom) } else { (Structure::Bottom, Structure::Top) };
    let mut a = Picture::new(first, s1, tr, frame);
    let mut b = Picture::new(second, s2, tr, frame);
    if second == Coding::P && first == Coding::I {
        // The second field's only reference is the first field of the same frame.
        b.fwd_fields = if top_first { 1 } else { 2 };
        b.f_code[0] = [2, 2];
    }
    a.f_code[1] = [15, 15];
    b.f_code[1] = [15, 15];
    if first == Coding::B {
        a.f_code[1] = [2, 2];
        b.f_code[1] = [2, 2];
    }
    [a, b]
}

/// Every stream, written from the two committed source frames.
pub fn streams(testsrc: &Image, mandel: &Image) -> Vec<Synth> {
    let mut out = Vec::new();
    let p_tools = Tools { intra_pct: 5, nomc: true, field: true, ..Tools::default() };

    // a: intra field pictures, top field first, every intra syntax variant in turn.
    let mut pics = Vec::new();
    for n in 0..6 {
        for mut p in field_pair(Coding::I, Coding::I, true, n as u16, n) {
            p.concealment = true;
            p.f_code[0] = [[1, 1], [2, 3], [3, 2]][n as usize % 3];
            p.intra_vlc_format = n % 2 == 1;
            p.alternate_scan = n / 2 % 2 == 1;
            p.q_scale_type = n % 3 == 2;
            p.dc_precision = (n % 3) as u8;
            pics.push(p);
        }
    }
    out.push(("a_intra_fields_tff.m2v", "I field pictures, top field first; concealment_motion_vectors=1 (field-select + vector + marker in every intra macroblock), intra_vlc_format 0/1, alternate_scan 0/1, q_scale_type 0/1, intra_dc_precision 8/9/10 bits, f_code 1..3, intra+quant macroblocks", 6, "testsrc2", pics, 1));

    // b: the same, bottom field first, no concealment vectors.
    let mut pics = Vec::new();
    for n in 0..6 {
        for mut p in field_pair(Coding::I, Coding::I, false, n as u16, n) {
            p.intra_vlc_format = n % 2 == 0;
            p.alternate_scan = n % 3 == 1;
            p.q_scale_type = n % 2 == 1;
            p.dc_precision = ((n + 1) % 3) as u8;
            pics.push(p);
        }
    }
    out.push(("b_intra_fields_bff.m2v", "I field pictures, bottom field first (the first field of each frame is the bottom one), intra syntax variants as in a without concealment vectors", 6, "mandelbrot", pics, 2));

    // c: P field pictures with field motion from both parities.
    let mut pics = Vec::new();
    {
        let [mut a, mut b] = field_pair(Coding::I, Coding::P, true, 0, 0);
        b.tools = Tools { nomc: false, ..p_tools };
        a.tools = p_tools;
        pics.extend([a, b]);
    }
    for n in 1..6 {
        for mut p in field_pair(Coding::P, Coding::P, true, n as u16, n) {
            p.tools = p_tools;
            p.f_code[0] = [[2, 2], [3, 1], [1, 3]][n as usize % 3];
            p.q_scale_type = n % 2 == 0;
            p.alternate_scan = n % 2 == 1;
            pics.push(p);
        }
    }
    out.push(("c_p_fields_field_motion.m2v", "I+P field pair then P field pairs, top field first: field motion from either reference field (motion_vertical_field_select 0/1), the second field predicting from the first field of the same frame, No-MC, MC-not-coded and MC-coded-with-quant macroblocks, intra macroblocks in P fields, f_code 1..3", 6, "testsrc2", pics, 3));

    // d: 16x8 motion, bottom field first.
    let mut pics = Vec::new();
    let t16 = Tools { intra_pct: 4, nomc: true, field: true, mv16x8: true, ..Tools::default() };
    {
        let [mut a, mut b] = field_pair(Coding::I, Coding::P, false, 0, 0);
        b.tools = Tools { nomc: false, ..t16 };
        a.tools = t16;
        pics.extend([a, b]);
    }
    for n in 1..6 {
        for mut p in field_pair(Coding::P, Coding::P, false, n as u16, n) {
            p.tools = Tools { field: n % 2 == 0, ..t16 };
            p.f_code[0] = [[2, 2], [1, 2], [3, 3]][n as usize % 3];
            pics.push(p);
        }
    }
    out.push(("d_p_fields_16x8.m2v", "I+P field pair then P field pairs, bottom field first: 16x8 motion (two vectors with their own field selects) mixed with field motion", 6, "mandelbrot", pics, 4));

    // e: dual prime in field pictures.
    let mut pics = Vec::new();
    let tdp = Tools { intra_pct: 3, nomc: true, field: true, dual: true, ..Tools::default() };
    pics.extend(field_pair(Coding::I, Coding::I, true, 0, 0));
    for n in 1..6 {
        for mut p in field_pair(Coding::P, Coding::P, true, n as u16, n) {
            p.tools = tdp;
            p.f_code[0] = [[2, 2], [2, 1], [1, 2]][n as usize % 3];
            pics.push(p);
        }
    }
    out.push(("e_p_fields_dual_prime.m2v", "I field pair then P field pairs, top field first: dual-prime motion (vector' + dmvector, opposite-parity vector derived; for second fields the opposite parity is the first field of the same frame) mixed with field motion and No-MC", 6, "testsrc2", pics, 5));

    // f: dual prime in P frame pictures.
    let mut pics = Vec::new();
    let mut i = Picture::new(Coding::I, Structure::Frame, 0, 0);
    i.tff = true;
    pics.push(i);
    for n in 1..8 {
        let mut p = Picture::new(Coding::P, Structure::Frame, n as u16, n);
        p.tff = true;
        p.tools = Tools { intra_pct: 3, nomc: true, frame: true, frame_field: n % 2 == 0, dual: true, ..Tools::default() };
        p.f_code[0] = [[2, 2], [3, 2], [2, 3]][n as usize % 3];
        p.alternate_scan = n % 2 == 1;
        pics.push(p);
    }
    out.push(("f_p_frames_dual_prime.m2v", "I then P frame pictures (frame_pred_frame_dct=0, top_field_first=1): dual-prime motion in frame pictures (four derived field predictions), frame and field motion, frame and field DCT (dct_type) in intra and coded macroblocks", 8, "mandelbrot", pics, 6));

    // g: field motion in P frame pictures, bottom field first, a repeated first field.
    let mut pics = Vec::new();
    let mut i = Picture::new(Coding::I, Structure::Frame, 0, 0);
    i.intra_vlc_format = true;
    pics.push(i);
    for n in 1..8 {
        let mut p = Picture::new(Coding::P, Structure::Frame, n as u16, n);
        p.tools = Tools { intra_pct: 4, nomc: true, frame: n % 3 == 0, frame_field: true, ..Tools::default() };
        p.f_code[0] = [[2, 2], [1, 3], [3, 1]][n as usize % 3];
        if n == 7 {
            // repeat_first_field needs a progressive frame, which needs frame prediction.
            p.progressive_frame = true;
            p.frame_pred_frame_dct = true;
            p.rff = true;
        }
        pics.push(p);
    }
    out.push(("g_p_frames_field_motion.m2v", "I then P frame pictures, top_field_first=0: field motion in frame pictures (per-field selects, PMV halving and doubling between frame and field vectors), frame motion, frame/field DCT; the last picture is progressive_frame=1 with frame_pred_frame_dct=1 and repeat_first_field=1", 8, "testsrc2", pics, 7));

    // h: B field pictures.
    let mut pics = Vec::new();
    let tb = Tools { intra_pct: 3, field: true, mv16x8: true, bidir: true, ..Tools::default() };
    let tp = Tools { intra_pct: 3, nomc: true, field: true, mv16x8: true, ..Tools::default() };
    pics.extend(field_pair(Coding::I, Coding::I, true, 0, 0));
    for (ptr, btr) in [(2u16, 1u16), (4, 3)] {
        for mut p in field_pair(Coding::P, Coding::P, true, ptr, i32::from(ptr)) {
            p.tools = tp;
            pics.push(p);
        }
        for mut p in field_pair(Coding::B, Coding::B, true, btr, i32::from(btr)) {
            p.tools = tb;
            p.f_code = [[2, 2], [1, 2]];
            if btr == 3 {
                p.f_code = [[3, 2], [2, 3]];
            }
            pics.push(p);
        }
    }
    out.push(("h_b_fields.m2v", "I field pair, then P and B field pairs (coding order I P B P B), top field first: B field pictures with forward, backward and bi-directional field and 16x8 motion from either field of either reference frame", 5, "mandelbrot", pics, 8));

    // i: skipped macroblocks and two slices per row in P and B field pictures.
    let mut pics = Vec::new();
    let tb = Tools { intra_pct: 3, field: true, mv16x8: true, bidir: true, skips: true, slices: true, ..Tools::default() };
    let tp = Tools { intra_pct: 3, nomc: true, field: true, skips: true, slices: true, ..Tools::default() };
    pics.extend(field_pair(Coding::I, Coding::I, false, 0, 0));
    for (ptr, btr) in [(2u16, 1u16), (4, 3)] {
        for mut p in field_pair(Coding::P, Coding::P, false, ptr, i32::from(ptr)) {
            p.tools = tp;
            pics.push(p);
        }
        for mut p in field_pair(Coding::B, Coding::B, false, btr, i32::from(btr)) {
            p.tools = tb;
            p.f_code = [[2, 1], [2, 2]];
            pics.push(p);
        }
    }
    out.push(("i_fields_skips_slices.m2v", "I field pair, then P and B field pairs (coding order I P B P B), bottom field first: skipped macroblocks (P: zero vector from the same parity; B: the previous macroblock's motion, field or 16x8, one or both directions), rows split into two slices at a random column (first increment counts from the row start)", 5, "testsrc2", pics, 9));

    // j: B frame pictures with frame and field motion.
    let mut pics = Vec::new();
    let mut i = Picture::new(Coding::I, Structure::Frame, 0, 0);
    i.tff = true;
    pics.push(i);
    let tp = Tools { intra_pct: 3, nomc: true, frame: true, frame_field: true, skips: true, ..Tools::default() };
    let tb = Tools { intra_pct: 3, frame: true, frame_field: true, bidir: true, skips: true, slices: true, ..Tools::default() };
    for (ptr, btr) in [(2u16, 1u16), (4, 3)] {
        let mut p = Picture::new(Coding::P, Structure::Frame, ptr, i32::from(ptr));
        p.tff = true;
        p.tools = tp;
        pics.push(p);
        let mut b = Picture::new(Coding::B, Structure::Frame, btr, i32::from(btr));
        b.tff = true;
        b.tools = tb;
        b.f_code = [[2, 2], [1, 2]];
        pics.push(b);
    }
    out.push(("j_b_frames_field_motion.m2v", "I, then P and B frame pictures (coding order I P B P B, frame_pred_frame_dct=0, top_field_first=1): B frame pictures with frame and field motion forward, backward and bi-directional, skipped macroblocks repeating either, two slices per row in B pictures", 5, "mandelbrot", pics, 10));

    out.into_iter()
        .map(|(name, about, frames, source, pictures, seed)| {
            let s = Stream { width: WIDTH, height: HEIGHT, seed, pictures };
            let img = if source == "testsrc2" { testsrc } else { mandel };
            Synth { name, about, frames, source, data: write_stream(&s, img) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_pack_msb_first_and_align_with_zeros() {
        let mut b = Bits::new();
        b.put(0b101, 3);
        b.start_code(0xB3);
        b.put(0xFF, 8);
        assert_eq!(b.out, [0b1010_0000, 0, 0, 1, 0xB3, 0xFF]);
    }

    #[test]
    fn flat_block_has_only_a_dc_coefficient() {
        // A flat 8x8 block of value v has F(0,0) = 8v and no AC energy: the integer DCT
        // must give exactly that, or intra pictures would not show the source.
        let data = vec![100u8; WIDTH * HEIGHT * 3 / 2];
        let img = Image::from_yuv420p(&data, WIDTH, HEIGHT, CODED_HEIGHT).unwrap();
        let mut w = Writer { bits: Bits::new(), rng: Rng(1), image: &img, mb_width: 11, mb_height: 10 };
        let p = Picture::new(Coding::I, Structure::Frame, 0, 0);
        let mut st = SliceState { dc_pred: [100; 3], pmv: [[[0; 2]; 2]; 2], qscale_code: 4, last: None };
        w.intra_block(&p, &mut st, 0, 0, 0, false);
        // DC differential 0 ("100"), then EOB ("10").
        assert_eq!(w.bits.n, 5);
        assert_eq!(w.bits.acc, 0b10010);
    }

    #[test]
    fn regenerating_gives_the_committed_streams() {
        let dir = crate::util::project_root().join("testdata/mpeg2-synth");
        let (t, m) = crate::m2v_synth::sources(&dir).unwrap();
        for s in streams(&t, &m) {
            let committed = std::fs::read(dir.join(s.name)).unwrap();
            assert!(committed == s.data, "{} differs from what the writer makes now", s.name);
        }
    }
}
