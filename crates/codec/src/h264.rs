//! H.264 / AVC: sequence parameter sets, slice-header peeking, and the avcC record
//! (ISO/IEC 14496-15 `AVCDecoderConfigurationRecord`).

use crate::bits::BitReader;
use crate::nal::{split_annexb, unescape_rbsp};
use transcode_core::{Error, Result};

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
}

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
        bit_depth_luma = r.ue()? + 8;
        bit_depth_chroma = r.ue()? + 8;
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
    let log2_max_frame_num = r.ue()? + 4;
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
    // The VUI is optional for what transcode needs: a truncated one leaves the fields unset.
    if r.bit().unwrap_or(false) {
        let _ = parse_vui(&mut r, &mut sar, &mut frame_rate);
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
    })
}

fn parse_vui(r: &mut BitReader<'_>, sar: &mut Option<(u32, u32)>, frame_rate: &mut Option<(u32, u32)>) -> Result<()> {
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
