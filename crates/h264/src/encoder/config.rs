//! Encoder settings: one documented struct, validated once, before anything is
//! allocated, with errors that name the setting and its valid range.

use transcode_core::{Error, Result};

/// Which H.264 profile the stream declares, and so which tools the encoder may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Constrained Baseline (profile_idc 66 with constraint_set1): CAVLC, I and P
    /// slices only. Decodes everywhere.
    ConstrainedBaseline,
    /// Main (77). Default. Adds CABAC and B slices to Constrained Baseline's tools.
    #[default]
    Main,
    /// High (100).
    High,
}

impl Profile {
    pub(crate) fn idc(self) -> u8 {
        match self {
            Profile::ConstrainedBaseline => 66,
            Profile::Main => 77,
            Profile::High => 100,
        }
    }
}

/// Entropy coder of the slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Entropy {
    /// Context-adaptive variable-length codes. Default. Faster to encode and decode,
    /// and the only choice of Constrained Baseline.
    #[default]
    Cavlc,
    /// Context-adaptive binary arithmetic coding (Main and High): about 10% fewer
    /// bits at the same quality, for a slower entropy stage on both sides.
    Cabac,
}

/// How the encoder chooses each picture's QP.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum RateControl {
    /// [`EncoderConfig::qp`] for P pictures, `b_qp_offset` coarser for B and
    /// `i_qp_offset` finer for I pictures. Default. Predictable quality per picture
    /// type, but the same QP for a still picture as for a busy one.
    #[default]
    ConstantQp,
    /// Constant rate factor, 0..=51, as x264's `--crf` (23 is its default): a QP per
    /// picture from its complexity (blurred over recent pictures), finer on simple
    /// pictures and coarser on complex ones, where coarser quantisation is less
    /// visible; average content gets about QP `crf` on P pictures. I pictures are
    /// about 3 QP finer and B pictures about 2 coarser (x264's ipratio 1.4 and
    /// pbratio 1.3); `qp`, `b_qp_offset` and `i_qp_offset` are not used. Higher is
    /// smaller and worse.
    Crf(f32),
    /// One-pass average bitrate, `kbps` kilobits per second (1..=1000000), as
    /// x264's `--bitrate`: the same per-picture model as [`RateControl::Crf`], with
    /// the rate factor learnt from the bits the coded pictures took and corrected by
    /// the bits spent so far against the target (see `ratecontrol.rs`). A 30 s
    /// encode lands within a few percent of the target; the first seconds
    /// overshoot or undershoot while the model learns the content, and the
    /// quality varies more than with a rate factor, which is the better choice
    /// when the size need not be known in advance. `qp`, `b_qp_offset` and
    /// `i_qp_offset` are not used.
    Abr {
        /// Target bitrate in kilobits (1000 bits) per second.
        kbps: u32,
    },
}

/// Integer-sample motion search pattern, from the cheapest to the widest (x264's
/// `--me dia`, `hex` and `umh` in spirit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MeMethod {
    /// Small diamond: move to the best of the four neighbours until the centre wins.
    /// The fewest SADs per search; can stop in a local minimum on fast or detailed
    /// motion.
    Diamond,
    /// Hexagon of radius 2, moved until its centre wins, then a square of the eight
    /// neighbours. Default. About twice the diamond's SADs, and finds longer motion.
    #[default]
    Hexagon,
    /// Uneven multi-hexagon: from the best candidate a cross of points two samples
    /// apart over the whole range (horizontal) and half of it (vertical), then
    /// 16-point hexagonal rings at 4, 8, 12, ... samples up to the range, then the
    /// hexagon and square refinements. Finds fast and erratic motion the predictors
    /// miss, at about four to six times the hexagon's SADs (only the 16x16 searches
    /// use it; partitions, seeded by them, keep the hexagon).
    Umh,
}

impl MeMethod {
    /// Every method, cheapest first.
    pub const ALL: [MeMethod; 3] = [MeMethod::Diamond, MeMethod::Hexagon, MeMethod::Umh];

    /// The lowercase name (`dia`, `hex`, `umh`, as x264 spells them).
    pub fn name(self) -> &'static str {
        match self {
            MeMethod::Diamond => "dia",
            MeMethod::Hexagon => "hex",
            MeMethod::Umh => "umh",
        }
    }
}

