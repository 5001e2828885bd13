//! H.265 / HEVC: parameter sets (what remuxing needs of them) and the hvcC record
//! (ISO/IEC 14496-15 `HEVCDecoderConfigurationRecord`), built the way FFmpeg builds it.

use crate::bits::BitReader;
use crate::h264::reduce;
use crate::nal::{split_annexb, unescape_rbsp};
use transcode_core::{ColorDescription, Error, Result};

/// NAL unit types that matter for remuxing.
pub mod nal_type {
    pub const BLA_W_LP: u8 = 16;
    pub const CRA: u8 = 21;
    pub const IRAP_LAST: u8 = 23;
    pub const VPS: u8 = 32;
    pub const SPS: u8 = 33;
    pub const PPS: u8 = 34;
    pub const AUD: u8 = 35;
    pub const EOS: u8 = 36;
    pub const EOB: u8 = 37;
    pub const FD: u8 = 38;
    pub const SEI_PREFIX: u8 = 39;
    pub const SEI_SUFFIX: u8 = 40;
}

/// The NAL unit type of a NAL (without start code); 0xFF for a unit too short to have one.
pub fn nal_type(nal: &[u8]) -> u8 {
    if nal.len() < 2 {
        0xFF
    } else {
        (nal[0] >> 1) & 0x3F
    }
}

/// Whether a NAL type is an IRAP picture (BLA, IDR, CRA): a random-access point.
pub fn is_irap(t: u8) -> bool {
    (nal_type::BLA_W_LP..=nal_type::IRAP_LAST).contains(&t)
}

/// `first_slice_segment_in_pic_flag` of a VCL NAL (types 0..=31).
pub fn first_slice_segment_in_pic(nal: &[u8]) -> bool {
    nal.get(2).is_some_and(|b| b & 0x80 != 0)
}

/// general profile_tier_level fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProfileTierLevel {
    pub profile_space: u8,
    pub tier: bool,
    pub profile_idc: u8,
    pub compat_flags: u32,
    /// 48 bits of constraint indicator flags.
    pub constraint_flags: u64,
    pub level_idc: u8,
}

fn parse_ptl(r: &mut BitReader<'_>, max_sub_layers_minus1: u32) -> Result<ProfileTierLevel> {
    let profile_space = r.bits(2)? as u8;
    let tier = r.bit()?;
    let profile_idc = r.bits(5)? as u8;
    let compat_flags = r.bits(32)?;
    let constraint_flags = ((r.bits(32)? as u64) << 16) | r.bits(16)? as u64;
    let level_idc = r.bits(8)? as u8;
    let mut flags = [(false, false); 8];
    for f in flags.iter_mut().take(max_sub_layers_minus1 as usize) {
        *f = (r.bit()?, r.bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1 as usize))?;
    }
    for &(profile, level) in flags.iter().take(max_sub_layers_minus1 as usize) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    Ok(ProfileTierLevel { profile_space, tier, profile_idc, compat_flags, constraint_flags, level_idc })
}

/// What transcode needs from a sequence parameter set (and what hvcC records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    pub vps_id: u8,
    pub max_sub_layers: u8,
    pub temporal_id_nesting: bool,
    pub ptl: ProfileTierLevel,
    pub sps_id: u32,
    pub chroma_format_idc: u8,
    /// Displayed size after the conformance window.
    pub width: u32,
    pub height: u32,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// `min_spatial_segmentation_idc` from the VUI bitstream restrictions, when given.
    pub min_spatial_segmentation_idc: Option<u32>,
    pub sar: Option<(u32, u32)>,
    /// Frames per second from the VUI timing, when given.
    pub frame_rate: Option<(u32, u32)>,
    /// Colour range, primaries, transfer and matrix from the VUI video signal type.
    pub color: ColorDescription,
}

fn rbsp_of(nal: &[u8]) -> Result<Vec<u8>> {
    if nal.len() < 3 {
        return Err(Error::invalid(format!("nal unit of {} bytes (expected at least 3)", nal.len())));
    }
    let mut rbsp = Vec::with_capacity(nal.len());
    unescape_rbsp(&nal[2..], &mut rbsp);
    Ok(rbsp)
}

fn skip_scaling_list_data(r: &mut BitReader<'_>) -> Result<()> {
    for size_id in 0..4 {
        let matrices = if size_id == 3 { 2 } else { 6 };
        for _ in 0..matrices {
            if !r.bit()? {
                r.ue()?; // scaling_list_pred_matrix_id_delta
            } else {
                let coeffs = 64.min(1 << (4 + (size_id << 1)));
                if size_id > 1 {
                    r.se()?;
                }
                for _ in 0..coeffs {
                    r.se()?;
                }
            }
        }
    }
    Ok(())
}

