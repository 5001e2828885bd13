//! Just enough H.264 header parsing for the DPB tests: access units, SPS sizes and
//! reference counts, and the picture order count of each picture (types 0 and 2).
//! Test-only; the real parser lives in the decoder.

pub struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }
    pub fn u(&mut self, n: u32) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).copied().unwrap_or(0);
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        v
    }
    pub fn ue(&mut self) -> u32 {
        let mut zeros = 0;
        while self.u(1) == 0 && zeros < 32 {
            zeros += 1;
        }
        ((1u64 << zeros) - 1 + u64::from(self.u(zeros))) as u32
    }
    pub fn se(&mut self) -> i32 {
        let k = self.ue() as i64;
        (if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) }) as i32
    }
}

/// NAL units of an Annex-B stream, emulation prevention removed.
pub fn nal_units(data: &[u8]) -> Vec<Vec<u8>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
        while end > s && data[end - 1] == 0 {
            end -= 1;
        }
        let mut nal = Vec::with_capacity(end - s);
        let mut zeros = 0;
        for &b in &data[s..end] {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            nal.push(b);
        }
        out.push(nal);
    }
    out
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Sps {
    pub level_idc: u8,
    pub width_mbs: u32,
    pub height_mbs: u32,
    pub log2_max_frame_num: u32,
    pub poc_type: u32,
    pub log2_max_poc_lsb: u32,
    pub max_num_ref_frames: u32,
    pub frame_mbs_only: bool,
}

fn skip_scaling_list(b: &mut Bits, size: usize) {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            next = (last + b.se() + 256) % 256;
        }
        last = if next == 0 { last } else { next };
    }
}

pub fn parse_sps(nal: &[u8]) -> Sps {
    let mut b = Bits::new(&nal[1..]);
    let profile = b.u(8);
    b.u(8);
    let level_idc = b.u(8) as u8;
    b.ue();
    if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(&profile) {
        let chroma_format_idc = b.ue();
        if chroma_format_idc == 3 {
            b.u(1);
        }
        b.ue();
        b.ue();
        b.u(1);
        if b.u(1) == 1 {
            for i in 0..if chroma_format_idc == 3 { 12 } else { 8 } {
                if b.u(1) == 1 {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 });
                }
            }
        }
    }
    let log2_max_frame_num = b.ue() + 4;
    let poc_type = b.ue();
    let mut log2_max_poc_lsb = 0;
    match poc_type {
        0 => log2_max_poc_lsb = b.ue() + 4,
        1 => {
            b.u(1);
            b.se();
            b.se();
            for _ in 0..b.ue() {
                b.se();
            }
        }
        _ => {}
    }
    let max_num_ref_frames = b.ue();
    b.u(1);
    let width_mbs = b.ue() + 1;
    let map_units = b.ue() + 1;
    let frame_mbs_only = b.u(1) == 1;
    let height_mbs = if frame_mbs_only { map_units } else { 2 * map_units };
    Sps { level_idc, width_mbs, height_mbs, log2_max_frame_num, poc_type, log2_max_poc_lsb, max_num_ref_frames, frame_mbs_only }
}

/// One coded picture in decode order.
#[derive(Debug, Clone, Copy)]
pub struct Pic {
    pub idr: bool,
    pub reference: bool,
    pub frame_num: u32,
    pub poc: i32,
}

/// The SPS and every picture of an Annex-B H.264 stream.
pub fn pictures(data: &[u8]) -> (Sps, Vec<Pic>) {
    let mut sps = Sps::default();
    let mut pics = Vec::new();
    let (mut prev_msb, mut prev_lsb) = (0i32, 0i32);
    let (mut prev_frame_num, mut frame_num_offset) = (0u32, 0i64);
    for nal in nal_units(data) {
        let kind = nal[0] & 0x1f;
        if kind == 7 {
            sps = parse_sps(&nal);
            continue;
        }
        if kind != 1 && kind != 5 {
            continue;
        }
        let idr = kind == 5;
        let reference = nal[0] >> 5 != 0;
        let mut b = Bits::new(&nal[1..]);
        if b.ue() != 0 {
            continue; // a further slice of the same picture
        }
        b.ue();
        b.ue();
        let frame_num = b.u(sps.log2_max_frame_num);
        if !sps.frame_mbs_only && b.u(1) == 1 {
            b.u(1);
        }
        if idr {
            b.ue();
        }
        let poc = if sps.poc_type == 0 {
            let lsb = b.u(sps.log2_max_poc_lsb) as i32;
            if idr {
                (prev_msb, prev_lsb) = (0, 0);
            }
            let max = 1i32 << sps.log2_max_poc_lsb;
            let msb = if lsb < prev_lsb && prev_lsb - lsb >= max / 2 {
                prev_msb + max
            } else if lsb > prev_lsb && lsb - prev_lsb > max / 2 {
                prev_msb - max
            } else {
                prev_msb
            };
            if reference {
                (prev_msb, prev_lsb) = (msb, lsb);
            }
            msb + lsb
        } else {
            if idr {
                frame_num_offset = 0;
            } else if prev_frame_num > frame_num {
                frame_num_offset += 1i64 << sps.log2_max_frame_num;
            }
            prev_frame_num = frame_num;
            let t = 2 * (frame_num_offset + i64::from(frame_num));
            (if reference { t } else { t - 1 }) as i32
        };
        pics.push(Pic { idr, reference, frame_num, poc });
    }
    (sps, pics)
}
