//! H.264 / AVC: sequence parameter sets, slice-header peeking, and the avcC record
//! (ISO/IEC 14496-15 `AVCDecoderConfigurationRecord`).

use crate::bits::BitReader;
use crate::nal::{split_annexb, unescape_rbsp};
use transcode_core::{ColorDescription, Error, Result};

/// NAL unit types that matter for remuxing.
pub mod nal_type {
    pub const SLICE: u8 = 1;
    pub const IDR: u8 = 5;
    pub const SEI: u8 = 6;
    pub const SPS: u8 = 7;
    pub const PPS: u8 = 8;
    pub const AUD: u8 = 9;
    pub const SPS_EXT: u8 = 13;
}

/// The NAL unit type of a NAL (without start code); 0 for an empty slice.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// What transcode needs from a sequence parameter set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    pub profile_idc: u8,
    /// constraint_set0..5 flags and the two reserved bits, as in the SPS byte.
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub sps_id: u32,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    pub log2_max_frame_num: u8,
    pub pic_order_cnt_type: u8,
    pub frame_mbs_only: bool,
    /// Displayed size after cropping.
    pub width: u32,
    pub height: u32,
    /// Sample aspect ratio from the VUI, when given.
    pub sar: Option<(u32, u32)>,
    /// Frames per second as `(num, den)`, from the VUI timing (`time_scale / (2 *
    /// num_units_in_tick)`), when given.
    pub frame_rate: Option<(u32, u32)>,
    /// Colour range, primaries, transfer and matrix from the VUI video signal type.
    pub color: ColorDescription,
}


pub(crate) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Reduces `num / den`; `None` when either is zero.
pub(crate) fn reduce(num: u64, den: u64) -> Option<(u32, u32)> {
    if num == 0 || den == 0 {
        return None;
    }
    let g = gcd(num, den);
    let (n, d) = (num / g, den / g);
    Some((u32::try_from(n).ok()?, u32::try_from(d).ok()?))
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<()> {
    let mut last = 8i32;
    let mut next = 8i32;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(Error::invalid(format!("scaling list delta {delta} (expected -128..=127)")));
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Parses an SPS NAL unit (header byte included, emulation prevention not yet removed).
pub fn parse_sps(nal: &[u8]) -> Result<Sps> {
    if nal_type(nal) != nal_type::SPS {
        return Err(Error::invalid(format!("nal type {} is not an sps (expected 7)", nal_type(nal))));
    }
    let mut rbsp = Vec::with_capacity(nal.len());
    unescape_rbsp(&nal[1..], &mut rbsp);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    let sps_id = r.ue()?;
    if sps_id > 31 {
        return Err(Error::invalid(format!("sps id {sps_id} (expected 0..=31)")));
    }
    let mut chroma_format_idc = 1u32;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma = 8;
    let mut bit_depth_chroma = 8;
    if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(Error::invalid(format!("chroma_format_idc {chroma_format_idc} (expected 0..=3)")));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        bit_depth_luma = r.ue()?.saturating_add(8);
        bit_depth_chroma = r.ue()?.saturating_add(8);
        if bit_depth_luma > 14 || bit_depth_chroma > 14 {
            return Err(Error::invalid(format!("bit depth {bit_depth_luma}/{bit_depth_chroma} (expected 8..=14)")));
        }
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    let log2_max_frame_num = r.ue()?.saturating_add(4);
    if log2_max_frame_num > 16 {
        return Err(Error::invalid(format!("log2_max_frame_num {log2_max_frame_num} (expected 4..=16)")));
    }
    let pic_order_cnt_type = r.ue()?;
    match pic_order_cnt_type {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.skip(1)?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err(Error::invalid(format!("num_ref_frames_in_pic_order_cnt_cycle {n} (expected 0..=255)")));
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        2 => {}
        t => return Err(Error::invalid(format!("pic_order_cnt_type {t} (expected 0..=2)"))),
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? as u64 + 1;
    let height_map_units = r.ue()? as u64 + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        cl = r.ue()? as u64;
        cr = r.ue()? as u64;
        ct = r.ue()? as u64;
        cb = r.ue()? as u64;
    }
    let chroma_array_type = if separate_colour_plane { 0 } else { chroma_format_idc };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (crop_x, crop_y) = if chroma_array_type == 0 {
        (1, 2 - frame_mbs_only as u64)
    } else {
        (sub_w, sub_h * (2 - frame_mbs_only as u64))
    };
    let full_w = width_mbs * 16;
    let full_h = height_map_units * 16 * (2 - frame_mbs_only as u64);
    let crop_w = crop_x * (cl + cr);
    let crop_h = crop_y * (ct + cb);
    if crop_w >= full_w || crop_h >= full_h || full_w > 65536 || full_h > 65536 {
        return Err(Error::invalid(format!(
            "picture size {full_w}x{full_h} with cropping {crop_w}x{crop_h} (expected a positive size up to 65536)"
        )));
    }
    let mut sar = None;
    let mut frame_rate = None;
    let mut color = ColorDescription::UNSPECIFIED;
    // The VUI is optional for what transcode needs: a truncated one leaves the fields unset.
    if r.bit().unwrap_or(false) {
        let _ = parse_vui(&mut r, &mut sar, &mut color, &mut frame_rate);
    }
    Ok(Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        sps_id,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma: bit_depth_luma as u8,
        bit_depth_chroma: bit_depth_chroma as u8,
        log2_max_frame_num: log2_max_frame_num as u8,
        pic_order_cnt_type: pic_order_cnt_type as u8,
        frame_mbs_only,
        width: (full_w - crop_w) as u32,
        height: (full_h - crop_h) as u32,
        sar,
        frame_rate,
        color,
    })
}

/// Sample aspect ratios by `aspect_ratio_idc` (Table E-1, the same in H.264 and H.265).
const SAR_TABLE: [(u32, u32); 17] = [
    (0, 1),
    (1, 1),
    (12, 11),
    (10, 11),
    (16, 11),
    (40, 33),
    (24, 11),
    (20, 11),
    (32, 11),
    (80, 33),
    (18, 11),
    (15, 11),
    (64, 33),
    (160, 99),
    (4, 3),
    (3, 2),
    (2, 1),
];

/// Reads the start of a VUI that H.264 (E.1.1) and H.265 (E.2.1) share: aspect ratio,
/// overscan, video signal type and chroma location. Fills `sar` and `color` as far as
/// the VUI goes, so that a VUI cut short keeps what came before the cut.
pub(crate) fn read_vui_head(r: &mut BitReader<'_>, sar: &mut Option<(u32, u32)>, color: &mut ColorDescription) -> Result<()> {
    if r.bit()? {
        let idc = r.bits(8)? as usize;
        if idc == 255 {
            let w = r.bits(16)?;
            let h = r.bits(16)?;
            *sar = (w != 0 && h != 0).then_some((w, h));
        } else if (1..SAR_TABLE.len()).contains(&idc) {
            *sar = Some(SAR_TABLE[idc]);
        }
    }
    if r.bit()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.bit()? {
        r.skip(3)?; // video_format
        let full_range = r.bit()?;
        *color = ColorDescription::from_vui(Some(full_range), None);
        if r.bit()? {
            let primaries = r.bits(8)? as u8;
            let transfer = r.bits(8)? as u8;
            let matrix = r.bits(8)? as u8;
            *color = ColorDescription::from_vui(Some(full_range), Some((primaries, transfer, matrix)));
        }
    }
    if r.bit()? {
        r.ue()?; // chroma_sample_loc_type_top_field
        r.ue()?;
    }
    Ok(())
}

fn parse_vui(
    r: &mut BitReader<'_>,
    sar: &mut Option<(u32, u32)>,
    color: &mut ColorDescription,
    frame_rate: &mut Option<(u32, u32)>,
) -> Result<()> {
    read_vui_head(r, sar, color)?;
    if r.bit()? {
        let num_units_in_tick = r.bits(32)? as u64;
        let time_scale = r.bits(32)? as u64;
        *frame_rate = reduce(time_scale, 2 * num_units_in_tick);
    }
    Ok(())
}

/// Reads the first bytes of a NAL's RBSP (after the header) into `buf` without
/// allocating, for peeking at the first syntax elements of a slice header.
pub(crate) fn rbsp_prefix<'b>(nal_payload: &[u8], buf: &'b mut [u8; 32]) -> &'b [u8] {
    let mut n = 0;
    let mut zeros = 0;
    for &b in nal_payload {
        if n == buf.len() {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        buf[n] = b;
        n += 1;
    }
    &buf[..n]
}