fn skip_st_ref_pic_set(r: &mut BitReader<'_>, idx: usize, num_delta_pocs: &mut [u32; 65]) -> Result<()> {
    if idx > 0 && r.bit()? {
        r.skip(1)?; // delta_rps_sign
        r.ue()?; // abs_delta_rps_minus1
        let mut n = 0;
        for _ in 0..=num_delta_pocs[idx - 1] {
            let used = r.bit()?;
            let use_delta = if used { true } else { r.bit()? };
            if used || use_delta {
                n += 1;
            }
        }
        num_delta_pocs[idx] = n;
    } else {
        let neg = r.ue()?;
        let pos = r.ue()?;
        if (neg as u64 + pos as u64) * 2 > r.remaining() as u64 || neg > 16 || pos > 16 {
            return Err(Error::invalid(format!("short-term reference picture set with {neg}+{pos} pictures")));
        }
        num_delta_pocs[idx] = neg + pos;
        for _ in 0..neg + pos {
            r.ue()?;
            r.skip(1)?;
        }
    }
    Ok(())
}

fn skip_sub_layer_hrd(r: &mut BitReader<'_>, cpb_cnt: u32, sub_pic: bool) -> Result<()> {
    for _ in 0..cpb_cnt {
        r.ue()?;
        r.ue()?;
        if sub_pic {
            r.ue()?;
            r.ue()?;
        }
        r.skip(1)?;
    }
    Ok(())
}

fn skip_hrd(r: &mut BitReader<'_>, common: bool, max_sub_layers_minus1: u32) -> Result<()> {
    let (mut nal, mut vcl, mut sub_pic) = (false, false, false);
    if common {
        nal = r.bit()?;
        vcl = r.bit()?;
        if nal || vcl {
            sub_pic = r.bit()?;
            if sub_pic {
                r.skip(19)?;
            }
            r.skip(8)?;
            if sub_pic {
                r.skip(4)?;
            }
            r.skip(15)?;
        }
    }
    for _ in 0..=max_sub_layers_minus1 {
        let general = r.bit()?;
        let within_cvs = if general { true } else { r.bit()? };
        let mut low_delay = false;
        if within_cvs {
            r.ue()?;
        } else {
            low_delay = r.bit()?;
        }
        let mut cpb_cnt = 1;
        if !low_delay {
            let c = r.ue()?;
            if c > 31 {
                return Err(Error::invalid(format!("cpb_cnt_minus1 {c} (expected 0..=31)")));
            }
            cpb_cnt = c + 1;
        }
        if nal {
            skip_sub_layer_hrd(r, cpb_cnt, sub_pic)?;
        }
        if vcl {
            skip_sub_layer_hrd(r, cpb_cnt, sub_pic)?;
        }
    }
    Ok(())
}

/// Parses an SPS NAL unit (2-byte header included, emulation prevention not removed).
pub fn parse_sps(nal: &[u8]) -> Result<Sps> {
    if nal_type(nal) != nal_type::SPS {
        return Err(Error::invalid(format!("nal type {} is not an sps (expected 33)", nal_type(nal))));
    }
    let rbsp = rbsp_of(nal)?;
    let mut r = BitReader::new(&rbsp);
    let vps_id = r.bits(4)? as u8;
    let msl1 = r.bits(3)?;
    if msl1 > 6 {
        return Err(Error::invalid(format!("sps_max_sub_layers_minus1 {msl1} (expected 0..=6)")));
    }
    let temporal_id_nesting = r.bit()?;
    let ptl = parse_ptl(&mut r, msl1)?;
    let sps_id = r.ue()?;
    if sps_id > 15 {
        return Err(Error::invalid(format!("sps id {sps_id} (expected 0..=15)")));
    }
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return Err(Error::invalid(format!("chroma_format_idc {chroma_format_idc} (expected 0..=3)")));
    }
    let mut separate = false;
    if chroma_format_idc == 3 {
        separate = r.bit()?;
    }
    let w = r.ue()? as u64;
    let h = r.ue()? as u64;
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        cl = r.ue()? as u64;
        cr = r.ue()? as u64;
        ct = r.ue()? as u64;
        cb = r.ue()? as u64;
    }
    let (sub_w, sub_h) = match (chroma_format_idc, separate) {
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    };
    let crop_w = sub_w * (cl + cr);
    let crop_h = sub_h * (ct + cb);
    if w == 0 || h == 0 || w > 65536 || h > 65536 || crop_w >= w || crop_h >= h {
        return Err(Error::invalid(format!(
            "picture size {w}x{h} with cropping {crop_w}x{crop_h} (expected a positive size up to 65536)"
        )));
    }
    let bit_depth_luma = r.ue()?.saturating_add(8);
    let bit_depth_chroma = r.ue()?.saturating_add(8);
    if bit_depth_luma > 16 || bit_depth_chroma > 16 {
        return Err(Error::invalid(format!("bit depth {bit_depth_luma}/{bit_depth_chroma} (expected 8..=16)")));
    }
    let log2_max_poc_lsb = r.ue()?.saturating_add(4);
    if log2_max_poc_lsb > 16 {
        return Err(Error::invalid(format!("log2_max_pic_order_cnt_lsb {log2_max_poc_lsb} (expected 4..=16)")));
    }
    let first = if r.bit()? { 0 } else { msl1 };
    for _ in first..=msl1 {
        r.ue()?;
        r.ue()?;
        r.ue()?;
    }
    for _ in 0..6 {
        r.ue()?;
    }
    if r.bit()? && r.bit()? {
        skip_scaling_list_data(&mut r)?;
    }
    r.skip(2)?; // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if r.bit()? {
        r.skip(8)?;
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
    }
    let num_st = r.ue()? as usize;
    if num_st > 64 {
        return Err(Error::invalid(format!("num_short_term_ref_pic_sets {num_st} (expected 0..=64)")));
    }
    let mut num_delta_pocs = [0u32; 65];
    for i in 0..num_st {
        skip_st_ref_pic_set(&mut r, i, &mut num_delta_pocs)?;
    }
    if r.bit()? {
        let n = r.ue()?;
        if n > 32 {
            return Err(Error::invalid(format!("num_long_term_ref_pics_sps {n} (expected 0..=32)")));
        }
        for _ in 0..n {
            r.skip(log2_max_poc_lsb as usize + 1)?;
        }
    }
    r.skip(2)?; // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    let mut sps = Sps {
        vps_id,
        max_sub_layers: msl1 as u8 + 1,
        temporal_id_nesting,
        ptl,
        sps_id,
        chroma_format_idc: chroma_format_idc as u8,
        width: (w - crop_w) as u32,
        height: (h - crop_h) as u32,
        bit_depth_luma: bit_depth_luma as u8,
        bit_depth_chroma: bit_depth_chroma as u8,
        min_spatial_segmentation_idc: None,
        sar: None,
        frame_rate: None,
        color: ColorDescription::UNSPECIFIED,
    };
    if r.bit()? {
        parse_vui(&mut r, msl1, &mut sps)?;
    }
    Ok(sps)
}

