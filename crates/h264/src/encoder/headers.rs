//! Parameter sets and slice headers: the SPS (with VUI: aspect ratio, colour, timing,
//! bitstream restrictions), the PPS, the level choice from Table A-1, and the slice
//! header of I, P and B slices (with the reference list modification and memory
//! management operations of B-pyramid groups).

use super::bits::BitSink;
use super::config::{EncoderConfig, Profile};
use transcode_codec::h264::max_dpb_mbs;
use transcode_core::{Error, Result};

/// The limits of one level that a constant-QP encoder must respect (Table A-1):
/// macroblocks per second, frame size in macroblocks, and the vertical motion vector
/// range in quarter samples (Table A-1's MaxVmvR, as `-range..range`).
#[derive(Debug, Clone, Copy)]
pub struct LevelLimits {
    pub max_mbps: u64,
    pub max_fs: u32,
    pub max_vmv_quarter: i32,
}

/// Table A-1 for `level_idc` (9 is level 1b); `None` for an unknown level.
pub fn level_limits(level_idc: u8) -> Option<LevelLimits> {
    let (max_mbps, max_fs, vmv) = match level_idc {
        9 | 10 => (1485, 99, 64),
        11 => (3000, 396, 128),
        12 => (6000, 396, 128),
        13 | 20 => (11880, 396, 128),
        21 => (19800, 792, 256),
        22 => (20250, 1620, 256),
        30 => (40500, 1620, 256),
        31 => (108000, 3600, 512),
        32 => (216000, 5120, 512),
        40 | 41 => (245760, 8192, 512),
        42 => (522240, 8704, 512),
        50 => (589824, 22080, 512),
        51 => (983040, 36864, 512),
        52 => (2073600, 36864, 512),
        _ => return None,
    };
    Some(LevelLimits {
        max_mbps,
        max_fs,
        max_vmv_quarter: vmv * 4,
    })
}

/// Table A-1's MaxBR (kbit/s) and MaxCPB (kbit), as VCL figures (1000 bits per
/// unit, cpbBrVclFactor); `None` for an unknown level.
fn level_rate_limits(level_idc: u8) -> Option<(u64, u64)> {
    Some(match level_idc {
        9 => (128, 350),
        10 => (64, 175),
        11 => (192, 500),
        12 => (384, 1000),
        13 => (768, 2000),
        20 => (2000, 2000),
        21 | 22 => (4000, 4000),
        30 => (10000, 10000),
        31 => (14000, 14000),
        32 => (20000, 20000),
        40 => (20000, 25000),
        41 | 42 => (50000, 62500),
        50 => (135000, 135000),
        51 | 52 => (240000, 240000),
        _ => return None,
    })
}

/// Whether the VBV settings (which the SPS declares as NAL HRD parameters) fit
/// `level`'s MaxBR and MaxCPB, scaled by cpbBrNalFactor / 1000 (A.3.1, Table A-2):
/// 1.2 for Main and Constrained Baseline, 1.5 for High.
fn vbv_fits(level: u8, cfg: &EncoderConfig) -> bool {
    let Some((max, size)) = cfg.vbv() else {
        return true;
    };
    let Some((max_br, max_cpb)) = level_rate_limits(level) else {
        return false;
    };
    let nal = if cfg.profile == Profile::High { 1500 } else { 1200 };
    max as u64 * 1000 <= max_br * nal && size as u64 * 1000 <= max_cpb * nal
}

/// Levels in increasing order, for the automatic choice. 1b and 1.3 are skipped: they
/// differ from 1.1 and 2 only by a lower maximum bit rate, which a constant-QP stream
/// does not promise.
const LEVELS: [u8; 15] = [10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52];