/// `first_mb_in_slice` of a slice NAL (types 1 and 5).
pub fn first_mb_in_slice(nal: &[u8]) -> Result<u32> {
    let mut buf = [0u8; 32];
    let rbsp = rbsp_prefix(nal.get(1..).unwrap_or(&[]), &mut buf);
    BitReader::new(rbsp).ue()
}

/// `(pps_id, sps_id)` of a PPS NAL.
pub fn parse_pps_ids(nal: &[u8]) -> Result<(u32, u32)> {
    if nal_type(nal) != nal_type::PPS {
        return Err(Error::invalid(format!("nal type {} is not a pps (expected 8)", nal_type(nal))));
    }
    let mut buf = [0u8; 32];
    let rbsp = rbsp_prefix(&nal[1..], &mut buf);
    let mut r = BitReader::new(rbsp);
    let pps = r.ue()?;
    let sps = r.ue()?;
    if pps > 255 || sps > 31 {
        return Err(Error::invalid(format!("pps id {pps} / sps id {sps} (expected 0..=255 / 0..=31)")));
    }
    Ok((pps, sps))
}

/// Whether an access unit (Annex-B) contains an IDR slice. This is what FFmpeg marks as a
/// keyframe for the fixtures' H.264 streams.
pub fn annexb_has_idr(au: &[u8]) -> bool {
    split_annexb(au).any(|n| nal_type(n) == nal_type::IDR)
}

/// The high-profile extension of an avcC record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcCExt {
    pub chroma_format: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    pub sps_ext: Vec<Vec<u8>>,
}