fn parse_vui(r: &mut BitReader<'_>, msl1: u32, sps: &mut Sps) -> Result<()> {
    crate::h264::read_vui_head(r, &mut sps.sar, &mut sps.color)?;
    r.skip(3)?; // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
    if r.bit()? {
        for _ in 0..4 {
            r.ue()?;
        }
    }
    if r.bit()? {
        let num_units_in_tick = r.bits(32)? as u64;
        let time_scale = r.bits(32)? as u64;
        sps.frame_rate = reduce(time_scale, num_units_in_tick);
        if r.bit()? {
            r.ue()?;
        }
        if r.bit()? {
            skip_hrd(r, true, msl1)?;
        }
    }
    if r.bit()? {
        r.skip(3)?;
        sps.min_spatial_segmentation_idc = Some(r.ue()?);
    }
    Ok(())
}

/// `(pps_id, sps_id, parallelism type)` of a PPS NAL, the parallelism type as hvcC
/// records it (0 mixed, 1 slices, 2 tiles, 3 wavefront).
pub fn parse_pps(nal: &[u8]) -> Result<(u32, u32, u8)> {
    if nal_type(nal) != nal_type::PPS {
        return Err(Error::invalid(format!("nal type {} is not a pps (expected 34)", nal_type(nal))));
    }
    let rbsp = rbsp_of(nal)?;
    let mut r = BitReader::new(&rbsp);
    let pps_id = r.ue()?;
    let sps_id = r.ue()?;
    r.skip(7)?;
    r.ue()?;
    r.ue()?;
    r.se()?;
    r.skip(2)?;
    if r.bit()? {
        r.ue()?;
    }
    r.se()?;
    r.se()?;
    r.skip(4)?;
    let tiles = r.bit()?;
    let wpp = r.bit()?;
    let par = match (tiles, wpp) {
        (true, true) => 0,
        (false, true) => 3,
        (true, false) => 2,
        (false, false) => 1,
    };
    Ok((pps_id, sps_id, par))
}

/// One array of an hvcC record: the units of one NAL type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HvcCArray {
    pub completeness: bool,
    pub nal_type: u8,
    pub units: Vec<Vec<u8>>,
}

/// An `HEVCDecoderConfigurationRecord` (the body of an MP4 `hvcC` box).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HvcC {
    pub ptl: ProfileTierLevel,
    pub min_spatial_segmentation_idc: u16,
    pub parallelism_type: u8,
    pub chroma_format: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    pub avg_frame_rate: u16,
    pub constant_frame_rate: u8,
    pub num_temporal_layers: u8,
    pub temporal_id_nested: bool,
    /// Bytes of each NAL length prefix in samples: 1, 2 or 4.
    pub len_size: u8,
    pub arrays: Vec<HvcCArray>,
}

