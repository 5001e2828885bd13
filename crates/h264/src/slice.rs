//! Slice headers (clause 7.3.3): reference list modification, prediction weight
//! tables and decoded reference picture marking. Fixed-size arrays, so parsing a
//! header never allocates.

use crate::bitreader::BitReader;
use crate::params::{Pps, Sps};
use transcode_core::{Error, Result};

/// Slice types, after folding 5..=9 onto 0..=4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceType {
    P,
    B,
    I,
}

/// One memory management control operation (clause 7.4.3.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mmco {
    pub op: u8,
    /// difference_of_pic_nums_minus1 (ops 1 and 3).
    pub diff_pic_nums: u32,
    /// long_term_pic_num (op 2).
    pub long_term_pic_num: u32,
    /// long_term_frame_idx (ops 3 and 6) or max_long_term_frame_idx_plus1 (op 4).
    pub long_term_idx: u32,
}

/// Explicit weighted prediction factors of one reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weight {
    /// Luma weight and offset, then Cb and Cr.
    pub w: [i32; 3],
    pub o: [i32; 3],
    /// Whether luma / chroma weights were sent (otherwise default).
    pub luma: bool,
    pub chroma: bool,
}

pub const MAX_MODS: usize = 33;
pub const MAX_MMCO: usize = 66;

/// A parsed slice header.
#[derive(Debug, Clone)]
pub struct SliceHeader {
    pub nal_ref_idc: u8,
    pub idr: bool,
    pub first_mb: u32,
    pub slice_type: SliceType,
    pub pps_id: u32,
    pub frame_num: u32,
    /// `field_pic_flag`: the slice belongs to a field, not a frame.
    pub field_pic: bool,
    /// `bottom_field_flag`: the field is the bottom one.
    pub bottom_field: bool,
    pub poc_lsb: u32,
    pub delta_poc_bottom: i32,
    pub delta_poc: [i32; 2],
    /// Non-zero for redundant coded pictures, which the decoder skips (the primary
    /// picture carries the same content).
    pub redundant_pic_cnt: u32,
    pub direct_spatial: bool,
    pub num_ref_idx: [u32; 2],
    /// Reference list modifications per list: `(modification_of_pic_nums_idc, value)`.
    pub mods: [[(u8, u32); MAX_MODS]; 2],
    pub num_mods: [usize; 2],
    pub luma_log2_denom: u32,
    pub chroma_log2_denom: u32,
    /// Whether explicit weights were sent (pred_weight_table present).
    pub explicit_weights: bool,
    pub weights: [[Weight; 32]; 2],
    pub long_term_reference: bool,
    pub adaptive_marking: bool,
    pub mmco: [Mmco; MAX_MMCO],
    pub num_mmco: usize,
    pub cabac_init_idc: u32,
    pub qp: i32,
    pub disable_deblocking: u32,
    pub alpha_offset: i32,
    pub beta_offset: i32,
    /// Bit position of slice_data() in the RBSP.
    pub data_bit_offset: usize,
}