/// An `AVCDecoderConfigurationRecord` (the body of an MP4 `avcC` box).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcC {
    pub profile: u8,
    pub profile_compat: u8,
    pub level: u8,
    /// Bytes of each NAL length prefix in samples: 1, 2 or 4.
    pub len_size: u8,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
    /// Present for profiles other than Baseline, Main and Extended.
    pub ext: Option<AvcCExt>,
}

fn has_ext(profile: u8) -> bool {
    !matches!(profile, 66 | 77 | 88)
}

fn read_units(b: &[u8], pos: &mut usize, count: usize, what: &str) -> Result<Vec<Vec<u8>>> {
    let mut v = Vec::with_capacity(count.min(32));
    for i in 0..count {
        let len = b.get(*pos..*pos + 2).ok_or_else(|| Error::invalid(format!("{what} {i} length is cut off")))?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let body = b.get(*pos + 2..*pos + 2 + len).ok_or_else(|| {
            Error::invalid(format!("{what} {i} needs {len} bytes but {} are left", b.len() - *pos - 2))
        })?;
        v.push(body.to_vec());
        *pos += 2 + len;
    }
    Ok(v)
}

impl AvcC {
    /// Parses a record.
    pub fn parse(b: &[u8]) -> Result<AvcC> {
        if b.len() < 7 {
            return Err(Error::invalid(format!("avcC of {} bytes (expected at least 7)", b.len())));
        }
        if b[0] != 1 {
            return Err(Error::invalid(format!("avcC version {} (expected 1)", b[0])));
        }
        let len_size = (b[4] & 3) + 1;
        if len_size == 3 {
            return Err(Error::invalid("avcC nal length size 3 (expected 1, 2 or 4)"));
        }
        let mut pos = 6;
        let sps = read_units(b, &mut pos, (b[5] & 0x1F) as usize, "avcC sps")?;
        let n_pps = *b.get(pos).ok_or_else(|| Error::invalid("avcC pps count is cut off"))? as usize;
        pos += 1;
        let pps = read_units(b, &mut pos, n_pps, "avcC pps")?;
        let mut ext = None;
        if has_ext(b[1]) && b.len() >= pos + 4 {
            let n = b[pos + 3] as usize;
            let mut p = pos + 4;
            let sps_ext = read_units(b, &mut p, n, "avcC sps extension")?;
            ext = Some(AvcCExt {
                chroma_format: b[pos] & 3,
                bit_depth_luma_minus8: b[pos + 1] & 7,
                bit_depth_chroma_minus8: b[pos + 2] & 7,
                sps_ext,
            });
        }
        Ok(AvcC { profile: b[1], profile_compat: b[2], level: b[3], len_size, sps, pps, ext })
    }

    /// The record's bytes, laid out as FFmpeg's `ff_isom_write_avcc` writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(16 + self.sps.iter().chain(&self.pps).map(|s| s.len() + 2).sum::<usize>());
        o.extend_from_slice(&[1, self.profile, self.profile_compat, self.level]);
        o.push(0xFC | (self.len_size.clamp(1, 4) - 1));
        o.push(0xE0 | (self.sps.len().min(31) as u8));
        for s in self.sps.iter().take(31) {
            o.extend_from_slice(&(s.len() as u16).to_be_bytes());
            o.extend_from_slice(s);
        }
        o.push(self.pps.len().min(255) as u8);
        for p in self.pps.iter().take(255) {
            o.extend_from_slice(&(p.len() as u16).to_be_bytes());
            o.extend_from_slice(p);
        }
        if let Some(e) = &self.ext {
            o.push(0xFC | e.chroma_format);
            o.push(0xF8 | e.bit_depth_luma_minus8);
            o.push(0xF8 | e.bit_depth_chroma_minus8);
            o.push(e.sps_ext.len().min(255) as u8);
            for s in e.sps_ext.iter().take(255) {
                o.extend_from_slice(&(s.len() as u16).to_be_bytes());
                o.extend_from_slice(s);
            }
        }
        o
    }

    /// Builds a record from the SPS and PPS units of an Annex-B access unit (4-byte NAL
    /// lengths), as FFmpeg does from the first keyframe; `None` without an SPS or PPS.
    pub fn from_annexb(au: &[u8]) -> Option<AvcC> {
        let mut sps = Vec::new();
        let mut pps = Vec::new();
        for nal in split_annexb(au) {
            match nal_type(nal) {
                nal_type::SPS if nal.len() >= 4 && nal.len() <= u16::MAX as usize => sps.push(nal.to_vec()),
                nal_type::PPS if nal.len() <= u16::MAX as usize => pps.push(nal.to_vec()),
                _ => {}
            }
        }
        if sps.is_empty() || pps.is_empty() {
            return None;
        }
        let first = &sps[0];
        let profile = first[1];
        let ext = if has_ext(profile) {
            let s = parse_sps(first).ok()?;
            Some(AvcCExt {
                chroma_format: s.chroma_format_idc,
                bit_depth_luma_minus8: s.bit_depth_luma - 8,
                bit_depth_chroma_minus8: s.bit_depth_chroma - 8,
                sps_ext: Vec::new(),
            })
        } else {
            None
        };
        Some(AvcC { profile, profile_compat: first[2], level: first[3], len_size: 4, sps, pps, ext })
    }

    /// SPS then PPS units, each after a 4-byte start code.
    pub fn to_annexb(&self) -> Vec<u8> {
        let mut o = Vec::new();
        for n in self.sps.iter().chain(&self.pps) {
            o.extend_from_slice(&[0, 0, 0, 1]);
            o.extend_from_slice(n);
        }
        o
    }
}