impl std::str::FromStr for MeMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<MeMethod> {
        match s {
            "dia" | "diamond" => Ok(MeMethod::Diamond),
            "hex" | "hexagon" => Ok(MeMethod::Hexagon),
            "umh" => Ok(MeMethod::Umh),
            _ => Err(Error::invalid(format!("invalid me method {s:?} (expected dia, hex or umh)"))),
        }
    }
}

/// The colour description written into the VUI (ITU-T H.273 code points). Written only
/// when set; decoders then assume their defaults (usually BT.709 for HD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColourDescription {
    /// colour_primaries (1 = BT.709, 5/6 = BT.601 625/525).
    pub primaries: u8,
    /// transfer_characteristics (1 = BT.709).
    pub transfer: u8,
    /// matrix_coefficients (1 = BT.709, 5/6 = BT.601).
    pub matrix: u8,
    /// Full-range (0..=255) samples instead of video range (16..=235).
    pub full_range: bool,
}

/// Settings of an [`super::Encoder`]. Every field is public and documented with its
/// default; [`EncoderConfig::new`] fills the defaults for a picture size, and
/// [`EncoderConfig::validate`] (called by [`super::Encoder::new`]) checks them all.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Visible width in samples, 16..=8192 and even (4:2:0). No default.
    pub width: u32,
    /// Visible height in samples, 16..=8192 and even (4:2:0). No default.
    pub height: u32,
    /// Frame rate as `(numerator, denominator)` frames per second, both 1..=65535.
    /// Default: `(25, 1)`. Written as VUI timing and used to choose the level.
    pub frame_rate: (u32, u32),
    /// Sample aspect ratio `(width, height)`, both 1..=65535. Default: `(1, 1)`.
    pub sar: (u32, u32),
    /// Colour description for the VUI. Default: `None` (not written).
    pub colour: Option<ColourDescription>,
    /// Declared profile. Default: [`Profile::Main`].
    pub profile: Profile,
    /// Level as `level_idc` (10 = 1.0, 31 = 3.1, ...), or `None` to choose the lowest
    /// level whose frame size, macroblock rate and DPB fit (Table A-1). Default: `None`.
    pub level: Option<u8>,
    /// How each picture's QP is chosen. Default: [`RateControl::ConstantQp`] (at
    /// `qp`).
    pub rate_control: RateControl,
    /// VBV maximum rate in kilobits per second, 1..=1000000, with
    /// [`RateControl::Crf`] or [`RateControl::Abr`] (at least its bitrate), and
    /// `vbv_bufsize_kbits` with it: the encoder keeps a model of a decoder buffer
    /// filling at this rate and raises QPs (coding a picture again if need be) so
    /// that it never underflows (see `vbv.rs`), and the SPS declares both (VUI
    /// `nal_hrd_parameters`, one variable-rate schedule; no buffering period or
    /// picture timing SEI yet), within the level's MaxBR and MaxCPB (the
    /// automatic level rises to fit them). Default: `None` (no limit). A limit costs quality on
    /// busy content and keyframes, in exchange for a stream that a player fed at
    /// this rate with this buffer never waits for.
    pub vbv_maxrate_kbps: Option<u32>,
    /// VBV buffer size in kilobits, 1..=10000000 and at least one frame at
    /// `vbv_maxrate_kbps`; needs `vbv_maxrate_kbps`. Default: `None`. A larger buffer
    /// lets keyframes and busy stretches take more bits at the cost of a longer
    /// start-up delay for a player (`vbv_init * bufsize / maxrate`).
    pub vbv_bufsize_kbits: Option<u32>,
    /// How full the VBV buffer is when the first picture is taken out, 0.1..=1.0.
    /// Default: `0.9` (x264's). Lower starts playback sooner, at the cost of fewer
    /// bits for the first keyframe.
    pub vbv_init: f32,
    /// Constant quantiser, 0..=51, of [`RateControl::ConstantQp`]. Default: `26`. Lower is better quality and larger
    /// output (about 12% more bits per step).
    pub qp: u8,
    /// Chroma QP offset (chroma_qp_index_offset), -12..=12. Default: `0`.
    pub chroma_qp_offset: i8,
    /// Frames from one IDR picture to the next, 1..=65535 (1 = all intra). Default:
    /// `250`. Shorter intervals seek faster and recover sooner from loss, at the cost of
    /// more large intra pictures.
    pub keyint: u32,
    /// Entropy coder. Default: [`Entropy::Cavlc`].
    pub entropy: Entropy,
    /// Reference frames for P pictures, 1..=1 for now. Default: `1`. Each costs one
    /// frame of memory.
    pub ref_frames: u8,
    /// Frames queued before the first one is encoded, 1..=64 (x264's medium uses 40).
    /// Default: `1`. The
    /// encoder queues at least `bframes + 1`, whichever is more. A deeper
    /// lookahead will let frame-type decisions and rate control see ahead, at the cost
    /// of one frame handle (not a copy) per frame.
    pub lookahead: usize,
    /// Integer motion search range in samples around the best candidate, 4..=64.
    /// Default: `16`. Larger finds fast motion, at the cost of speed.
    pub me_range: u16,
    /// Try Intra 4x4 prediction (9 modes per 4x4 block) besides Intra 16x16. Default:
    /// `true`. Off is faster and about 10-20% larger on detailed intra pictures.
    pub intra4x4: bool,
    /// Try 16x8, 8x16 and 8x8 partitions of P macroblocks besides 16x16 (each with
    /// its own motion search). Default: `true`. Off is faster; on saves a few percent
    /// on detailed motion.
    pub partitions: bool,
    /// Run the in-loop deblocking filter. Default: `true`. Off is faster to encode and
    /// decode and visibly blockier at high QP.
    pub deblock: bool,
    /// B pictures between two anchors (I or P pictures), 0..=16, non-reference
    /// except the middle one with [`EncoderConfig::b_pyramid`].
    /// Default: `0` (every picture is coded in display order). Each B picture saves
    /// about a third of a P picture's bits on ordinary motion, at the cost of a delay
    /// of `bframes + 1` frame handles in the lookahead and one more reconstruction
    /// frame (the second reference). Not allowed with Constrained Baseline.
    pub bframes: u8,
    /// How much coarser B pictures are quantised than P pictures (slice_qp_delta of
    /// B slices), 0..=12, at constant QP. Default: `2`. Nothing predicts from a B picture, so its
    /// quality matters only for itself (x264's pbratio 1.3 is about +2).
    pub b_qp_offset: u8,
    /// How much finer I pictures are quantised than P pictures (slice_qp_delta of I
    /// slices), 0..=12, at constant QP. Default: `3`. Every later picture predicts from the I picture,
    /// so a finer one pays back over the GOP (x264's ipratio 1.4 is about 3, which its
    /// `--qp` applies too; 3 saves about 5% of BD-rate on natural content against 0),
    /// at the cost of a larger keyframe.
    pub i_qp_offset: u8,
    /// Start a new GOP (an IDR picture) at a scene cut: a frame that its predecessor
    /// predicts worse than it predicts itself, measured on 1/8-size luma thumbnails
    /// with a small motion search. Default: `true`. Costs two thumbnails of memory
    /// and a few microseconds per frame; off gives IDR pictures at `keyint` only
    /// (with [`RateControl::Crf`] the thumbnails are still made, as its complexity
    /// measure).
    pub scenecut: bool,
    /// Write the SPS and PPS before every IDR picture (not only the first), so the
    /// Annex-B stream can be cut at any IDR. Default: `true`; costs about 20 bytes per
    /// IDR.
    pub repeat_headers: bool,
    /// Slices per picture, 1..=64 (at most one per macroblock row: a picture with
    /// fewer rows gets one slice per row). Default: `1`. Each slice is a band of
    /// whole macroblock rows coded on its own (nothing is predicted across a slice's
    /// top edge; the deblocking filter still smooths it), so that several threads can
    /// code one picture; each costs a slice header and the predictions it cannot make,
    /// about 1% more bits per doubling at 720p.
    pub slices: u8,
    /// Threads coding the slices of a picture, 1..=64; more than `slices` do not
    /// help. Default: `1` (everything on the calling thread). Each thread beyond the
    /// first is started by [`super::Encoder::new`] and holds its own macroblock and
    /// motion tables, a reconstruction band and a slice buffer (about 2.5 MB at
    /// 720p), reserved against the budget up front. With `threads = slices = N` the
    /// output is the same whatever the number of cores; it depends on `slices` only.
    pub threads: usize,
    /// Variance adaptive quantisation with [`RateControl::Crf`] or
    /// [`RateControl::Abr`], 0.0..=3.0 (0 =
    /// off): each macroblock's QP moves by this many QP per doubling of its luma
    /// AC energy against the picture's mean, within 8 QP, so flat areas (where
    /// quantisation noise shows) get finer QPs and busy ones, which mask it, coarser
    /// (x264's `--aq-mode`, strength 1.0). Default: `1.0`. Better looking at the same
    /// bitrate, at the cost of PSNR: set 0 to optimise PSNR (x264's `--tune psnr`).
    /// Not used at constant QP, which stays constant per picture.
    pub aq_strength: f32,
    /// Debugging aid: offsets every macroblock's QP by a pattern in
    /// -`mb_qp_pattern`..=`mb_qp_pattern` (changing per macroblock and per picture),
    /// 0..=51, whatever the rate control, so that tests meet every mb_qp_delta.
    /// Default: `0` (off). Only useful for testing decoders: it costs bits.
    pub mb_qp_pattern: u8,
    /// Macroblock-tree with [`RateControl::Crf`] or [`RateControl::Abr`]: macroblocks that the frames
    /// queued after an anchor (up to `lookahead`, estimated on half-size luma)
    /// predict from get finer QPs, as x264's `--mbtree`. Default: `true`. Costs a
    /// half-size analysis per frame and about 12 bytes per macroblock per queued
    /// frame. With `lookahead` at most `bframes + 1` only IDR pictures and anchors
    /// of groups cut short have queued frames after them to look at. Not used
    /// at constant QP (x264's `--qp` turns it off too).
    pub mbtree: bool,
    /// The 8x8 transform (High profile's transform_8x8_mode): each inter macroblock
    /// without partitions smaller than 8x8 codes its luma residual with 8x8 or 4x4
    /// transforms, whichever the 8x8 and 4x4 Hadamard costs of the residual favour,
    /// and intra macroblocks may use Intra 8x8 (nine modes per 8x8 block over
    /// filtered neighbours) besides Intra 4x4 and 16x16. Default: `true`, but it
    /// takes effect only with [`Profile::High`]: Main and Constrained Baseline have
    /// no 8x8 transform, so with them this setting is ignored (their streams stay
    /// decodable by every Main decoder). On detailed and smooth content alike it
    /// saves several percent of bits, at the cost of a few percent of speed.
    pub transform_8x8: bool,
    /// Integer-sample motion search pattern. Default: [`MeMethod::Hexagon`]. See
    /// [`MeMethod`] for what each costs and finds.
    pub me_method: MeMethod,
    /// Sub-sample refinement after the integer search, 0..=4, by SATD + lambda x
    /// mvd bits on the decoder's own interpolation: 0 none (full-sample vectors
    /// only), 1 half samples (a diamond of 4), 2 half then quarter samples
    /// (diamonds), 3 squares of 8 at both steps, 4 the half-sample square then the
    /// quarter-sample square repeated while it moves (within the three quarter
    /// samples the half-sample grid covers). Default: `2`. Each level costs more
    /// SATDs per search (1, 5, 9, 17, 17 to 33) for vectors closer to the true
    /// motion, so fewer bits at the same quality.
    pub subpel_refine: u8,
    /// Skip the 16x8, 8x16 and 8x8 searches of a P macroblock when its 16x16
    /// prediction is already clearly good: its residual SATD under 480 + 48 lambda,
    /// where the extra partitions' headers and vectors (at least 14 lambda) would
    /// rarely be paid back. Default: `false` (every P macroblock searches them when
    /// `partitions` is on). On skips about two thirds of those searches, saving about
    /// 13% of the encoder's instructions at veryfast's settings for about +0.2% of
    /// bits at the same PSNR.
    pub partition_early_exit: bool,
    /// B-pyramid: with `bframes` at least 2, the middle B picture of each group
    /// (`n / 2` of `n`, counting from 0) is a reference picture, coded right after
    /// the group's anchor at a QP between the P and B pictures', and the other B
    /// pictures predict from it instead of the farther anchor. Default: `true`.
    /// Saves several percent of bits with 2 or more B-frames (the outer B pictures
    /// predict from a picture twice as close), at the cost of one more
    /// reconstruction frame and one more motion table (reserved up front), one more
    /// frame of reordering delay for decoders (`max_num_reorder_frames` 2) and one
    /// more DPB frame for the level. Ignored with fewer than 2 B-frames.
    pub b_pyramid: bool,
    /// Adaptive B-frame placement: each group gets 0..=`bframes` B pictures, chosen
    /// from the scene-cut thumbnails of the queued frames (the cost of predicting the
    /// candidate anchor from the previous one against its intra cost, both per
    /// thumbnail sample, so that the choice does not depend on the picture size).
    /// Default: `false` (every group has `bframes` B pictures unless cut short by
    /// `keyint`, a scene cut or the end). On fast or changing motion it places
    /// fewer B pictures where they would predict badly, at the cost of one thumbnail
    /// (1/64 of the luma) per queued frame and a few searches on them per group; on
    /// the bench's steady photograph pans it keeps every group whole, so there it
    /// only costs time (`docs/benchmarks.md`).
    pub b_adapt: bool,
}