/// Whether a `mb_w` x `mb_h` picture at `fps_milli` thousandths of a frame per second
/// with `dpb_frames` reference frames fits `level`.
fn fits(level: u8, mb_w: u32, mb_h: u32, fps_milli: u64, dpb_frames: u32) -> bool {
    let (Some(l), Some(dpb)) = (level_limits(level), max_dpb_mbs(level)) else {
        return false;
    };
    let fs = mb_w * mb_h;
    // A.3.1 item b and the side-length rule: each side at most sqrt(8 * MaxFS).
    let side_ok = |s: u32| (s as u64) * (s as u64) <= 8 * l.max_fs as u64;
    fs <= l.max_fs
        && side_ok(mb_w)
        && side_ok(mb_h)
        && fs as u64 * fps_milli <= l.max_mbps * 1000
        && fs * dpb_frames <= dpb
}

/// The level to declare: the configured one if the stream fits it, otherwise an error
/// naming the limit; or the lowest level that fits.
pub fn choose_level(cfg: &EncoderConfig) -> Result<u8> {
    let (mb_w, mb_h) = (cfg.width.div_ceil(16), cfg.height.div_ceil(16));
    let fps_milli = (cfg.frame_rate.0 as u64 * 1000).div_ceil(cfg.frame_rate.1 as u64);
    let refs = dpb_frames(cfg);
    match cfg.level {
        Some(l) => {
            if fits(l, mb_w, mb_h, fps_milli, refs) && vbv_fits(l, cfg) {
                Ok(l)
            } else {
                Err(Error::invalid(format!(
                    "invalid level {l} for {}x{} at {}/{} fps (expected a level whose frame size, macroblock rate, DPB and vbv maxrate and bufsize fit, Table A-1)",
                    cfg.width, cfg.height, cfg.frame_rate.0, cfg.frame_rate.1
                )))
            }
        }
        None => LEVELS
            .iter()
            .copied()
            .find(|&l| fits(l, mb_w, mb_h, fps_milli, refs) && vbv_fits(l, cfg))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "invalid size and rate {}x{} at {}/{} fps (expected at most level 5.2: 36864 macroblocks per frame, 2073600 per second, and a vbv maxrate and bufsize of 288000 kbit/s and kbit, 360000 with high profile)",
                    cfg.width, cfg.height, cfg.frame_rate.0, cfg.frame_rate.1
                ))
            }),
    }
}

/// Reference frames the DPB must hold: the configured ones, plus the second anchor
/// B pictures predict from, plus the reference B picture of a B-pyramid group.
pub fn dpb_frames(cfg: &EncoderConfig) -> u32 {
    cfg.ref_frames as u32 + (cfg.bframes > 0) as u32 + cfg.uses_b_pyramid() as u32
}

/// max_num_reorder_frames: how many pictures may precede one in decoding order and
/// follow it in display order. A non-reference B picture waits for its future
/// anchor; in a B-pyramid group the B pictures before the reference B wait for it
/// and the anchor.
pub fn reorder_frames(cfg: &EncoderConfig) -> u32 {
    (cfg.bframes > 0) as u32 + cfg.uses_b_pyramid() as u32
}

/// Fixed choices of this encoder's sequence, shared by the SPS and the slice headers.
pub const LOG2_MAX_FRAME_NUM: u32 = 8;
pub const LOG2_MAX_POC_LSB: u32 = 8;

/// What the parameter sets say, worked out once from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Sequence {
    pub mb_w: u32,
    pub mb_h: u32,
    pub level: u8,
    pub qp: i32,
}