/// What slice-header parsing and picture order count decoding need from an SPS
/// (clause 7.3.2.1.1), plus the reorder depth from the VUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceSps {
    pub sps_id: u8,
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub separate_colour_plane: bool,
    pub log2_max_frame_num: u8,
    pub pic_order_cnt_type: u8,
    /// `log2_max_pic_order_cnt_lsb` (POC type 0).
    pub log2_max_poc_lsb: u8,
    /// POC type 1 fields.
    pub delta_pic_order_always_zero: bool,
    pub offset_for_non_ref_pic: i32,
    pub offset_for_top_to_bottom_field: i32,
    pub num_ref_frames_in_poc_cycle: u8,
    /// `offset_for_ref_frame[i]` for `i < num_ref_frames_in_poc_cycle`, zero after.
    pub offset_for_ref_frame: [i32; 255],
    pub frame_mbs_only: bool,
    /// Picture size in macroblocks (frame height, not map units).
    pub width_mbs: u32,
    pub height_mbs: u32,
    /// `max_num_reorder_frames` from the VUI bitstream restrictions, when given.
    pub max_num_reorder_frames: Option<u32>,
}

/// `MaxDpbMbs` of H.264 Table A-1 for `level_idc` (9 is level 1b), `None` for an
/// unknown level.
pub fn max_dpb_mbs(level_idc: u8) -> Option<u32> {
    Some(match level_idc {
        9 | 10 => 396,
        11 => 900,
        12 | 13 | 20 => 2376,
        21 => 4752,
        22 | 30 => 8100,
        31 => 18000,
        32 => 20480,
        40 | 41 => 32768,
        42 => 34816,
        50 => 110400,
        51 | 52 => 184320,
        60..=62 => 696320,
        _ => return None,
    })
}