impl HvcC {
    /// Parses a record.
    pub fn parse(b: &[u8]) -> Result<HvcC> {
        if b.len() < 23 {
            return Err(Error::invalid(format!("hvcC of {} bytes (expected at least 23)", b.len())));
        }
        if b[0] != 1 {
            return Err(Error::invalid(format!("hvcC version {} (expected 1)", b[0])));
        }
        let len_size = (b[21] & 3) + 1;
        if len_size == 3 {
            return Err(Error::invalid("hvcC nal length size 3 (expected 1, 2 or 4)"));
        }
        let ptl = ProfileTierLevel {
            profile_space: b[1] >> 6,
            tier: b[1] & 0x20 != 0,
            profile_idc: b[1] & 0x1F,
            compat_flags: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
            constraint_flags: b[6..12].iter().fold(0u64, |a, &x| (a << 8) | x as u64),
            level_idc: b[12],
        };
        let n_arrays = b[22] as usize;
        let mut pos = 23;
        let mut arrays = Vec::with_capacity(n_arrays.min(8));
        for i in 0..n_arrays {
            let head =
                b.get(pos..pos + 3).ok_or_else(|| Error::invalid(format!("hvcC array {i} header is cut off")))?;
            let count = u16::from_be_bytes([head[1], head[2]]) as usize;
            let (completeness, nal_type) = (head[0] & 0x80 != 0, head[0] & 0x3F);
            pos += 3;
            let mut units = Vec::with_capacity(count.min(16));
            for j in 0..count {
                let l = b
                    .get(pos..pos + 2)
                    .ok_or_else(|| Error::invalid(format!("hvcC array {i} unit {j} length is cut off")))?;
                let l = u16::from_be_bytes([l[0], l[1]]) as usize;
                let body = b.get(pos + 2..pos + 2 + l).ok_or_else(|| {
                    Error::invalid(format!(
                        "hvcC array {i} unit {j} needs {l} bytes but {} are left",
                        b.len() - pos - 2
                    ))
                })?;
                units.push(body.to_vec());
                pos += 2 + l;
            }
            arrays.push(HvcCArray { completeness, nal_type, units });
        }
        Ok(HvcC {
            ptl,
            min_spatial_segmentation_idc: u16::from_be_bytes([b[13], b[14]]) & 0x0FFF,
            parallelism_type: b[15] & 3,
            chroma_format: b[16] & 3,
            bit_depth_luma_minus8: b[17] & 7,
            bit_depth_chroma_minus8: b[18] & 7,
            avg_frame_rate: u16::from_be_bytes([b[19], b[20]]),
            constant_frame_rate: b[21] >> 6,
            num_temporal_layers: (b[21] >> 3) & 7,
            temporal_id_nested: b[21] & 4 != 0,
            len_size,
            arrays,
        })
    }