/// Writes seq_parameter_set_rbsp (7.3.2.1.1) with VUI (E.1.1), without trailing bits.
pub fn write_sps(w: &mut impl BitSink, cfg: &EncoderConfig, seq: &Sequence) {
    let profile = cfg.profile.idc();
    w.put(profile as u32, 8);
    // constraint_set0 (Baseline) and constraint_set1 (Main) where the stream obeys
    // them; constraint_set3 marks level 1b for Baseline and Main.
    let level_1b = seq.level == 9;
    let (cs0, cs1, cs3) = match cfg.profile {
        Profile::ConstrainedBaseline => (1, 1, level_1b as u32),
        Profile::Main => (0, 1, level_1b as u32),
        Profile::High => (0, 0, 0),
    };
    w.put((cs0 << 7) | (cs1 << 6) | (cs3 << 4), 8);
    let level_idc = if level_1b && cfg.profile != Profile::High {
        11
    } else {
        seq.level
    };
    w.put(level_idc as u32, 8);
    w.ue(0); // seq_parameter_set_id
    if cfg.profile == Profile::High {
        w.ue(1); // chroma_format_idc 4:2:0
        w.ue(0); // bit_depth_luma_minus8
        w.ue(0); // bit_depth_chroma_minus8
        w.flag(false); // qpprime_y_zero_transform_bypass_flag
        w.flag(false); // seq_scaling_matrix_present_flag
    }
    w.ue(LOG2_MAX_FRAME_NUM - 4);
    // POC type 0 (explicit LSBs) costs a byte per slice but leaves room for B-frames.
    w.ue(0);
    w.ue(LOG2_MAX_POC_LSB - 4);
    w.ue(dpb_frames(cfg)); // max_num_ref_frames
    w.flag(false); // gaps_in_frame_num_value_allowed_flag
    w.ue(seq.mb_w - 1);
    w.ue(seq.mb_h - 1);
    w.flag(true); // frame_mbs_only_flag
    w.flag(true); // direct_8x8_inference_flag
    let (crop_r, crop_b) = (
        (seq.mb_w * 16 - cfg.width) / 2,
        (seq.mb_h * 16 - cfg.height) / 2,
    );
    let crop = crop_r != 0 || crop_b != 0;
    w.flag(crop);
    if crop {
        w.ue(0);
        w.ue(crop_r);
        w.ue(0);
        w.ue(crop_b);
    }
    w.flag(true); // vui_parameters_present_flag
    write_vui(w, cfg);
}

fn write_vui(w: &mut impl BitSink, cfg: &EncoderConfig) {
    w.flag(true); // aspect_ratio_info_present_flag
    if cfg.sar == (1, 1) {
        w.put(1, 8);
    } else {
        w.put(255, 8); // Extended_SAR
        w.put(cfg.sar.0, 16);
        w.put(cfg.sar.1, 16);
    }
    w.flag(false); // overscan_info_present_flag
    match cfg.colour {
        Some(c) => {
            w.flag(true); // video_signal_type_present_flag
            w.put(5, 3); // video_format: unspecified
            w.flag(c.full_range);
            w.flag(true); // colour_description_present_flag
            w.put(c.primaries as u32, 8);
            w.put(c.transfer as u32, 8);
            w.put(c.matrix as u32, 8);
        }
        None => w.flag(false),
    }
    w.flag(false); // chroma_loc_info_present_flag
    w.flag(true); // timing_info_present_flag
    // A frame lasts two ticks (E.2.1: one tick per field).
    w.put(cfg.frame_rate.1, 32); // num_units_in_tick
    w.put(2 * cfg.frame_rate.0, 32); // time_scale
    w.flag(true); // fixed_frame_rate_flag
    match cfg.vbv() {
        Some((max, size)) => {
            w.flag(true); // nal_hrd_parameters_present_flag
            write_hrd(w, max, size);
            w.flag(false); // vcl_hrd_parameters_present_flag
            w.flag(false); // low_delay_hrd_flag
        }
        None => {
            w.flag(false); // nal_hrd_parameters_present_flag
            w.flag(false); // vcl_hrd_parameters_present_flag
        }
    }
    w.flag(false); // pic_struct_present_flag
    w.flag(true); // bitstream_restriction_flag
    w.flag(true); // motion_vectors_over_pic_boundaries_flag
    w.ue(0); // max_bytes_per_pic_denom
    w.ue(0); // max_bits_per_mb_denom
    w.ue(16); // log2_max_mv_length_horizontal
    w.ue(16); // log2_max_mv_length_vertical
    w.ue(reorder_frames(cfg)); // max_num_reorder_frames
    w.ue(dpb_frames(cfg)); // max_dec_frame_buffering
}

/// A value in units of `2^(base + scale)` for the HRD's scaled fields: the largest
/// scale (0..=15) that divides `v` exactly, else scale 0 rounded up, so the
/// declared rate and size are never below the VBV's (a faster, larger buffer
/// never underflows where the VBV's did not).
fn hrd_scaled(v: u64, base: u32) -> (u32, u64) {
    let scale = (0..=15u32).rev().find(|&s| v.is_multiple_of(1u64 << (base + s))).unwrap_or(0);
    (scale, v.div_ceil(1 << (base + scale)))
}