fn skip_hrd(r: &mut BitReader<'_>) -> Result<()> {
    let cpb_cnt = r.ue()?.saturating_add(1);
    if cpb_cnt > 32 {
        return Err(Error::invalid(format!("cpb_cnt_minus1 {} (expected 0..=31)", cpb_cnt - 1)));
    }
    r.skip(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..cpb_cnt {
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
    }
    r.skip(20) // four delay and offset lengths
}

impl SliceSps {
    /// Parses an SPS NAL unit (header byte included, emulation prevention not removed),
    /// using `scratch` for the RBSP so that a caller that keeps it allocates nothing
    /// after the first SPS.
    pub fn parse(nal: &[u8], scratch: &mut Vec<u8>) -> Result<SliceSps> {
        if nal_type(nal) != nal_type::SPS {
            return Err(Error::invalid(format!("nal type {} is not an sps (expected 7)", nal_type(nal))));
        }
        scratch.clear();
        unescape_rbsp(&nal[1..], scratch);
        let mut r = BitReader::new(scratch);
        let profile_idc = r.bits(8)? as u8;
        let constraint_flags = r.bits(8)? as u8;
        let level_idc = r.bits(8)? as u8;
        let sps_id = r.ue()?;
        if sps_id > 31 {
            return Err(Error::invalid(format!("sps id {sps_id} (expected 0..=31)")));
        }
        let mut separate_colour_plane = false;
        if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
            let chroma_format_idc = r.ue()?;
            if chroma_format_idc > 3 {
                return Err(Error::invalid(format!("chroma_format_idc {chroma_format_idc} (expected 0..=3)")));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()?;
            }
            r.ue()?; // bit_depth_luma_minus8
            r.ue()?; // bit_depth_chroma_minus8
            r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
            if r.bit()? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let log2_max_frame_num = r.ue()?.saturating_add(4);
        if log2_max_frame_num > 16 {
            return Err(Error::invalid(format!("log2_max_frame_num {log2_max_frame_num} (expected 4..=16)")));
        }
        let pic_order_cnt_type = r.ue()?;
        let mut sps = SliceSps {
            sps_id: sps_id as u8,
            profile_idc,
            constraint_flags,
            level_idc,
            separate_colour_plane,
            log2_max_frame_num: log2_max_frame_num as u8,
            pic_order_cnt_type: 0,
            log2_max_poc_lsb: 4,
            delta_pic_order_always_zero: false,
            offset_for_non_ref_pic: 0,
            offset_for_top_to_bottom_field: 0,
            num_ref_frames_in_poc_cycle: 0,
            offset_for_ref_frame: [0; 255],
            frame_mbs_only: true,
            width_mbs: 0,
            height_mbs: 0,
            max_num_reorder_frames: None,
        };
        match pic_order_cnt_type {
            0 => {
                let l = r.ue()?.saturating_add(4);
                if l > 16 {
                    return Err(Error::invalid(format!("log2_max_pic_order_cnt_lsb {l} (expected 4..=16)")));
                }
                sps.log2_max_poc_lsb = l as u8;
            }
            1 => {
                sps.delta_pic_order_always_zero = r.bit()?;
                sps.offset_for_non_ref_pic = r.se()?;
                sps.offset_for_top_to_bottom_field = r.se()?;
                let n = r.ue()?;
                if n > 255 {
                    return Err(Error::invalid(format!(
                        "num_ref_frames_in_pic_order_cnt_cycle {n} (expected 0..=255)"
                    )));
                }
                sps.num_ref_frames_in_poc_cycle = n as u8;
                for o in sps.offset_for_ref_frame.iter_mut().take(n as usize) {
                    *o = r.se()?;
                }
            }
            2 => {}
            t => return Err(Error::invalid(format!("pic_order_cnt_type {t} (expected 0..=2)"))),
        }
        sps.pic_order_cnt_type = pic_order_cnt_type as u8;
        r.ue()?; // max_num_ref_frames
        r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = r.ue()?.saturating_add(1);
        let height_map_units = r.ue()?.saturating_add(1);
        sps.frame_mbs_only = r.bit()?;
        if width_mbs > 4096 || height_map_units > 4096 {
            return Err(Error::invalid(format!(
                "picture size {width_mbs}x{height_map_units} macroblocks (expected up to 4096x4096)"
            )));
        }
        sps.width_mbs = width_mbs;
        sps.height_mbs = height_map_units * (2 - sps.frame_mbs_only as u32);
        // The rest only matters for the reorder depth: a VUI that is cut off or
        // malformed leaves it unknown rather than failing the SPS.
        let _ = Self::parse_tail(&mut r, &mut sps);
        Ok(sps)
    }

    fn parse_tail(r: &mut BitReader<'_>, sps: &mut SliceSps) -> Result<()> {
        if !sps.frame_mbs_only {
            r.skip(1)?; // mb_adaptive_frame_field_flag
        }
        r.skip(1)?; // direct_8x8_inference_flag
        if r.bit()? {
            for _ in 0..4 {
                r.ue()?;
            }
        }
        if !r.bit()? {
            return Ok(());
        }
        if r.bit()? && r.bits(8)? == 255 {
            r.skip(32)?;
        }
        if r.bit()? {
            r.skip(1)?;
        }
        if r.bit()? {
            r.skip(4)?;
            if r.bit()? {
                r.skip(24)?;
            }
        }
        if r.bit()? {
            r.ue()?;
            r.ue()?;
        }
        if r.bit()? {
            r.skip(65)?; // num_units_in_tick, time_scale, fixed_frame_rate_flag
        }
        let nal_hrd = r.bit()?;
        if nal_hrd {
            skip_hrd(r)?;
        }
        let vcl_hrd = r.bit()?;
        if vcl_hrd {
            skip_hrd(r)?;
        }
        if nal_hrd || vcl_hrd {
            r.skip(1)?; // low_delay_hrd_flag
        }
        r.skip(1)?; // pic_struct_present_flag
        if r.bit()? {
            r.skip(1)?;
            for _ in 0..4 {
                r.ue()?;
            }
            sps.max_num_reorder_frames = Some(r.ue()?);
        }
        Ok(())
    }

    /// How many frames may precede a frame in decoding order and follow it in output
    /// order: `max_num_reorder_frames` when the VUI gives it; 0 for POC type 2 (output
    /// order is decoding order) and for the intra-only profiles; otherwise, as FFmpeg
    /// assumes, the largest DPB the level allows for this picture size (`MaxDpbMbs /
    /// PicSizeInMbs`), or 16 for an unknown level. Never more than 16.
    pub fn reorder_depth(&self) -> u32 {
        if let Some(n) = self.max_num_reorder_frames {
            return n.min(16);
        }
        let intra_profile = matches!(self.profile_idc, 44 | 86 | 100 | 110 | 122 | 244);
        if self.pic_order_cnt_type == 2 || (intra_profile && self.constraint_flags & 0x10 != 0) {
            return 0;
        }
        let mbs = (self.width_mbs * self.height_mbs).max(1);
        max_dpb_mbs(self.level_idc).map_or(16, |m| (m / mbs).min(16))
    }
}

/// What slice-header parsing needs from a PPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlicePps {
    pub pps_id: u8,
    pub sps_id: u8,
    /// `bottom_field_pic_order_in_frame_present_flag`: frame slices carry
    /// `delta_pic_order_cnt_bottom` (POC type 0) or `delta_pic_order_cnt[1]` (type 1).
    pub bottom_field_pic_order_in_frame_present: bool,
}

impl SlicePps {
    /// Parses the start of a PPS NAL unit (header byte included), without allocating.
    pub fn parse(nal: &[u8]) -> Result<SlicePps> {
        if nal_type(nal) != nal_type::PPS {
            return Err(Error::invalid(format!("nal type {} is not a pps (expected 8)", nal_type(nal))));
        }
        let mut buf = [0u8; 32];
        let rbsp = rbsp_prefix(&nal[1..], &mut buf);
        let mut r = BitReader::new(rbsp);
        let pps = r.ue()?;
        let sps = r.ue()?;
        if pps > 255 || sps > 31 {
            return Err(Error::invalid(format!("pps id {pps} / sps id {sps} (expected 0..=255 / 0..=31)")));
        }
        r.skip(1)?; // entropy_coding_mode_flag
        let bottom = r.bit()?;
        Ok(SlicePps { pps_id: pps as u8, sps_id: sps as u8, bottom_field_pic_order_in_frame_present: bottom })
    }
}

