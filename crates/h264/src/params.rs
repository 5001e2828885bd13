//! Sequence and picture parameter sets (clauses 7.3.2.1 and 7.3.2.2), with scaling
//! matrices resolved through the fall-back rules of Table 7-2.

use crate::bitreader::BitReader;
use crate::tables::*;
use transcode_core::{ColorDescription, Error, Result};

/// Scaling lists in zig-zag order: six 4x4 lists (Y/Cb/Cr intra, Y/Cb/Cr inter) and
/// two 8x8 lists (Y intra, Y inter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingLists {
    pub l4: [[u8; 16]; 6],
    pub l8: [[u8; 64]; 2],
}

impl ScalingLists {
    pub const FLAT: ScalingLists = ScalingLists {
        l4: [[16; 16]; 6],
        l8: [[16; 64]; 2],
    };
}

/// A parsed sequence parameter set.
#[derive(Debug, Clone)]
pub struct Sps {
    pub level_idc: u8,
    pub id: u32,
    pub scaling: ScalingLists,
    /// Whether the SPS carried its own matrix (selects fall-back rule B for PPS lists).
    pub scaling_present: bool,
    pub log2_max_frame_num: u32,
    pub poc_type: u32,
    pub log2_max_poc_lsb: u32,
    pub delta_pic_order_always_zero: bool,
    pub offset_for_non_ref_pic: i32,
    pub offset_for_top_to_bottom_field: i32,
    pub offset_for_ref_frame: Vec<i32>,
    pub max_num_ref_frames: u32,
    pub mb_width: u32,
    pub mb_height: u32,
    pub direct_8x8_inference: bool,
    /// `frame_mbs_only_flag`: false when pictures may be coded as fields.
    pub frame_mbs_only: bool,
    /// `mb_adaptive_frame_field_flag`: frame pictures may hold field macroblock pairs
    /// (MBAFF), decoded by `crate::mbaff`.
    pub mbaff: bool,
    /// `chroma_format_idc == 0`: the stream codes luma only (4:0:0), so no chroma
    /// syntax is present and the decoder outputs neutral (128) chroma planes.
    pub monochrome: bool,
    /// Cropping in luma samples: left, right, top, bottom.
    pub crop: [u32; 4],
    /// `max_num_reorder_frames` from the VUI, when present.
    pub num_reorder_frames: Option<u32>,
    /// `max_dec_frame_buffering` from the VUI, when present.
    pub max_dec_frame_buffering: Option<u32>,
    /// Colour range, primaries, transfer and matrix from the VUI video signal type.
    pub color: ColorDescription,
    /// Where 4:2:0 chroma is sited: `chroma_sample_loc_type_top_field` (0..=5), 0
    /// (left, the default of E.2.1) for a VUI without it, `None` without a VUI.
    pub chroma_loc: Option<u8>,
}

impl Sps {
    /// Parses an SPS RBSP (after the NAL header byte) for decoding. Every field coding
    /// (progressive, field pictures, MBAFF) is decoded, so this is the same as
    /// [`Sps::parse_header`]; the two stay apart for callers that only describe a
    /// stream.
    pub fn parse(rbsp: &[u8]) -> Result<Sps> {
        Sps::parse_header(rbsp)
    }