/// hrd_parameters (E.1.2) for one variable-rate schedule: the VBV's maxrate and
/// buffer size. The delays' lengths are x264's (24 bits); the stream carries no
/// buffering period or picture timing SEI yet.
fn write_hrd(w: &mut impl BitSink, maxrate_kbps: u32, bufsize_kbits: u32) {
    let (rate_scale, rate) = hrd_scaled(maxrate_kbps as u64 * 1000, 6);
    let (size_scale, size) = hrd_scaled(bufsize_kbits as u64 * 1000, 4);
    w.ue(0); // cpb_cnt_minus1
    w.put(rate_scale, 4); // bit_rate_scale
    w.put(size_scale, 4); // cpb_size_scale
    w.ue((rate - 1) as u32); // bit_rate_value_minus1[0]
    w.ue((size - 1) as u32); // cpb_size_value_minus1[0]
    w.flag(false); // cbr_flag[0]: the buffer stops filling when full
    w.put(23, 5); // initial_cpb_removal_delay_length_minus1
    w.put(23, 5); // cpb_removal_delay_length_minus1
    w.put(23, 5); // dpb_output_delay_length_minus1
    w.put(24, 5); // time_offset_length
}

/// Writes pic_parameter_set_rbsp (7.3.2.2) without trailing bits.
pub fn write_pps(w: &mut impl BitSink, cfg: &EncoderConfig, seq: &Sequence) {
    w.ue(0); // pic_parameter_set_id
    w.ue(0); // seq_parameter_set_id
    w.flag(cfg.entropy == super::config::Entropy::Cabac); // entropy_coding_mode_flag
    w.flag(false); // bottom_field_pic_order_in_frame_present_flag
    w.ue(0); // num_slice_groups_minus1
    w.ue(cfg.ref_frames as u32 - 1); // num_ref_idx_l0_default_active_minus1
    w.ue(0); // num_ref_idx_l1_default_active_minus1
    w.flag(false); // weighted_pred_flag
    w.put(0, 2); // weighted_bipred_idc
    w.se(seq.qp - 26); // pic_init_qp_minus26
    w.se(0); // pic_init_qs_minus26
    w.se(cfg.chroma_qp_offset as i32);
    w.flag(true); // deblocking_filter_control_present_flag
    w.flag(false); // constrained_intra_pred_flag
    w.flag(false); // redundant_pic_cnt_present_flag
    if cfg.uses_8x8_transform() {
        w.flag(true); // transform_8x8_mode_flag
        w.flag(false); // pic_scaling_matrix_present_flag: flat lists
        w.se(cfg.chroma_qp_offset as i32); // second_chroma_qp_index_offset
    }
}

/// Slice types this encoder writes (all slices of a picture have the same type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceKind {
    I,
    P,
    B,
}

/// What a slice header says about its picture.
#[derive(Debug, Clone, Copy)]
pub struct SliceInfo {
    pub kind: SliceKind,
    pub idr: bool,
    pub idr_pic_id: u32,
    pub frame_num: u32,
    pub poc_lsb: u32,
    pub deblock: bool,
    pub cabac: bool,
    /// slice_qp_delta against the PPS's QP.
    pub qp_delta: i32,
    /// first_mb_in_slice: the address of the slice's first macroblock.
    pub first_mb: u32,
    /// nal_ref_idc is not 0 (I and P pictures, and the reference B picture of a
    /// B-pyramid group): the header has dec_ref_pic_marking.
    pub reference: bool,
    /// A P picture whose reference is not the last reference picture decoded (the
    /// reference B picture came after it): abs_diff_pic_num_minus1 of the one
    /// list 0 modification that puts it first (8.2.4.3.1).
    pub l0_modification: Option<u32>,
    /// Short-term reference pictures this one marks unused (memory management
    /// operation 1, 8.2.5.4.1), as difference_of_pic_nums_minus1; with none, the
    /// sliding window marks them.
    pub mmco_unused: [u32; 2],
    pub num_mmco: usize,
}