/// A slice header up to the picture order count fields (clause 7.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SliceHeader {
    pub nal_ref_idc: u8,
    /// An IDR picture (NAL type 5).
    pub idr: bool,
    pub first_mb_in_slice: u32,
    /// 0..=9 as coded (5..=9 mean the same types as 0..=4, for every slice).
    pub slice_type: u8,
    pub pps_id: u8,
    pub frame_num: u32,
    pub field_pic: bool,
    pub bottom_field: bool,
    pub idr_pic_id: u32,
    pub pic_order_cnt_lsb: u32,
    pub delta_pic_order_cnt_bottom: i32,
    pub delta_pic_order_cnt: [i32; 2],
}

/// Reads up to `N` bytes of a NAL's RBSP without allocating.
fn rbsp_prefix_n<const N: usize>(nal_payload: &[u8], buf: &mut [u8; N]) -> usize {
    let mut n = 0;
    let mut zeros = 0;
    for &b in nal_payload {
        if n == N {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        buf[n] = b;
        n += 1;
    }
    n
}

/// `pic_parameter_set_id` of a slice NAL (types 1 and 5), without allocating.
pub fn slice_pps_id(nal: &[u8]) -> Result<u32> {
    let mut buf = [0u8; 32];
    let rbsp = rbsp_prefix(nal.get(1..).unwrap_or(&[]), &mut buf);
    let mut r = BitReader::new(rbsp);
    r.ue()?;
    r.ue()?;
    let id = r.ue()?;
    if id > 255 {
        return Err(Error::invalid(format!("slice pps id {id} (expected 0..=255)")));
    }
    Ok(id)
}

impl SliceHeader {
    /// Parses the header of a slice NAL (types 1 and 5, header byte included) up to the
    /// picture order count fields, given the SPS and PPS it refers to; allocation-free.
    pub fn parse(nal: &[u8], sps: &SliceSps, pps: &SlicePps) -> Result<SliceHeader> {
        let t = nal_type(nal);
        if !matches!(t, nal_type::SLICE | nal_type::IDR) {
            return Err(Error::invalid(format!("nal type {t} is not a slice (expected 1 or 5)")));
        }
        let mut buf = [0u8; 64];
        let n = rbsp_prefix_n(&nal[1..], &mut buf);
        let mut r = BitReader::new(&buf[..n]);
        let mut sh = SliceHeader { nal_ref_idc: (nal[0] >> 5) & 3, idr: t == nal_type::IDR, ..Default::default() };
        sh.first_mb_in_slice = r.ue()?;
        let slice_type = r.ue()?;
        if slice_type > 9 {
            return Err(Error::invalid(format!("slice_type {slice_type} (expected 0..=9)")));
        }
        sh.slice_type = slice_type as u8;
        let pps_id = r.ue()?;
        if pps_id != pps.pps_id as u32 {
            return Err(Error::invalid(format!("slice refers to pps {pps_id} (expected {})", pps.pps_id)));
        }
        sh.pps_id = pps_id as u8;
        if sps.separate_colour_plane {
            r.skip(2)?;
        }
        sh.frame_num = r.bits(sps.log2_max_frame_num as u32)?;
        if !sps.frame_mbs_only {
            sh.field_pic = r.bit()?;
            if sh.field_pic {
                sh.bottom_field = r.bit()?;
            }
        }
        if sh.idr {
            sh.idr_pic_id = r.ue()?;
        }
        let bottom_present = pps.bottom_field_pic_order_in_frame_present && !sh.field_pic;
        match sps.pic_order_cnt_type {
            0 => {
                sh.pic_order_cnt_lsb = r.bits(sps.log2_max_poc_lsb as u32)?;
                if bottom_present {
                    sh.delta_pic_order_cnt_bottom = r.se()?;
                }
            }
            1 if !sps.delta_pic_order_always_zero => {
                sh.delta_pic_order_cnt[0] = r.se()?;
                if bottom_present {
                    sh.delta_pic_order_cnt[1] = r.se()?;
                }
            }
            _ => {}
        }
        Ok(sh)
    }
}

/// The picture order count of a picture, and whether it starts a new coded video
/// sequence (an IDR picture; for H.265 an IRAP picture with `NoRaslOutputFlag`), whose
/// pictures all follow the previous sequence's in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureOrder {
    pub poc: i64,
    pub new_sequence: bool,
}

/// Picture order count decoding (clause 8.2.1) across the pictures of a stream, fed the
/// first slice header of every picture in decoding order.
///
/// Not handled: `memory_management_control_operation` 5 (it sits after the reference
/// list syntax, which this parser does not read), so a picture using it is treated as
/// an ordinary reference picture. Field pictures get the POC of their own parity.
#[derive(Debug, Clone, Default)]
pub struct PocDecoder {
    /// `prevPicOrderCntMsb` and `prevPicOrderCntLsb` (type 0): of the previous reference
    /// picture.
    prev_msb: i64,
    prev_lsb: i64,
    /// `prevFrameNumOffset` and `prevFrameNum` (types 1 and 2).
    prev_frame_num_offset: i64,
    prev_frame_num: i64,
}