    /// Parses an SPS RBSP (after the NAL header byte), for a caller that only
    /// describes the stream.
    pub fn parse_header(rbsp: &[u8]) -> Result<Sps> {
        let mut r = BitReader::new(rbsp);
        let profile_idc = r.u(8) as u8;
        r.skip(8); // constraint flags and reserved bits
        let level_idc = r.u(8) as u8;
        let id = r.ue_max(31, "seq_parameter_set_id")?;
        let mut scaling = ScalingLists::FLAT;
        let mut scaling_present = false;
        let mut monochrome = false;
        if matches!(
            profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            let chroma_format_idc = r.ue_max(3, "chroma_format_idc")?;
            monochrome = chroma_format_idc == 0;
            if chroma_format_idc > 1 {
                let what = match chroma_format_idc {
                    2 => "4:2:2 chroma",
                    _ => "4:4:4 chroma",
                };
                return Err(Error::unsupported(format!("h264 {what}")));
            }
            let bit_depth_luma = r.ue_max(6, "bit_depth_luma_minus8")? + 8;
            let bit_depth_chroma = r.ue_max(6, "bit_depth_chroma_minus8")? + 8;
            if bit_depth_luma != 8 || bit_depth_chroma != 8 {
                return Err(Error::unsupported(format!(
                    "h264 bit depth {bit_depth_luma} (only 8-bit)"
                )));
            }
            if r.flag() {
                return Err(Error::unsupported(
                    "h264 lossless (qpprime_y_zero_transform_bypass)",
                ));
            }
            if r.flag() {
                scaling_present = true;
                parse_scaling_lists(&mut r, &mut scaling, 8, None)?;
            }
        }
        let log2_max_frame_num = r.ue_max(12, "log2_max_frame_num_minus4")? + 4;
        let poc_type = r.ue_max(2, "pic_order_cnt_type")?;
        let mut log2_max_poc_lsb = 0;
        let mut delta_pic_order_always_zero = false;
        let mut offset_for_non_ref_pic = 0;
        let mut offset_for_top_to_bottom_field = 0;
        let mut offset_for_ref_frame = Vec::new();
        if poc_type == 0 {
            log2_max_poc_lsb = r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? + 4;
        } else if poc_type == 1 {
            delta_pic_order_always_zero = r.flag();
            offset_for_non_ref_pic = r.se_range(-(1 << 30), 1 << 30, "offset_for_non_ref_pic")?;
            offset_for_top_to_bottom_field =
                r.se_range(-(1 << 30), 1 << 30, "offset_for_top_to_bottom_field")?;
            let n = r.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
            for _ in 0..n {
                offset_for_ref_frame.push(r.se_range(
                    -(1 << 30),
                    1 << 30,
                    "offset_for_ref_frame",
                )?);
            }
        }
        let max_num_ref_frames = r.ue_max(16, "max_num_ref_frames")?;
        r.skip(1); // gaps_in_frame_num_value_allowed_flag: gaps are concealed either way
        let mb_width = r.ue_max(1023, "pic_width_in_mbs_minus1")? + 1;
        let map_height = r.ue_max(1023, "pic_height_in_map_units_minus1")? + 1;
        let frame_mbs_only = r.flag();
        let mbaff = !frame_mbs_only && r.flag();
        // Map units are field macroblock rows when fields may be coded (7.4.2.1.1).
        let mb_height = map_height * if frame_mbs_only { 1 } else { 2 };
        let direct_8x8_inference = r.flag();
        let mut crop = [0u32; 4];
        if r.flag() {
            for c in crop.iter_mut() {
                *c = r.ue_max(8192, "frame_crop_offset")?;
            }
            // 4:2:0: crop units are two luma samples across, and two rows down per
            // field the frame may hold; 4:0:0 has no chroma subsampling, so one sample
            // and one row per field (CropUnitX/Y, 7.4.2.1.1).
            let sub = if monochrome { 1 } else { 2 };
            let unit_y = sub * if frame_mbs_only { 1 } else { 2 };
            for (i, c) in crop.iter_mut().enumerate() {
                *c *= if i < 2 { sub } else { unit_y };
            }
            if crop[0] + crop[1] >= mb_width * 16 || crop[2] + crop[3] >= mb_height * 16 {
                return Err(Error::invalid("frame cropping removes the whole picture"));
            }
        }
        let mut sps = Sps {
            level_idc,
            id,
            scaling,
            scaling_present,
            log2_max_frame_num,
            poc_type,
            log2_max_poc_lsb,
            delta_pic_order_always_zero,
            offset_for_non_ref_pic,
            offset_for_top_to_bottom_field,
            offset_for_ref_frame,
            max_num_ref_frames,
            mb_width,
            mb_height,
            direct_8x8_inference,
            frame_mbs_only,
            mbaff,
            monochrome,
            crop,
            num_reorder_frames: None,
            max_dec_frame_buffering: None,
            color: ColorDescription::UNSPECIFIED,
            chroma_loc: None,
        };
        if r.flag() {
            // A damaged VUI only loses the reorder hint; the picture is still decodable.
            let _ = parse_vui(&mut r, &mut sps);
        }
        if r.overrun() {
            return Err(Error::invalid("sequence parameter set truncated"));
        }
        Ok(sps)
    }
}