impl EncoderConfig {
    /// The defaults above for a `width` x `height` picture.
    pub fn new(width: u32, height: u32) -> EncoderConfig {
        EncoderConfig {
            width,
            height,
            frame_rate: (25, 1),
            sar: (1, 1),
            colour: None,
            profile: Profile::Main,
            level: None,
            rate_control: RateControl::ConstantQp,
            vbv_maxrate_kbps: None,
            vbv_bufsize_kbits: None,
            vbv_init: 0.9,
            qp: 26,
            chroma_qp_offset: 0,
            keyint: 250,
            entropy: Entropy::Cavlc,
            ref_frames: 1,
            lookahead: 1,
            me_range: 16,
            intra4x4: true,
            partitions: true,
            deblock: true,
            repeat_headers: true,
            bframes: 0,
            b_qp_offset: 2,
            i_qp_offset: 3,
            scenecut: true,
            slices: 1,
            threads: 1,
            aq_strength: 1.0,
            mb_qp_pattern: 0,
            mbtree: true,
            transform_8x8: true,
            me_method: MeMethod::Hexagon,
            subpel_refine: 2,
            partition_early_exit: false,
            b_pyramid: true,
            b_adapt: false,
        }
    }

    /// Whether the stream uses the 8x8 transform: asked for and allowed by the
    /// profile (see [`EncoderConfig::transform_8x8`]).
    pub fn uses_8x8_transform(&self) -> bool {
        self.transform_8x8 && self.profile == Profile::High
    }

