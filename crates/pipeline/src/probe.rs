//! The probe job: what is inside a file.

use std::path::Path;

use transcode_codec::h264::{nal_type, AvcC, SliceHeader, SlicePps, SliceSps};
use transcode_codec::nal::{lp_units, split_annexb};
use transcode_core::{BitstreamFormat, CodecId, Error, FieldOrder, MemoryConfig, StreamInfo};
use transcode_demux_bridge::{open_demuxer, DemuxStats, Input};
use transcode_h264::FieldCoding;

use crate::JobError;

/// One stream as probe reports it.
#[derive(Debug, Clone)]
pub struct ProbeStream {
    pub info: StreamInfo,
    pub packets: u64,
    pub bytes: u64,
    /// Lowest presentation time seen, in time-base ticks.
    pub start: Option<i64>,
    /// Presentation span from the first to the end of the last packet, in ticks.
    pub duration: Option<i64>,
    pub keyframes: u64,
    /// H.264 only: how the SPS lets pictures be coded (progressive, field pictures,
    /// MBAFF). `None` for other codecs, or when the SPS cannot be read.
    pub coding: Option<FieldCoding>,
}

impl ProbeStream {
    /// Whether anything is known of the stream beyond its listing in the container: a
    /// whole packet, or codec parameters from the container.
    pub fn is_described(&self) -> bool {
        let i = &self.info;
        self.packets > 0 || i.video.is_some() || i.audio.is_some() || !i.extradata.is_empty()
    }
}

/// What [`probe`] found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub path: std::path::PathBuf,
    pub format: &'static str,
    pub size: Option<u64>,
    pub streams: Vec<ProbeStream>,
    pub stats: DemuxStats,
    /// What the demuxer saw, in a few words ([`Demuxer::contents`]), for the error when
    /// no stream is described.
    ///
    /// [`Demuxer::contents`]: transcode_demux_bridge::Demuxer::contents
    pub seen: String,
}

impl ProbeReport {
    /// [`JobError::NoMedia`] when no stream can be described (none is listed, or none
    /// has a packet or parameters): the file is not media a script should take as such.
    pub fn check(&self) -> Result<(), JobError> {
        if self.streams.iter().any(ProbeStream::is_described) {
            return Ok(());
        }
        let mut seen = self.seen.clone();
        if !self.streams.is_empty() {
            // Listed, but nothing is known of them.
            let n = self.streams.len();
            let listed = format!("{n} {} listed", if n == 1 { "stream" } else { "streams" });
            seen = if seen.is_empty() { listed } else { seen };
            seen += ", none with a whole packet";
        }
        Err(JobError::NoMedia { path: self.path.clone(), seen, damage: self.stats.summary() })
    }

    /// The longest stream duration, in seconds.
    pub fn duration_seconds(&self) -> Option<f64> {
        self.streams
            .iter()
            .filter_map(|s| s.duration.map(|d| s.info.time_base.seconds(d)))
            .fold(None, |a: Option<f64>, d| Some(a.map_or(d, |a| a.max(d))))
    }
}

/// Reads `path` to the end and reports its streams, packet counts and problems. Fails
/// with [`JobError::NoMedia`] when no stream can be described ([`ProbeReport::check`]).
pub fn probe(path: &Path, memory: &MemoryConfig) -> Result<ProbeReport, JobError> {
    let report = probe_report(path, memory)?;
    report.check()?;
    Ok(report)
}

/// [`probe`] without the final check: the report of what was found even when no stream
/// can be described, for a caller that shows it before the error.
pub fn probe_report(path: &Path, memory: &MemoryConfig) -> Result<ProbeReport, JobError> {
    let err = |source: Error| JobError::Input { path: path.to_path_buf(), source };
    let input = Input::open(path, memory).map_err(err)?;
    let size = input.len();
    let mut demux = open_demuxer(input, memory).map_err(err)?;
    // Per stream: packets, bytes, lowest pts, highest end, keyframes.
    type Acc = (u64, u64, Option<i64>, Option<i64>, u64);
    let mut acc: Vec<Acc> = Vec::new();
    // Per stream: the first packet, whose first slice tells an H.264 stream's field
    // order when its SPS allows field coding.
    let mut first: Vec<Option<Vec<u8>>> = Vec::new();
    while let Some(p) = demux.next_packet().map_err(err)? {
        if acc.len() <= p.stream {
            acc.resize(p.stream + 1, (0, 0, None, None, 0));
            first.resize(p.stream + 1, None);
        }
        // The stream list cannot be read while the packet borrows the demuxer, so the
        // first packet of every stream is kept: one bounded packet each.
        if acc[p.stream].0 == 0 {
            first[p.stream] = Some(p.data.to_vec());
        }
        let a = &mut acc[p.stream];
        a.0 += 1;
        a.1 += p.data.len() as u64;
        if let Some(pts) = p.pts.or(p.dts) {
            a.2 = Some(a.2.map_or(pts, |s: i64| s.min(pts)));
            let end = pts + p.duration.unwrap_or(0);
            a.3 = Some(a.3.map_or(end, |e: i64| e.max(end)));
        }
        a.4 += p.keyframe as u64;
    }
    let streams = demux
        .streams()
        .iter()
        .map(|info| {
            let (packets, bytes, start, end, keyframes) = acc.get(info.index).copied().unwrap_or((0, 0, None, None, 0));
            let duration = info.duration.or(match (start, end) {
                (Some(s), Some(e)) => Some(e - s),
                _ => None,
            });
            let mut info = info.clone();
            let mut coding = None;
            if info.codec == CodecId::H264 {
                let packet = first.get(info.index).and_then(|f| f.as_deref());
                let (c, order) = h264_interlacing(&info, packet);
                coding = c;
                if let (Some(v), Some(order)) = (info.video.as_mut(), order) {
                    v.field_order.get_or_insert(order);
                }
            }
            ProbeStream { info, packets, bytes, start, duration, keyframes, coding }
        })
        .collect();
    Ok(ProbeReport {
        path: path.to_path_buf(),
        format: demux.format_name(),
        size,
        streams,
        stats: demux.stats(),
        seen: demux.contents(),
    })
}