impl PocDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The POC of the picture whose first slice header is `sh`.
    pub fn decode(&mut self, sps: &SliceSps, sh: &SliceHeader) -> PictureOrder {
        let frame_num = sh.frame_num as i64;
        let max_frame_num = 1i64 << sps.log2_max_frame_num;
        let top_bottom = match sps.pic_order_cnt_type {
            0 => {
                let (prev_msb, prev_lsb) = if sh.idr { (0, 0) } else { (self.prev_msb, self.prev_lsb) };
                let max_lsb = 1i64 << sps.log2_max_poc_lsb;
                let lsb = sh.pic_order_cnt_lsb as i64;
                let msb = if lsb < prev_lsb && prev_lsb - lsb >= max_lsb / 2 {
                    prev_msb + max_lsb
                } else if lsb > prev_lsb && lsb - prev_lsb > max_lsb / 2 {
                    prev_msb - max_lsb
                } else {
                    prev_msb
                };
                if sh.nal_ref_idc != 0 {
                    self.prev_msb = msb;
                    self.prev_lsb = lsb;
                }
                let top = msb + lsb;
                (top, top.saturating_add(sh.delta_pic_order_cnt_bottom as i64))
            }
            t => {
                let offset = if sh.idr {
                    0
                } else if self.prev_frame_num > frame_num {
                    self.prev_frame_num_offset + max_frame_num
                } else {
                    self.prev_frame_num_offset
                };
                self.prev_frame_num_offset = offset;
                self.prev_frame_num = frame_num;
                if t == 2 {
                    let poc = if sh.idr { 0 } else { 2 * (offset + frame_num) - (sh.nal_ref_idc == 0) as i64 };
                    (poc, poc)
                } else {
                    let n = sps.num_ref_frames_in_poc_cycle as i64;
                    let mut abs = if n != 0 { offset + frame_num } else { 0 };
                    if sh.nal_ref_idc == 0 && abs > 0 {
                        abs -= 1;
                    }
                    let offsets = &sps.offset_for_ref_frame[..n as usize];
                    let mut expected = 0i64;
                    if abs > 0 {
                        let per_cycle: i64 = offsets.iter().map(|&o| o as i64).sum();
                        let cycle = (abs - 1) / n;
                        let in_cycle = ((abs - 1) % n) as usize;
                        expected = cycle
                            .saturating_mul(per_cycle)
                            .saturating_add(offsets[..=in_cycle].iter().map(|&o| o as i64).sum::<i64>());
                    }
                    if sh.nal_ref_idc == 0 {
                        expected = expected.saturating_add(sps.offset_for_non_ref_pic as i64);
                    }
                    let top = expected.saturating_add(sh.delta_pic_order_cnt[0] as i64);
                    let to_bottom = sps.offset_for_top_to_bottom_field as i64 + sh.delta_pic_order_cnt[1] as i64;
                    (top, top.saturating_add(to_bottom))
                }
            }
        };
        let poc = match (sh.field_pic, sh.bottom_field) {
            (false, _) => top_bottom.0.min(top_bottom.1),
            (true, false) => top_bottom.0,
            (true, true) => top_bottom.1,
        };
        PictureOrder { poc, new_sequence: sh.idr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcode_testkit::testdata;

    /// POCs of every picture of an Annex-B H.264 stream, in decoding order.
    fn pocs(data: &[u8]) -> (Vec<PictureOrder>, u32) {
        let mut scratch = Vec::new();
        let (mut sps, mut pps) = (None, None);
        let mut dec = PocDecoder::new();
        let mut out = Vec::new();
        for nal in split_annexb(data) {
            match nal_type(nal) {
                nal_type::SPS => sps = Some(SliceSps::parse(nal, &mut scratch).unwrap()),
                nal_type::PPS => pps = Some(SlicePps::parse(nal).unwrap()),
                nal_type::SLICE | nal_type::IDR => {
                    let (s, p) = (sps.as_ref().unwrap(), pps.as_ref().unwrap());
                    assert_eq!(slice_pps_id(nal).unwrap(), p.pps_id as u32);
                    let sh = SliceHeader::parse(nal, s, p).unwrap();
                    if sh.first_mb_in_slice == 0 {
                        out.push(dec.decode(s, &sh));
                    }
                }
                _ => {}
            }
        }
        (out, sps.unwrap().reorder_depth())
    }

    #[test]
    fn fixture_pocs_match_ffmpeg_trace_headers() {
        let data = std::fs::read(testdata("es/h264.h264")).unwrap();
        let (got, depth) = pocs(&data);
        // `ffmpeg -i es/h264.h264 -c copy -bsf:v trace_headers -f null -`: pic_order_cnt_lsb
        // of each picture (POC type 0, no wrap within these 25-frame sequences).
        let gop1 = [0, 8, 4, 2, 6, 16, 12, 10, 14, 24, 20, 18, 22, 32, 28, 26, 30, 38, 34, 36, 46, 42, 40, 44, 48];
        let gop2 = [0, 8, 4, 2, 6, 16, 12, 10, 14, 24, 20, 18, 22, 32, 28, 26, 30, 40, 36, 34, 38, 46, 42, 44, 48];
        let want: Vec<i64> = gop1.iter().chain(&gop2).copied().collect();
        assert_eq!(got.iter().map(|o| o.poc).collect::<Vec<_>>(), want);
        let starts: Vec<usize> = got.iter().enumerate().filter(|(_, o)| o.new_sequence).map(|(i, _)| i).collect();
        assert_eq!(starts, [0, 25]);
        // x264 with b-pyramid writes max_num_reorder_frames 2.
        assert_eq!(depth, 2);
    }

    fn fixture_sps() -> SliceSps {
        let data = std::fs::read(testdata("es/h264.h264")).unwrap();
        let nal = split_annexb(&data).find(|n| nal_type(n) == nal_type::SPS).unwrap();
        let sps = SliceSps::parse(nal, &mut Vec::new()).unwrap();
        assert_eq!((sps.pic_order_cnt_type, sps.log2_max_poc_lsb, sps.log2_max_frame_num), (0, 6, 4));
        assert_eq!((sps.width_mbs, sps.height_mbs, sps.max_num_reorder_frames), (20, 12, Some(2)));
        sps
    }

    fn header(idr: bool, nal_ref_idc: u8, frame_num: u32, lsb: u32) -> SliceHeader {
        SliceHeader { idr, nal_ref_idc, frame_num, pic_order_cnt_lsb: lsb, ..Default::default() }
    }

    #[test]
    fn poc_type_0_msb_follows_the_previous_reference_picture_across_lsb_wraps() {
        let mut sps = fixture_sps();
        sps.log2_max_poc_lsb = 4; // MaxPicOrderCntLsb 16
        let mut dec = PocDecoder::new();
        let seq = [(true, 3, 0), (false, 2, 6), (false, 2, 12), (false, 2, 2), (false, 0, 14), (false, 2, 8)];
        let got: Vec<i64> = seq.iter().map(|&(idr, r, lsb)| dec.decode(&sps, &header(idr, r, 0, lsb)).poc).collect();
        // The non-reference 14 after 18 goes back below the msb; 8 follows 18, not 14.
        assert_eq!(got, [0, 6, 12, 18, 14, 24]);
        assert_eq!(dec.decode(&sps, &header(true, 3, 0, 0)), PictureOrder { poc: 0, new_sequence: true });
    }

    #[test]
    fn poc_types_1_and_2_count_frame_num_across_its_wrap() {
        let mut sps = fixture_sps();
        sps.pic_order_cnt_type = 2;
        assert_eq!(sps.reorder_depth(), 2, "the VUI value wins");
        sps.max_num_reorder_frames = None;
        assert_eq!(sps.reorder_depth(), 0, "type 2 is output in decoding order");
        let mut dec = PocDecoder::new();
        let mut got = vec![dec.decode(&sps, &header(true, 3, 0, 0)).poc];
        for fnum in 1..16 {
            got.push(dec.decode(&sps, &header(false, 2, fnum, 0)).poc);
        }
        got.push(dec.decode(&sps, &header(false, 2, 0, 0)).poc);
        got.push(dec.decode(&sps, &header(false, 0, 1, 0)).poc);
        assert_eq!(got[15..], [30, 32, 33]);
        // Type 1 coding I P b P b: reference frames 4 apart, each non-reference picture
        // shown halfway back to the previous reference frame.
        sps.pic_order_cnt_type = 1;
        sps.num_ref_frames_in_poc_cycle = 1;
        sps.offset_for_ref_frame[0] = 4;
        sps.offset_for_non_ref_pic = -2;
        sps.delta_pic_order_always_zero = true;
        let mut dec = PocDecoder::new();
        let seq = [(true, 3, 0), (false, 2, 1), (false, 0, 2), (false, 2, 2), (false, 0, 3)];
        let got: Vec<i64> = seq.iter().map(|&(idr, r, f)| dec.decode(&sps, &header(idr, r, f, 0)).poc).collect();
        assert_eq!(got, [0, 4, 2, 8, 6]);
        // Without a VUI value the level bounds the depth: level 1.2 has 2376 macroblocks
        // of DPB, 9 pictures of 20x12.
        assert_eq!((sps.level_idc, sps.reorder_depth()), (12, 9));
    }

    #[test]
    fn damaged_slice_headers_are_errors() {
        let sps = fixture_sps();
        let pps = SlicePps { pps_id: 0, sps_id: 0, bottom_field_pic_order_in_frame_present: false };
        assert!(SliceHeader::parse(&[0x65], &sps, &pps).is_err());
        assert!(SliceHeader::parse(&[0x67, 0x88], &sps, &pps).is_err());
        // pps id 1 where the caller looked up pps 0.
        assert!(SliceHeader::parse(&[0x65, 0x88, 0x40, 0x00], &sps, &pps).is_err());
        assert!(SliceSps::parse(&[0x67, 0x64], &mut Vec::new()).is_err());
        assert!(slice_pps_id(&[0x41]).is_err());
    }
}