    /// The record's bytes, laid out as FFmpeg's `ff_isom_write_hvcc` writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(
            23 + self.arrays.iter().map(|a| 3 + a.units.iter().map(|u| u.len() + 2).sum::<usize>()).sum::<usize>(),
        );
        o.push(1);
        o.push(self.ptl.profile_space << 6 | (self.ptl.tier as u8) << 5 | self.ptl.profile_idc);
        o.extend_from_slice(&self.ptl.compat_flags.to_be_bytes());
        o.extend_from_slice(&self.ptl.constraint_flags.to_be_bytes()[2..]);
        o.push(self.ptl.level_idc);
        o.extend_from_slice(&(self.min_spatial_segmentation_idc | 0xF000).to_be_bytes());
        o.push(self.parallelism_type | 0xFC);
        o.push(self.chroma_format | 0xFC);
        o.push(self.bit_depth_luma_minus8 | 0xF8);
        o.push(self.bit_depth_chroma_minus8 | 0xF8);
        o.extend_from_slice(&self.avg_frame_rate.to_be_bytes());
        o.push(
            self.constant_frame_rate << 6
                | (self.num_temporal_layers & 7) << 3
                | (self.temporal_id_nested as u8) << 2
                | (self.len_size.clamp(1, 4) - 1),
        );
        o.push(self.arrays.len() as u8);
        for a in &self.arrays {
            o.push((a.completeness as u8) << 7 | (a.nal_type & 0x3F));
            o.extend_from_slice(&(a.units.len() as u16).to_be_bytes());
            for u in &a.units {
                o.extend_from_slice(&(u.len() as u16).to_be_bytes());
                o.extend_from_slice(u);
            }
        }
        o
    }

    /// Builds a record from the VPS, SPS and PPS units of an Annex-B access unit, as
    /// FFmpeg's `ff_isom_write_hvcc` does (with `array_completeness` 0, as its MP4 muxer
    /// writes for `hev1`); `None` unless all three are present and parse.
    pub fn from_annexb(au: &[u8]) -> Option<HvcC> {
        let mut rec = HvcC {
            ptl: ProfileTierLevel {
                compat_flags: 0xFFFF_FFFF,
                constraint_flags: 0xFFFF_FFFF_FFFF,
                ..Default::default()
            },
            min_spatial_segmentation_idc: 0,
            parallelism_type: 0,
            chroma_format: 0,
            bit_depth_luma_minus8: 0,
            bit_depth_chroma_minus8: 0,
            avg_frame_rate: 0,
            constant_frame_rate: 0,
            num_temporal_layers: 0,
            temporal_id_nested: false,
            len_size: 4,
            arrays: Vec::new(),
        };
        // 4097 means "no VUI seen", as in FFmpeg.
        let mut min_seg = 4097u32;
        let update_ptl = |rec: &mut HvcC, p: &ProfileTierLevel| {
            let g = &mut rec.ptl;
            g.profile_space = p.profile_space;
            if !g.tier && p.tier {
                g.level_idc = p.level_idc;
            } else {
                g.level_idc = g.level_idc.max(p.level_idc);
            }
            g.tier |= p.tier;
            g.profile_idc = g.profile_idc.max(p.profile_idc);
            g.compat_flags &= p.compat_flags;
            g.constraint_flags &= p.constraint_flags;
        };
        for nal in split_annexb(au) {
            let t = nal_type(nal);
            if !matches!(t, nal_type::VPS | nal_type::SPS | nal_type::PPS) || nal.len() > u16::MAX as usize {
                continue;
            }
            match rec.arrays.iter_mut().find(|a| a.nal_type == t) {
                Some(a) => a.units.push(nal.to_vec()),
                None => rec.arrays.push(HvcCArray { completeness: false, nal_type: t, units: vec![nal.to_vec()] }),
            }
            match t {
                nal_type::VPS => {
                    let rbsp = rbsp_of(nal).ok()?;
                    let mut r = BitReader::new(&rbsp);
                    r.skip(12).ok()?;
                    let msl1 = r.bits(3).ok()?;
                    // 7 is forbidden (at most 7 sub-layers) and would not fit the
                    // record's 3-bit field.
                    if msl1 > 6 {
                        return None;
                    }
                    rec.num_temporal_layers = rec.num_temporal_layers.max(msl1 as u8 + 1);
                    r.skip(17).ok()?;
                    let ptl = parse_ptl(&mut r, msl1).ok()?;
                    update_ptl(&mut rec, &ptl);
                }
                nal_type::SPS => {
                    let s = parse_sps(nal).ok()?;
                    rec.num_temporal_layers = rec.num_temporal_layers.max(s.max_sub_layers);
                    rec.temporal_id_nested = s.temporal_id_nesting;
                    update_ptl(&mut rec, &s.ptl);
                    rec.chroma_format = s.chroma_format_idc;
                    // The record keeps each depth minus 8 in 3 bits: 8 to 15 bits.
                    if !(8..=15).contains(&s.bit_depth_luma) || !(8..=15).contains(&s.bit_depth_chroma) {
                        return None;
                    }
                    rec.bit_depth_luma_minus8 = s.bit_depth_luma - 8;
                    rec.bit_depth_chroma_minus8 = s.bit_depth_chroma - 8;
                    if let Some(m) = s.min_spatial_segmentation_idc {
                        min_seg = min_seg.min(m);
                    }
                }
                _ => {
                    rec.parallelism_type = parse_pps(nal).ok()?.2;
                }
            }
        }
        let count = |t| rec.arrays.iter().find(|a| a.nal_type == t).map_or(0, |a| a.units.len());
        if !(1..=16).contains(&count(nal_type::VPS))
            || !(1..=32).contains(&count(nal_type::SPS))
            || !(1..=64).contains(&count(nal_type::PPS))
        {
            return None;
        }
        rec.min_spatial_segmentation_idc = if min_seg > 4096 { 0 } else { min_seg as u16 };
        if rec.min_spatial_segmentation_idc == 0 {
            rec.parallelism_type = 0;
        }
        Some(rec)
    }

    /// Every unit of the record, each after a 4-byte start code, in record order (what
    /// FFmpeg's `hevc_mp4toannexb` inserts before IRAP pictures).
    pub fn to_annexb(&self) -> Vec<u8> {
        let mut o = Vec::new();
        for u in self.arrays.iter().flat_map(|a| &a.units) {
            o.extend_from_slice(&[0, 0, 0, 1]);
            o.extend_from_slice(u);
        }
        o
    }

    /// The first SPS unit of the record.
    pub fn first_sps(&self) -> Option<&[u8]> {
        self.arrays.iter().find(|a| a.nal_type == nal_type::SPS).and_then(|a| a.units.first()).map(|v| &v[..])
    }
}

pub use crate::h264::PictureOrder;

/// What slice-header parsing and picture order count decoding need from an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceSps {
    pub sps_id: u8,
    pub separate_colour_plane: bool,
    pub log2_max_poc_lsb: u8,
    /// `sps_max_num_reorder_pics` of the highest sub-layer.
    pub max_num_reorder_pics: u32,
    /// `sps_max_dec_pic_buffering_minus1 + 1` of the highest sub-layer.
    pub max_dec_pic_buffering: u32,
}

