//! `transcode probe`: what is inside a file, as text or JSON.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};
use transcode_core::{MediaType, MemoryConfig};
use transcode_pipeline::{probe_report, ProbeReport};

use crate::Failure;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The file to inspect (`-` for standard input).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ProbeArgs) -> Result<(), Failure> {
    let report = probe_report(&args.file, &MemoryConfig::default())?;
    if args.json {
        // What was found is printed even when it is not media: the error follows.
        println!("{}", serde_json::to_string_pretty(&to_json(&args.file, &report)).expect("json"));
    } else if report.check().is_ok() {
        print_text(&args.file, &report);
    }
    report.check()?;
    Ok(())
}

fn media(t: MediaType) -> &'static str {
    match t {
        MediaType::Video => "video",
        MediaType::Audio => "audio",
        MediaType::Data => "data",
    }
}

/// The JSON form, with ffprobe's field names where ffprobe has the same field.
pub fn to_json(path: &std::path::Path, r: &ProbeReport) -> Value {
    let streams: Vec<Value> = r
        .streams
        .iter()
        .map(|s| {
            let i = &s.info;
            let mut v = json!({
                "index": i.index,
                "id": i.id,
                "codec_name": i.codec.name(),
                "codec_type": media(i.media_type()),
                "time_base": format!("{}/{}", i.time_base.num, i.time_base.den),
                "nb_read_packets": s.packets,
                "bytes": s.bytes,
                "keyframes": s.keyframes,
            });
            let m = v.as_object_mut().unwrap();
            if let Some(st) = s.start {
                m.insert("start_time".into(), json!(i.time_base.seconds(st)));
            }
            if let Some(d) = s.duration {
                m.insert("duration".into(), json!(i.time_base.seconds(d)));
            }
            if let Some(vp) = i.video {
                m.insert("width".into(), json!(vp.width));
                m.insert("height".into(), json!(vp.height));
                if let Some((n, d)) = vp.frame_rate {
                    m.insert("frame_rate".into(), json!(format!("{n}/{d}")));
                }
                if vp.profile != 0 {
                    m.insert("profile".into(), json!(vp.profile));
                    m.insert("level".into(), json!(vp.level));
                }
                if let Some(fo) = vp.field_order {
                    m.insert("field_order".into(), json!(fo.ffprobe_name()));
                }
                // Not an ffprobe field: H.264's coding from the SPS.
                if let Some(c) = s.coding {
                    m.insert("field_coding".into(), json!(c.name()));
                }
                if let Some((n, d)) = vp.sar {
                    m.insert("sample_aspect_ratio".into(), json!(format!("{n}:{d}")));
                    if let Some((dn, dd)) = reduce(vp.width as u64 * n as u64, vp.height as u64 * d as u64) {
                        m.insert("display_aspect_ratio".into(), json!(format!("{dn}:{dd}")));
                    }
                }
                if vp.pulldown {
                    m.insert("pulldown".into(), json!(true));
                }
                // As ffprobe: only what the stream specifies.
                let c = vp.color;
                for (key, name) in [
                    ("color_range", c.range_name()),
                    ("color_space", c.matrix_name()),
                    ("color_transfer", c.transfer_name()),
                    ("color_primaries", c.primaries_name()),
                ] {
                    if let Some(name) = name {
                        m.insert(key.into(), json!(name));
                    }
                }
            }
            if let Some(a) = i.audio {
                m.insert("sample_rate".into(), json!(a.sample_rate));
                m.insert("channels".into(), json!(a.channels));
            }
            if let Some(l) = i.language {
                m.insert("language".into(), json!(String::from_utf8_lossy(&l)));
            }
            v
        })
        .collect();
    let st = &r.stats;
    json!({
        "format": {
            "filename": path.display().to_string(),
            "format_name": r.format,
            "size": r.size,
            "duration": r.duration_seconds(),
            "nb_streams": r.streams.len(),
        },
        "streams": streams,
        "problems": {
            "resyncs": st.resyncs,
            "bytes_skipped": st.bytes_skipped,
            "continuity_errors": st.cc_errors,
            "discontinuities": st.discontinuities,
            "crc_errors": st.crc_errors,
            "dropped_packets": st.dropped_packets,
            "cut_packets": st.cut_packets,
            "samples_past_end": st.samples_past_end,
            "truncated": st.truncated,
        }
    })
}

fn print_text(path: &std::path::Path, r: &ProbeReport) {
    let dur = r.duration_seconds().map_or("unknown".to_string(), |d| format!("{d:.3} s"));
    let size = r.size.map_or("unknown size".to_string(), |s| format!("{s} bytes"));
    println!("{}: {}, {size}, duration {dur}", path.display(), r.format);
    for s in &r.streams {
        let i = &s.info;
        let mut line = format!("  stream {} (id {:#x}): {} {}", i.index, i.id, media(i.media_type()), i.codec.name());
        if let Some(v) = i.video {
            line += &format!(", {}x{}", v.width, v.height);
            if let Some((n, d)) = v.frame_rate {
                line += &format!(", {:.3} fps", n as f64 / d.max(1) as f64);
            }
            match v.field_order {
                Some(transcode_core::FieldOrder::Progressive) => line += ", progressive",
                Some(fo @ (transcode_core::FieldOrder::TopFirst | transcode_core::FieldOrder::BottomFirst)) => {
                    line += &format!(", interlaced ({})", if fo == transcode_core::FieldOrder::TopFirst { "top field first" } else { "bottom field first" })
                }
                None => {}
            }
            match s.coding.map(|c| c.name()) {
                Some("paff") => line += ", field pictures (PAFF)",
                Some("mbaff") => line += ", MBAFF",
                _ => {}
            }
            if v.pulldown {
                line += ", soft pulldown (repeated fields)";
            }
            if let Some((n, d)) = v.sar.filter(|&s| s != (1, 1)) {
                line += &format!(", SAR {n}:{d}");
                if let Some((dn, dd)) = reduce(v.width as u64 * n as u64, v.height as u64 * d as u64) {
                    line += &format!(" DAR {dn}:{dd}");
                }
            }
            let c = v.color;
            let names: Vec<&str> = [c.range_name(), c.matrix_name(), c.transfer_name(), c.primaries_name()].into_iter().flatten().collect();
            if !names.is_empty() {
                // ffmpeg's order: range, matrix, transfer, primaries.
                line += &format!(" ({})", names.join(", "));
            }
        }
        if let Some(a) = i.audio {
            line += &format!(", {} Hz, {} ch", a.sample_rate, a.channels);
        }
        line += &format!(", {} packets ({} key), {} bytes", s.packets, s.keyframes, s.bytes);
        if let Some(d) = s.duration {
            line += &format!(", {:.3} s", i.time_base.seconds(d));
        }
        println!("{line}");
    }
    let st = &r.stats;
    let mut problems: Vec<String> = st.summary().into_iter().collect();
    if st.discontinuities > 0 {
        problems.push(format!("{} discontinuities signalled", st.discontinuities));
    }
    if !problems.is_empty() {
        println!("  problems: {}", problems.join(", "));
    }
}

/// `num/den` in lowest terms, `None` when either is 0 or the result does not fit.
fn reduce(num: u64, den: u64) -> Option<(u64, u64)> {
    if num == 0 || den == 0 {
        return None;
    }
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    Some((num / a, den / a))
}