impl SliceHeader {
    /// Parses a slice header from a slice NAL's RBSP (after the NAL header byte).
    pub fn parse(
        rbsp: &[u8],
        nal_type: u8,
        nal_ref_idc: u8,
        sps_list: &[Option<Sps>],
        pps_list: &[Option<Pps>],
    ) -> Result<SliceHeader> {
        let mut r = BitReader::new(rbsp);
        let first_mb = r.ue();
        let raw_type = r.ue_max(9, "slice_type")?;
        let slice_type = match raw_type % 5 {
            0 => SliceType::P,
            1 => SliceType::B,
            2 => SliceType::I,
            _ => return Err(Error::unsupported("h264 switching slices (SP/SI)")),
        };
        let pps_id = r.ue_max(255, "pic_parameter_set_id")?;
        let pps = pps_list[pps_id as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid(format!("slice refers to missing pps {pps_id}")))?;
        let sps = sps_list[pps.sps_id as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid(format!("pps refers to missing sps {}", pps.sps_id)))?;
        let frame_num = r.u(sps.log2_max_frame_num);
        let mut field_pic = false;
        let mut bottom_field = false;
        if !sps.frame_mbs_only {
            field_pic = r.flag();
            if field_pic {
                bottom_field = r.flag();
            }
        }
        // A field holds half of the frame's macroblock rows.
        let pic_mbs = sps.mb_width * sps.mb_height / if field_pic { 2 } else { 1 };
        if first_mb >= pic_mbs {
            return Err(Error::invalid(format!(
                "first_mb_in_slice {first_mb} beyond the picture (expected below {pic_mbs})"
            )));
        }
        let idr = nal_type == 5;
        if idr {
            r.ue_max(65535, "idr_pic_id")?;
        }
        let mut poc_lsb = 0;
        let mut delta_poc_bottom = 0;
        let mut delta_poc = [0; 2];
        if sps.poc_type == 0 {
            poc_lsb = r.u(sps.log2_max_poc_lsb);
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                delta_poc_bottom = r.se();
            }
        } else if sps.poc_type == 1 && !sps.delta_pic_order_always_zero {
            delta_poc[0] = r.se();
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                delta_poc[1] = r.se();
            }
        }
        let mut redundant_pic_cnt = 0;
        if pps.redundant_pic_cnt_present {
            redundant_pic_cnt = r.ue_max(127, "redundant_pic_cnt")?;
        }
        let mut direct_spatial = false;
        if slice_type == SliceType::B {
            direct_spatial = r.flag();
        }
        let mut num_ref_idx = pps.num_ref_idx_default;
        if slice_type != SliceType::I && r.flag() {
            num_ref_idx[0] = r.ue_max(31, "num_ref_idx_l0_active_minus1")? + 1;
            if slice_type == SliceType::B {
                num_ref_idx[1] = r.ue_max(31, "num_ref_idx_l1_active_minus1")? + 1;
            }
        }
        match slice_type {
            SliceType::I => num_ref_idx = [0, 0],
            SliceType::P => num_ref_idx[1] = 0,
            SliceType::B => {}
        }
        let mut mods = [[(0u8, 0u32); MAX_MODS]; 2];
        let mut num_mods = [0usize; 2];
        for list in 0..2 {
            if num_ref_idx[list] == 0 {
                continue;
            }
            if r.flag() {
                loop {
                    let idc = r.ue_max(5, "modification_of_pic_nums_idc")?;
                    if idc == 3 {
                        break;
                    }
                    if idc > 2 {
                        return Err(Error::unsupported(
                            "h264 multiview reference list modification",
                        ));
                    }
                    let v = r.ue();
                    if num_mods[list] >= MAX_MODS {
                        return Err(Error::invalid(
                            "too many reference list modifications (expected at most 33)",
                        ));
                    }
                    mods[list][num_mods[list]] = (idc as u8, v);
                    num_mods[list] += 1;
                }
            }
        }
        let mut hdr_weights = [[Weight::default(); 32]; 2];
        let mut luma_log2_denom = 0;
        let mut chroma_log2_denom = 0;
        let explicit_weights = (pps.weighted_pred && slice_type == SliceType::P)
            || (pps.weighted_bipred_idc == 1 && slice_type == SliceType::B);
        if explicit_weights {
            luma_log2_denom = r.ue_max(7, "luma_log2_weight_denom")?;
            // 4:0:0 sends luma weights only (7.3.3.2).
            if !sps.monochrome {
                chroma_log2_denom = r.ue_max(7, "chroma_log2_weight_denom")?;
            }
            for list in 0..(if slice_type == SliceType::B { 2 } else { 1 }) {
                for i in 0..num_ref_idx[list] as usize {
                    let w = &mut hdr_weights[list][i];
                    w.w = [
                        1 << luma_log2_denom,
                        1 << chroma_log2_denom,
                        1 << chroma_log2_denom,
                    ];
                    if r.flag() {
                        w.luma = true;
                        w.w[0] = r.se_range(-128, 127, "luma_weight")?;
                        w.o[0] = r.se_range(-128, 127, "luma_offset")?;
                    }
                    if !sps.monochrome && r.flag() {
                        w.chroma = true;
                        for c in 1..3 {
                            w.w[c] = r.se_range(-128, 127, "chroma_weight")?;
                            w.o[c] = r.se_range(-128, 127, "chroma_offset")?;
                        }
                    }
                }
            }
        }
        let mut long_term_reference = false;
        let mut adaptive_marking = false;
        let mut mmco = [Mmco::default(); MAX_MMCO];
        let mut num_mmco = 0;
        if nal_ref_idc != 0 {
            if idr {
                // no_output_of_prior_pics_flag: like FFmpeg's default, every
                // decoded picture is shown.
                r.skip(1);
                long_term_reference = r.flag();
            } else {
                adaptive_marking = r.flag();
                if adaptive_marking {
                    loop {
                        let op = r.ue_max(6, "memory_management_control_operation")?;
                        if op == 0 {
                            break;
                        }
                        let mut m = Mmco {
                            op: op as u8,
                            ..Default::default()
                        };
                        if op == 1 || op == 3 {
                            m.diff_pic_nums = r.ue();
                        }
                        if op == 2 {
                            m.long_term_pic_num = r.ue();
                        }
                        if op == 3 || op == 6 {
                            m.long_term_idx = r.ue_max(31, "long_term_frame_idx")?;
                        }
                        if op == 4 {
                            m.long_term_idx = r.ue_max(32, "max_long_term_frame_idx_plus1")?;
                        }
                        if num_mmco >= MAX_MMCO {
                            return Err(Error::invalid("too many memory management operations"));
                        }
                        mmco[num_mmco] = m;
                        num_mmco += 1;
                    }
                }
            }
        }
        let mut cabac_init_idc = 0;
        if pps.cabac && slice_type != SliceType::I {
            cabac_init_idc = r.ue_max(2, "cabac_init_idc")?;
        }
        let qp = pps.pic_init_qp + r.se_range(-51, 51, "slice_qp_delta")?;
        if !(0..=51).contains(&qp) {
            return Err(Error::invalid(format!(
                "slice qp {qp} out of range (expected 0..=51)"
            )));
        }
        let mut disable_deblocking = 0;
        let mut alpha_offset = 0;
        let mut beta_offset = 0;
        if pps.deblocking_filter_control_present {
            disable_deblocking = r.ue_max(2, "disable_deblocking_filter_idc")?;
            if disable_deblocking != 1 {
                alpha_offset = 2 * r.se_range(-6, 6, "slice_alpha_c0_offset_div2")?;
                beta_offset = 2 * r.se_range(-6, 6, "slice_beta_offset_div2")?;
            }
        }
        if r.overrun() {
            return Err(Error::invalid("slice header truncated"));
        }
        Ok(SliceHeader {
            nal_ref_idc,
            idr,
            first_mb,
            slice_type,
            pps_id,
            frame_num,
            field_pic,
            bottom_field,
            poc_lsb,
            delta_poc_bottom,
            delta_poc,
            redundant_pic_cnt,
            direct_spatial,
            num_ref_idx,
            mods,
            num_mods,
            luma_log2_denom,
            chroma_log2_denom,
            explicit_weights,
            weights: hdr_weights,
            long_term_reference,
            adaptive_marking,
            mmco,
            num_mmco,
            cabac_init_idc,
            qp,
            disable_deblocking,
            alpha_offset,
            beta_offset,
            data_bit_offset: r.pos(),
        })
    }
}