/// What an H.264 stream's SPS (in the avcC extradata) says of field coding, and, when
/// fields may be coded, the field order of its first picture: the parity of a field
/// picture, or for a frame picture which of its fields comes first by picture order
/// count, as ffprobe reports it. A `pic_struct` SEI is not read.
fn h264_interlacing(info: &StreamInfo, packet: Option<&[u8]>) -> (Option<FieldCoding>, Option<FieldOrder>) {
    let Ok(avcc) = AvcC::parse(&info.extradata) else {
        return (None, None);
    };
    let Some(sps_nal) = avcc.sps.first() else {
        return (None, None);
    };
    let coding = transcode_h264::sps_field_coding(sps_nal).ok();
    let order = packet.and_then(|p| first_field_order(info.format, p, &avcc));
    (coding, order)
}

/// The field order of the first slice of `packet`, with the parameter sets of `avcc`.
fn first_field_order(format: BitstreamFormat, packet: &[u8], avcc: &AvcC) -> Option<FieldOrder> {
    let mut scratch = Vec::new();
    let is_slice = |n: &&[u8]| matches!(nal_type(n), nal_type::SLICE | nal_type::IDR);
    let slice = match format {
        BitstreamFormat::LengthPrefixed { len_size } => lp_units(packet, len_size).map_while(|r| r.ok()).find(is_slice),
        _ => split_annexb(packet).find(is_slice),
    }?;
    // The slice's own PPS, and the SPS that PPS names.
    let pps = avcc.pps.iter().filter_map(|n| SlicePps::parse(n).ok()).find(|p| {
        transcode_codec::h264::slice_pps_id(slice).is_ok_and(|id| id == p.pps_id as u32)
    })?;
    let sps = avcc.sps.iter().filter_map(|n| SliceSps::parse(n, &mut scratch).ok()).find(|s| s.sps_id == pps.sps_id)?;
    if sps.frame_mbs_only {
        return Some(FieldOrder::Progressive);
    }
    let sh = SliceHeader::parse(slice, &sps, &pps).ok()?;
    if sh.field_pic {
        return Some(if sh.bottom_field { FieldOrder::BottomFirst } else { FieldOrder::TopFirst });
    }
    // A frame picture: the bottom field's POC relative to the top's (8.2.1); the rest
    // of the derivation adds the same to both.
    let bottom_minus_top = match sps.pic_order_cnt_type {
        0 => sh.delta_pic_order_cnt_bottom as i64,
        1 => sps.offset_for_top_to_bottom_field as i64 + sh.delta_pic_order_cnt[1] as i64,
        _ => 0,
    };
    Some(match bottom_minus_top {
        d if d > 0 => FieldOrder::TopFirst,
        d if d < 0 => FieldOrder::BottomFirst,
        _ => FieldOrder::Progressive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcode_testkit::testdata;

    fn probe_h264(file: &str) -> ProbeStream {
        let r = probe(&testdata(file), &MemoryConfig::default()).unwrap();
        assert_eq!(r.streams.len(), 1, "{file}");
        r.streams[0].clone()
    }

    /// ffprobe 5.1 reports `field_order=tt` for all three interlaced conformance
    /// streams, and `progressive` for the x264 streams.
    #[test]
    fn h264_field_coding_and_order_come_from_the_sps_and_first_slice() {
        for (file, coding, order) in [
            ("h264-interlaced/freh6.264", FieldCoding::FieldPictures, FieldOrder::TopFirst),
            ("h264-interlaced/HCAFF1_HHI.264", FieldCoding::FieldPictures, FieldOrder::TopFirst),
            ("h264-interlaced/HCAMFF1_HHI.264", FieldCoding::Mbaff, FieldOrder::TopFirst),
            ("h264-mono/mono-cabac.264", FieldCoding::Progressive, FieldOrder::Progressive),
        ] {
            let s = probe_h264(file);
            assert_eq!(s.coding, Some(coding), "{file}");
            assert_eq!(s.info.video.unwrap().field_order, Some(order), "{file}");
        }
    }

    /// Other codecs have no H.264 coding to report.
    #[test]
    fn non_h264_streams_have_no_field_coding() {
        let r = probe(&testdata("ts/h264_aac.ts"), &MemoryConfig::default()).unwrap();
        for s in &r.streams {
            assert_eq!(s.coding.is_some(), s.info.codec == CodecId::H264, "stream {}", s.info.index);
        }
    }
}