    /// Whether the B groups have a reference B picture (see
    /// [`EncoderConfig::b_pyramid`]).
    pub fn uses_b_pyramid(&self) -> bool {
        self.b_pyramid && self.bframes >= 2
    }

    /// Most source frames the encoder holds (handles into the caller's pool, queued or
    /// waiting to be coded as B pictures): `lookahead`, or `bframes + 1` when that is
    /// more. The caller's
    /// frame pool needs this many frames beyond the one it is filling, or sending
    /// blocks on a pool the encoder holds.
    pub fn queued_frames(&self) -> usize {
        self.lookahead.max(self.bframes as usize + 1)
    }

    /// The VBV settings `(maxrate_kbps, bufsize_kbits)`, when both are set.
    pub fn vbv(&self) -> Option<(u32, u32)> {
        self.vbv_maxrate_kbps.zip(self.vbv_bufsize_kbits)
    }

    /// Checks the average bitrate and the VBV settings.
    fn validate_rate(&self) -> Result<()> {
        if let RateControl::Abr { kbps } = self.rate_control {
            if !(1..=1_000_000).contains(&kbps) {
                return Err(Error::invalid(format!("invalid bitrate {kbps} kbit/s (expected 1..=1000000)")));
            }
        }
        match (self.vbv_maxrate_kbps, self.vbv_bufsize_kbits) {
            (None, None) => return Ok(()),
            (Some(_), None) => {
                return Err(Error::invalid("invalid vbv maxrate without a vbv bufsize (expected both, or neither)"))
            }
            (None, Some(_)) => {
                return Err(Error::invalid("invalid vbv bufsize without a vbv maxrate (expected both, or neither)"))
            }
            (Some(max), Some(size)) => {
                if !(1..=1_000_000).contains(&max) {
                    return Err(Error::invalid(format!("invalid vbv maxrate {max} kbit/s (expected 1..=1000000)")));
                }
                // One frame at the maximum rate, rounded up: a smaller buffer cannot
                // hold even an average picture.
                let frame = (max as u64 * self.frame_rate.1 as u64).div_ceil(self.frame_rate.0.max(1) as u64);
                if (size as u64) < frame.max(1) || size > 10_000_000 {
                    return Err(Error::invalid(format!(
                        "invalid vbv bufsize {size} kbit (expected {}..=10000000: at least one frame at the maxrate)",
                        frame.max(1)
                    )));
                }
                match self.rate_control {
                    RateControl::ConstantQp => {
                        return Err(Error::invalid(
                            "invalid vbv with constant qp (expected rate control crf or abr)",
                        ))
                    }
                    RateControl::Abr { kbps } if max < kbps => {
                        return Err(Error::invalid(format!(
                            "invalid vbv maxrate {max} kbit/s (expected at least the bitrate, {kbps})"
                        )))
                    }
                    _ => {}
                }
            }
        }
        // A NaN compares false both ways; it is refused too.
        if !(0.1..=1.0).contains(&self.vbv_init) {
            return Err(Error::invalid(format!("invalid vbv init {} (expected 0.1..=1)", self.vbv_init)));
        }
        Ok(())
    }