/// Writes slice_header (7.3.3) of a slice of an I, P or B picture.
pub fn write_slice_header(w: &mut impl BitSink, s: &SliceInfo) {
    w.ue(s.first_mb);
    // slice_type 5..=9: every slice of the picture has this type.
    w.ue(match s.kind {
        SliceKind::P => 5,
        SliceKind::B => 6,
        SliceKind::I => 7,
    });
    w.ue(0); // pic_parameter_set_id
    w.put(s.frame_num, LOG2_MAX_FRAME_NUM);
    if s.idr {
        w.ue(s.idr_pic_id);
    }
    w.put(s.poc_lsb, LOG2_MAX_POC_LSB);
    if s.kind == SliceKind::B {
        w.flag(true); // direct_spatial_mv_pred_flag
    }
    if s.kind != SliceKind::I {
        // The PPS's one reference per list. For B pictures the default order by POC
        // (8.2.4.2.3) puts the nearest picture before first in list 0 and the
        // nearest after first in list 1: the two anchors, or in a B-pyramid group an
        // anchor and the reference B. For P pictures the default order is by
        // frame_num (8.2.4.2.1), which names the latest anchor unless a reference B
        // came after it; then one modification puts the anchor first.
        w.flag(false); // num_ref_idx_active_override_flag
        w.flag(s.l0_modification.is_some()); // ref_pic_list_modification_flag_l0
        if let Some(d) = s.l0_modification {
            w.ue(0); // modification_of_pic_nums_idc: subtract from the prediction
            w.ue(d); // abs_diff_pic_num_minus1
            w.ue(3); // end of the modifications
        }
        if s.kind == SliceKind::B {
            w.flag(false); // ref_pic_list_modification_flag_l1
        }
    }
    // dec_ref_pic_marking of reference pictures: the sliding window, or the
    // pictures a B-pyramid anchor no longer needs marked unused; non-reference B
    // pictures (nal_ref_idc 0) have none.
    if s.idr {
        w.flag(false); // no_output_of_prior_pics_flag
        w.flag(false); // long_term_reference_flag
    } else if s.reference {
        w.flag(s.num_mmco > 0); // adaptive_ref_pic_marking_mode_flag
        if s.num_mmco > 0 {
            for &d in &s.mmco_unused[..s.num_mmco] {
                w.ue(1); // memory_management_control_operation: short-term unused
                w.ue(d); // difference_of_pic_nums_minus1
            }
            w.ue(0); // end of the operations
        }
    }
    if s.cabac && s.kind != SliceKind::I {
        w.ue(0); // cabac_init_idc
    }
    w.se(s.qp_delta); // slice_qp_delta
    w.ue(if s.deblock { 0 } else { 1 }); // disable_deblocking_filter_idc
    if s.deblock {
        w.se(0); // slice_alpha_c0_offset_div2
        w.se(0); // slice_beta_offset_div2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_choice_follows_table_a1() {
        let lvl = |w, h, fps: (u32, u32)| {
            let mut c = EncoderConfig::new(w, h);
            c.frame_rate = fps;
            choose_level(&c).unwrap()
        };
        assert_eq!(lvl(176, 144, (15, 1)), 10);
        assert_eq!(lvl(352, 288, (30, 1)), 20);
        assert_eq!(lvl(1280, 720, (30, 1)), 31);
        assert_eq!(lvl(1280, 720, (60, 1)), 32);
        assert_eq!(lvl(1920, 1080, (30, 1)), 40);
        assert_eq!(lvl(1920, 1080, (60, 1)), 42);
        assert_eq!(lvl(3840, 2160, (30, 1)), 51);
    }

    #[test]
    fn a_level_too_small_is_an_error_naming_it() {
        let mut c = EncoderConfig::new(1920, 1080);
        c.level = Some(30);
        let e = choose_level(&c).unwrap_err().to_string();
        assert!(e.contains("invalid level 30"), "{e}");
    }
}