fn skip_hrd(r: &mut BitReader) -> Result<()> {
    let cpb_cnt = r.ue_max(31, "cpb_cnt_minus1")? + 1;
    r.skip(8);
    for _ in 0..cpb_cnt {
        r.ue();
        r.ue();
        r.skip(1);
    }
    r.skip(20);
    Ok(())
}

fn parse_vui(r: &mut BitReader, sps: &mut Sps) -> Result<()> {
    if r.flag() {
        // aspect_ratio_info
        if r.u(8) == 255 {
            r.skip(32);
        }
    }
    if r.flag() {
        r.skip(1); // overscan_appropriate
    }
    if r.flag() {
        r.skip(3); // video_format
        let full_range = r.flag();
        let codes = r.flag().then(|| (r.u(8) as u8, r.u(8) as u8, r.u(8) as u8));
        if !r.overrun() {
            sps.color = ColorDescription::from_vui(Some(full_range), codes);
        }
    }
    // chroma_loc_info: the top field's type sites frames too (Table E-1).
    sps.chroma_loc = Some(0);
    if r.flag() {
        let top = r.ue();
        r.ue();
        if top <= 5 && !r.overrun() {
            sps.chroma_loc = Some(top as u8);
        }
    }
    if r.flag() {
        r.skip(65); // timing info
    }
    let nal_hrd = r.flag();
    if nal_hrd {
        skip_hrd(r)?;
    }
    let vcl_hrd = r.flag();
    if vcl_hrd {
        skip_hrd(r)?;
    }
    if nal_hrd || vcl_hrd {
        r.skip(1);
    }
    r.skip(1); // pic_struct_present
    if r.flag() {
        r.skip(1);
        r.ue();
        r.ue();
        r.ue();
        r.ue();
        let reorder = r.ue();
        let buffering = r.ue();
        if !r.overrun() && reorder <= 16 && buffering <= 16 {
            sps.num_reorder_frames = Some(reorder);
            sps.max_dec_frame_buffering = Some(buffering);
        }
    }
    Ok(())
}

/// Parses `count` scaling lists into `out`, applying fall-back rule A (no `fallback`)
/// or B (`fallback` = the sequence-level lists).
pub fn parse_scaling_lists(
    r: &mut BitReader,
    out: &mut ScalingLists,
    count: usize,
    fallback: Option<&ScalingLists>,
) -> Result<()> {
    for i in 0..count {
        let present = r.flag();
        if i < 6 {
            let default = if i < 3 {
                DEFAULT_4X4_INTRA
            } else {
                DEFAULT_4X4_INTER
            };
            if present {
                if read_list(r, &mut out.l4[i])? {
                    out.l4[i] = default;
                }
            } else if i == 0 || i == 3 {
                out.l4[i] = match fallback {
                    Some(f) => f.l4[i],
                    None => default,
                };
            } else {
                out.l4[i] = out.l4[i - 1];
            }
        } else {
            let j = i - 6;
            let default = if j == 0 {
                DEFAULT_8X8_INTRA
            } else {
                DEFAULT_8X8_INTER
            };
            if present {
                if read_list(r, &mut out.l8[j])? {
                    out.l8[j] = default;
                }
            } else {
                out.l8[j] = match fallback {
                    Some(f) => f.l8[j],
                    None => default,
                };
            }
        }
    }
    Ok(())
}

/// Reads one scaling_list(); returns `useDefaultScalingMatrixFlag`.
fn read_list(r: &mut BitReader, list: &mut [u8]) -> Result<bool> {
    let mut last = 8i32;
    let mut next = 8i32;
    for j in 0..list.len() {
        if next != 0 {
            let delta = r.se_range(-128, 127, "delta_scale")?;
            next = (last + delta + 256) % 256;
            if j == 0 && next == 0 {
                return Ok(true);
            }
        }
        list[j] = if next == 0 { last as u8 } else { next as u8 };
        last = list[j] as i32;
    }
    Ok(false)
}