impl SliceSps {
    /// Parses the start of an SPS NAL unit (2-byte header included), using `scratch` for
    /// the RBSP so that a caller that keeps it allocates nothing after the first SPS.
    pub fn parse(nal: &[u8], scratch: &mut Vec<u8>) -> Result<SliceSps> {
        if nal_type(nal) != nal_type::SPS {
            return Err(Error::invalid(format!("nal type {} is not an sps (expected 33)", nal_type(nal))));
        }
        if nal.len() < 3 {
            return Err(Error::invalid(format!("nal unit of {} bytes (expected at least 3)", nal.len())));
        }
        scratch.clear();
        unescape_rbsp(&nal[2..], scratch);
        let mut r = BitReader::new(scratch);
        r.skip(4)?; // sps_video_parameter_set_id
        let msl1 = r.bits(3)?;
        if msl1 > 6 {
            return Err(Error::invalid(format!("sps_max_sub_layers_minus1 {msl1} (expected 0..=6)")));
        }
        r.skip(1)?;
        parse_ptl(&mut r, msl1)?;
        let sps_id = r.ue()?;
        if sps_id > 15 {
            return Err(Error::invalid(format!("sps id {sps_id} (expected 0..=15)")));
        }
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(Error::invalid(format!("chroma_format_idc {chroma_format_idc} (expected 0..=3)")));
        }
        let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
        r.ue()?; // pic_width_in_luma_samples
        r.ue()?; // pic_height_in_luma_samples
        if r.bit()? {
            for _ in 0..4 {
                r.ue()?;
            }
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        let log2_max_poc_lsb = r.ue()?.saturating_add(4);
        if log2_max_poc_lsb > 16 {
            return Err(Error::invalid(format!("log2_max_pic_order_cnt_lsb {log2_max_poc_lsb} (expected 4..=16)")));
        }
        let first = if r.bit()? { 0 } else { msl1 };
        let (mut dpb, mut reorder) = (1, 0);
        for _ in first..=msl1 {
            dpb = r.ue()?.saturating_add(1);
            reorder = r.ue()?;
            r.ue()?;
        }
        if reorder > 16 || dpb > 16 {
            return Err(Error::invalid(format!(
                "sps_max_num_reorder_pics {reorder} / sps_max_dec_pic_buffering {dpb} (expected up to 16)"
            )));
        }
        Ok(SliceSps {
            sps_id: sps_id as u8,
            separate_colour_plane,
            log2_max_poc_lsb: log2_max_poc_lsb as u8,
            max_num_reorder_pics: reorder,
            max_dec_pic_buffering: dpb,
        })
    }
}

/// What slice-header parsing needs from a PPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlicePps {
    pub pps_id: u8,
    pub sps_id: u8,
    pub dependent_slice_segments_enabled: bool,
    pub output_flag_present: bool,
    pub num_extra_slice_header_bits: u8,
}

impl SlicePps {
    /// Parses the start of a PPS NAL unit (2-byte header included), without allocating.
    pub fn parse(nal: &[u8]) -> Result<SlicePps> {
        if nal_type(nal) != nal_type::PPS {
            return Err(Error::invalid(format!("nal type {} is not a pps (expected 34)", nal_type(nal))));
        }
        let mut buf = [0u8; 32];
        let rbsp = crate::h264::rbsp_prefix(&nal[2..], &mut buf);
        let mut r = BitReader::new(rbsp);
        let pps_id = r.ue()?;
        let sps_id = r.ue()?;
        if pps_id > 63 || sps_id > 15 {
            return Err(Error::invalid(format!("pps id {pps_id} / sps id {sps_id} (expected 0..=63 / 0..=15)")));
        }
        Ok(SlicePps {
            pps_id: pps_id as u8,
            sps_id: sps_id as u8,
            dependent_slice_segments_enabled: r.bit()?,
            output_flag_present: r.bit()?,
            num_extra_slice_header_bits: r.bits(3)? as u8,
        })
    }
}

/// The header of the first slice segment of a picture, up to
/// `slice_pic_order_cnt_lsb` (clause 7.3.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SliceHeader {
    pub nal_type: u8,
    /// `nuh_temporal_id_plus1 - 1`.
    pub temporal_id: u8,
    pub no_output_of_prior_pics: bool,
    pub pps_id: u8,
    /// 0 B, 1 P, 2 I.
    pub slice_type: u8,
    pub pic_output: bool,
    /// 0 for IDR pictures, which do not code it.
    pub pic_order_cnt_lsb: u32,
}

/// `slice_pic_parameter_set_id` of a VCL NAL (types 0..=31), without allocating.
pub fn slice_pps_id(nal: &[u8]) -> Result<u32> {
    let t = nal_type(nal);
    if t > 31 {
        return Err(Error::invalid(format!("nal type {t} is not a slice (expected 0..=31)")));
    }
    let mut buf = [0u8; 32];
    let rbsp = crate::h264::rbsp_prefix(&nal[2..], &mut buf);
    let mut r = BitReader::new(rbsp);
    r.skip(1 + is_irap(t) as usize)?;
    let id = r.ue()?;
    if id > 63 {
        return Err(Error::invalid(format!("slice pps id {id} (expected 0..=63)")));
    }
    Ok(id)
}

