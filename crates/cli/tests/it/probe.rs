//! `transcode probe --json` agrees with ffprobe (its output is committed beside each
//! fixture as `F.ffprobe.json`).

use serde_json::Value;
use transcode_testkit::{fixtures, testdata};

use crate::{path_str, transcode};

fn num(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

#[test]
fn probe_agrees_with_ffprobe_on_every_fixture() {
    let mut checked = 0;
    for fx in fixtures() {
        let path = testdata(&fx);
        let out = transcode(&["probe", "--json", path_str(&path)]);
        assert!(out.status.success(), "{fx}: {}", String::from_utf8_lossy(&out.stderr));
        let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
        let theirs: Value = serde_json::from_str(&std::fs::read_to_string(testdata(&format!("{fx}.ffprobe.json"))).unwrap()).unwrap();
        let (os, ts) = (ours["streams"].as_array().unwrap(), theirs["streams"].as_array().unwrap());
        assert_eq!(os.len(), ts.len(), "{fx}: stream count");
        for (o, t) in os.iter().zip(ts) {
            assert_eq!(o["codec_name"], t["codec_name"], "{fx}: codec");
            assert_eq!(o["codec_type"], t["codec_type"], "{fx}: codec type");
            for key in ["width", "height", "sample_rate", "channels"] {
                if t.get(key).is_some() {
                    assert_eq!(num(&o[key]), num(&t[key]), "{fx}: {key}");
                }
            }
            // Interlacing and aspect ratio, present exactly when ffprobe has them.
            if t["codec_type"] == "video" {
                for key in ["field_order", "sample_aspect_ratio", "display_aspect_ratio"] {
                    assert_eq!(o.get(key), t.get(key), "{fx}: {key}");
                }
            }
            assert_eq!(num(&o["nb_read_packets"]), num(&t["nb_read_packets"]), "{fx}: packet count of stream {}", o["index"]);
            // Colour fields under ffprobe's names, present exactly when ffprobe has them,
            // for the codecs whose colour description transcode reads (the H.264/H.265
            // VUI, MPEG-2's sequence extension and sequence display extension).
            if matches!(t["codec_name"].as_str(), Some("h264" | "hevc" | "mpeg2video")) {
                for key in ["color_range", "color_space", "color_transfer", "color_primaries"] {
                    assert_eq!(o.get(key), t.get(key), "{fx}: {key}");
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} fixtures found");
}

#[test]
fn probe_text_names_streams() {
    let out = transcode(&["probe", path_str(&testdata("ts/h264_aac.ts"))]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("video h264, 320x180"), "{text}");
    assert!(text.contains("audio aac, 48000 Hz, 2 ch"), "{text}");
}

/// H.264 field coding, from the SPS, and the field order of the first picture (ffprobe
/// 5.1 says `tt` for all three interlaced conformance streams).
#[test]
fn probe_shows_h264_field_coding_and_order() {
    for (file, coding, text) in [
        ("h264-interlaced/freh6.264", "paff", "interlaced (top field first), field pictures (PAFF)"),
        ("h264-interlaced/HCAMFF1_HHI.264", "mbaff", "interlaced (top field first), MBAFF"),
        ("h264-mono/mono-cavlc.264", "progressive", "176x144, 25.000 fps, progressive"),
    ] {
        let path = testdata(file);
        let out = transcode(&["probe", "--json", path_str(&path)]);
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = &v["streams"][0];
        assert_eq!(s["field_coding"], coding, "{file}");
        let order = if coding == "progressive" { "progressive" } else { "tt" };
        assert_eq!(s["field_order"], order, "{file}");
        let out = transcode(&["probe", path_str(&path)]);
        assert!(out.status.success());
        let line = String::from_utf8(out.stdout).unwrap();
        assert!(line.contains(text), "{file}: {line}");
    }
}