/// A parsed picture parameter set.
#[derive(Debug, Clone)]
pub struct Pps {
    pub id: u32,
    pub sps_id: u32,
    pub cabac: bool,
    pub bottom_field_pic_order_in_frame_present: bool,
    pub num_ref_idx_default: [u32; 2],
    pub weighted_pred: bool,
    pub weighted_bipred_idc: u32,
    pub pic_init_qp: i32,
    pub chroma_qp_offset: [i32; 2],
    pub deblocking_filter_control_present: bool,
    pub constrained_intra_pred: bool,
    pub redundant_pic_cnt_present: bool,
    pub transform_8x8_mode: bool,
    /// Resolved scaling lists (from the PPS, else the SPS), zig-zag order.
    pub scaling: ScalingLists,
}

impl Pps {
    /// Parses a PPS RBSP; `sps_list` resolves the SPS it refers to (needed for the
    /// scaling matrix fall-back).
    pub fn parse(rbsp: &[u8], sps_list: &[Option<Sps>]) -> Result<Pps> {
        let mut r = BitReader::new(rbsp);
        let id = r.ue_max(255, "pic_parameter_set_id")?;
        let sps_id = r.ue_max(31, "seq_parameter_set_id")?;
        let sps = sps_list
            .get(sps_id as usize)
            .and_then(|s| s.as_ref())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "picture parameter set refers to missing sps {sps_id}"
                ))
            })?;
        let cabac = r.flag();
        let bottom_field_pic_order_in_frame_present = r.flag();
        let num_slice_groups = r.ue_max(7, "num_slice_groups_minus1")? + 1;
        if num_slice_groups > 1 {
            return Err(Error::unsupported(
                "h264 slice groups (flexible macroblock ordering)",
            ));
        }
        let l0 = r.ue_max(31, "num_ref_idx_l0_default_active_minus1")? + 1;
        let l1 = r.ue_max(31, "num_ref_idx_l1_default_active_minus1")? + 1;
        let weighted_pred = r.flag();
        let weighted_bipred_idc = r.u(2);
        if weighted_bipred_idc > 2 {
            return Err(Error::invalid("weighted_bipred_idc 3 (expected 0..=2)"));
        }
        let pic_init_qp = 26 + r.se_range(-26, 25, "pic_init_qp_minus26")?;
        r.se(); // pic_init_qs
        let cb_off = r.se_range(-12, 12, "chroma_qp_index_offset")?;
        let deblocking_filter_control_present = r.flag();
        let constrained_intra_pred = r.flag();
        let redundant_pic_cnt_present = r.flag();
        let mut transform_8x8_mode = false;
        let mut cr_off = cb_off;
        let mut scaling = sps.scaling.clone();
        if r.more_rbsp_data() {
            transform_8x8_mode = r.flag();
            if r.flag() {
                let fallback = if sps.scaling_present {
                    Some(&sps.scaling)
                } else {
                    None
                };
                let mut lists = ScalingLists::FLAT;
                parse_scaling_lists(
                    &mut r,
                    &mut lists,
                    6 + 2 * transform_8x8_mode as usize,
                    fallback,
                )?;
                if !transform_8x8_mode {
                    // 8x8 lists are unused without the 8x8 transform; keep the fall-back.
                    lists.l8 = match fallback {
                        Some(f) => f.l8,
                        None => [DEFAULT_8X8_INTRA, DEFAULT_8X8_INTER],
                    };
                }
                scaling = lists;
            }
            cr_off = r.se_range(-12, 12, "second_chroma_qp_index_offset")?;
        }
        if r.overrun() {
            return Err(Error::invalid("picture parameter set truncated"));
        }
        Ok(Pps {
            id,
            sps_id,
            cabac,
            bottom_field_pic_order_in_frame_present,
            num_ref_idx_default: [l0, l1],
            weighted_pred,
            weighted_bipred_idc,
            pic_init_qp,
            chroma_qp_offset: [cb_off, cr_off],
            deblocking_filter_control_present,
            constrained_intra_pred,
            redundant_pic_cnt_present,
            transform_8x8_mode,
            scaling,
        })
    }
}