impl SliceHeader {
    /// Parses the header of the first slice segment of a picture (a VCL NAL with
    /// `first_slice_segment_in_pic_flag`, 2-byte header included) up to the POC, given
    /// the SPS and PPS it refers to; allocation-free.
    pub fn parse(nal: &[u8], sps: &SliceSps, pps: &SlicePps) -> Result<SliceHeader> {
        let t = nal_type(nal);
        if t > 31 {
            return Err(Error::invalid(format!("nal type {t} is not a slice (expected 0..=31)")));
        }
        let mut buf = [0u8; 32];
        let rbsp = crate::h264::rbsp_prefix(&nal[2..], &mut buf);
        let mut r = BitReader::new(rbsp);
        let tid_plus1 = nal[1] & 7;
        if tid_plus1 == 0 {
            return Err(Error::invalid("nuh_temporal_id_plus1 0 (expected 1..=7)"));
        }
        let mut sh = SliceHeader { nal_type: t, temporal_id: tid_plus1 - 1, pic_output: true, ..Default::default() };
        if !r.bit()? {
            return Err(Error::invalid(
                "slice segment is not the first of its picture (expected first_slice_segment_in_pic_flag 1)",
            ));
        }
        if is_irap(t) {
            sh.no_output_of_prior_pics = r.bit()?;
        }
        let pps_id = r.ue()?;
        if pps_id != pps.pps_id as u32 {
            return Err(Error::invalid(format!("slice refers to pps {pps_id} (expected {})", pps.pps_id)));
        }
        sh.pps_id = pps_id as u8;
        r.skip(pps.num_extra_slice_header_bits as usize)?;
        let slice_type = r.ue()?;
        if slice_type > 2 {
            return Err(Error::invalid(format!("slice_type {slice_type} (expected 0..=2)")));
        }
        sh.slice_type = slice_type as u8;
        if pps.output_flag_present {
            sh.pic_output = r.bit()?;
        }
        if sps.separate_colour_plane {
            r.skip(2)?;
        }
        if !matches!(t, 19 | 20) {
            sh.pic_order_cnt_lsb = r.bits(sps.log2_max_poc_lsb as u32)?;
        }
        Ok(sh)
    }
}

/// Picture order count decoding (clause 8.3.1) across the pictures of a stream, fed the
/// first slice header of every picture in decoding order.
#[derive(Debug, Clone)]
pub struct PocDecoder {
    /// The POC of `prevTid0Pic`: the previous picture with TemporalId 0 that is not a
    /// RASL, RADL or sub-layer non-reference picture.
    prev_tid0_poc: i64,
    /// The next IRAP picture has `NoRaslOutputFlag` (start of stream, after an end of
    /// sequence unit).
    first: bool,
}

impl Default for PocDecoder {
    fn default() -> Self {
        PocDecoder { prev_tid0_poc: 0, first: true }
    }
}