    /// Checks every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<()> {
        fn range<T: PartialOrd + std::fmt::Display>(name: &str, v: T, lo: T, hi: T) -> Result<()> {
            if v < lo || v > hi {
                return Err(Error::invalid(format!(
                    "invalid {name} {v} (expected {lo}..={hi})"
                )));
            }
            Ok(())
        }
        range("width", self.width, 16, 8192)?;
        range("height", self.height, 16, 8192)?;
        if (self.width | self.height) & 1 != 0 {
            return Err(Error::invalid(format!(
                "invalid size {}x{} (expected even width and height for 4:2:0)",
                self.width, self.height
            )));
        }
        range("frame rate numerator", self.frame_rate.0, 1, 65535)?;
        range("frame rate denominator", self.frame_rate.1, 1, 65535)?;
        range("sar width", self.sar.0, 1, 65535)?;
        range("sar height", self.sar.1, 1, 65535)?;
        range("qp", self.qp, 0, 51)?;
        if let RateControl::Crf(crf) = self.rate_control {
            // A NaN compares false both ways; it is refused too.
            if !(0.0..=51.0).contains(&crf) {
                return Err(Error::invalid(format!("invalid crf {crf} (expected 0..=51)")));
            }
        }
        self.validate_rate()?;
        // A NaN compares false both ways; it is refused too.
        if !(0.0..=3.0).contains(&self.aq_strength) {
            return Err(Error::invalid(format!(
                "invalid aq strength {} (expected 0..=3)",
                self.aq_strength
            )));
        }
        range("mb qp pattern", self.mb_qp_pattern, 0, 51)?;
        range("chroma qp offset", self.chroma_qp_offset, -12, 12)?;
        range("keyint", self.keyint, 1, 65535)?;
        range("ref frames", self.ref_frames, 1, 1)?;
        range("lookahead", self.lookahead, 1, 64)?;
        range("me range", self.me_range, 4, 64)?;
        range("bframes", self.bframes, 0, 16)?;
        range("b qp offset", self.b_qp_offset, 0, 12)?;
        range("i qp offset", self.i_qp_offset, 0, 12)?;
        range("slices", self.slices, 1, 64)?;
        range("subpel refine", self.subpel_refine, 0, 4)?;
        range("threads", self.threads, 1, 64)?;
        if self.bframes > 0 && self.profile == Profile::ConstrainedBaseline {
            return Err(Error::invalid(
                "invalid bframes for profile constrained baseline (expected 0, or profile main or high)",
            ));
        }
        if let Some(l) = self.level {
            if super::headers::level_limits(l).is_none() {
                return Err(Error::invalid(format!(
                    "invalid level {l} (expected a level_idc of Table A-1: 9, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52)"
                )));
            }
        }
        if self.entropy == Entropy::Cabac && self.profile == Profile::ConstrainedBaseline {
            return Err(Error::invalid(
                "invalid entropy cabac for profile constrained baseline (expected cavlc, or profile main or high)",
            ));
        }
        Ok(())
    }
}

/// Parses a bitrate or buffer size for the command lines, in kilobits: `600` (kilobits,
/// as x264's `--bitrate`), `600k`, `2M` or `1.5M` (FFmpeg's suffixes, k = 1000 bits,
/// M = 1000000 bits); `None` when `s` is none of these, or not a whole positive
/// number of kilobits below 2^32.
pub fn parse_kilobits(s: &str) -> Option<u32> {
    let s = s.trim();
    let (num, scale) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1.0),
        (i, 'm' | 'M') => (&s[..i], 1000.0),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    let kbits = v * scale;
    (kbits.is_finite() && kbits >= 1.0 && kbits.fract() == 0.0 && kbits < u32::MAX as f64).then_some(kbits as u32)
}