impl PocDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// An end-of-sequence NAL unit: the next picture starts a new coded video sequence.
    pub fn end_of_sequence(&mut self) {
        self.first = true;
    }

    /// The POC of the picture whose first slice header is `sh`.
    pub fn decode(&mut self, sps: &SliceSps, sh: &SliceHeader) -> PictureOrder {
        let t = sh.nal_type;
        let irap = is_irap(t);
        // IDR and BLA pictures always start a sequence, a CRA picture when it is the
        // first after the start or an end of sequence.
        let new_sequence = irap && (t <= 20 || self.first);
        if irap {
            self.first = false;
        }
        let max_lsb = 1i64 << sps.log2_max_poc_lsb;
        let lsb = sh.pic_order_cnt_lsb as i64;
        let msb = if new_sequence {
            0
        } else {
            let prev_lsb = self.prev_tid0_poc.rem_euclid(max_lsb);
            let prev_msb = self.prev_tid0_poc - prev_lsb;
            if lsb < prev_lsb && prev_lsb - lsb >= max_lsb / 2 {
                prev_msb + max_lsb
            } else if lsb > prev_lsb && lsb - prev_lsb > max_lsb / 2 {
                prev_msb - max_lsb
            } else {
                prev_msb
            }
        };
        let poc = msb + lsb;
        // RADL 6..=7, RASL 8..=9, sub-layer non-reference: even types up to 14.
        let sub_layer_non_ref = t <= 14 && t & 1 == 0;
        if sh.temporal_id == 0 && !(6..=9).contains(&t) && !sub_layer_non_ref {
            self.prev_tid0_poc = poc;
        }
        PictureOrder { poc, new_sequence }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcode_testkit::testdata;

    #[test]
    fn fixture_pocs_match_ffmpeg_trace_headers() {
        let data = std::fs::read(testdata("es/h265.h265")).unwrap();
        let mut scratch = Vec::new();
        let (mut sps, mut pps) = (None, None);
        let mut dec = PocDecoder::new();
        let mut got = Vec::new();
        for nal in split_annexb(&data) {
            match nal_type(nal) {
                nal_type::SPS => sps = Some(SliceSps::parse(nal, &mut scratch).unwrap()),
                nal_type::PPS => pps = Some(SlicePps::parse(nal).unwrap()),
                t if t < 32 && first_slice_segment_in_pic(nal) => {
                    let (s, p) = (sps.as_ref().unwrap(), pps.as_ref().unwrap());
                    assert_eq!(slice_pps_id(nal).unwrap(), p.pps_id as u32);
                    let sh = SliceHeader::parse(nal, s, p).unwrap();
                    got.push((dec.decode(s, &sh), t));
                }
                _ => {}
            }
        }
        let s = sps.unwrap();
        assert_eq!((s.log2_max_poc_lsb, s.max_num_reorder_pics, s.max_dec_pic_buffering), (8, 2, 5));
        // `ffmpeg -i es/h265.h265 -c copy -bsf:v trace_headers -f null -`: an IDR, then a
        // CRA at 21 with its RASL pictures (POC 21..=24) shown before it.
        let want = [
            0, 5, 3, 1, 2, 4, 10, 8, 6, 7, 9, 15, 13, 11, 12, 14, 20, 18, 16, 17, 19, 25, 23, 21, 22, 24, 30, 28, 26,
            27, 29, 35, 33, 31, 32, 34, 40, 38, 36, 37, 39, 45, 43, 41, 42, 44, 49, 47, 46, 48,
        ];
        assert_eq!(got.iter().map(|(o, _)| o.poc).collect::<Vec<_>>(), want);
        assert_eq!((got[0].1, got[21].1, got[22].1), (20, nal_type::CRA, 9));
        // Only the IDR starts a sequence: the CRA in the middle continues the POCs.
        let starts: Vec<usize> = got.iter().enumerate().filter(|(_, (o, _))| o.new_sequence).map(|(i, _)| i).collect();
        assert_eq!(starts, [0]);
    }

    fn sh(nal_type: u8, temporal_id: u8, lsb: u32) -> SliceHeader {
        SliceHeader { nal_type, temporal_id, pic_order_cnt_lsb: lsb, pic_output: true, ..Default::default() }
    }

    #[test]
    fn msb_follows_temporal_layer_0_reference_pictures_across_lsb_wraps() {
        let sps = SliceSps {
            sps_id: 0,
            separate_colour_plane: false,
            log2_max_poc_lsb: 4,
            max_num_reorder_pics: 2,
            max_dec_pic_buffering: 4,
        };
        let mut dec = PocDecoder::new();
        // IDR, TRAIL_R 6, 12, then 2 (= 18); a sub-layer non-reference TRAIL_N with lsb 4
        // (= 20) must not move prevTid0Pic, so the next lsb 14 is 14, not 30.
        let seq = [sh(19, 0, 0), sh(1, 0, 6), sh(1, 0, 12), sh(1, 0, 2), sh(0, 0, 4), sh(1, 0, 14), sh(1, 1, 0)];
        let got: Vec<i64> = seq.iter().map(|h| dec.decode(&sps, h).poc).collect();
        assert_eq!(got, [0, 6, 12, 18, 20, 14, 16]);
        // A CRA starts a sequence only first or after an end of sequence.
        assert!(!dec.decode(&sps, &sh(21, 0, 8)).new_sequence);
        dec.end_of_sequence();
        assert_eq!(dec.decode(&sps, &sh(21, 0, 8)), PictureOrder { poc: 8, new_sequence: true });
    }

    #[test]
    fn damaged_slice_headers_are_errors() {
        let sps = SliceSps {
            sps_id: 0,
            separate_colour_plane: false,
            log2_max_poc_lsb: 8,
            max_num_reorder_pics: 0,
            max_dec_pic_buffering: 1,
        };
        let pps = SlicePps {
            pps_id: 0,
            sps_id: 0,
            dependent_slice_segments_enabled: false,
            output_flag_present: false,
            num_extra_slice_header_bits: 0,
        };
        // Not the first slice segment, cut off, and temporal id 0 minus one.
        assert!(SliceHeader::parse(&[0x02, 0x01, 0x40], &sps, &pps).is_err());
        assert!(SliceHeader::parse(&[0x02, 0x01, 0xC0], &sps, &pps).is_err());
        assert!(SliceHeader::parse(&[0x02, 0x00, 0xFF, 0xFF], &sps, &pps).is_err());
        assert!(SliceSps::parse(&[0x42, 0x01, 0x01], &mut Vec::new()).is_err());
        assert!(slice_pps_id(&[0x40, 0x01, 0x80]).is_err());
    }
}
