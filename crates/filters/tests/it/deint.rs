//! Deinterlacing: every yadif/bwdif oracle table of `testdata/filters/`, the filter
//! protocol (delay, backpressure, flush), and errors.

use crate::{frames, read_y4m, run, Y4m};
use transcode_core::{Error, MemoryConfig, TimeBase};
use transcode_filters::{Algorithm, Deinterlace, DeinterlaceConfig, FieldSelect, Filter, Parallelism, Parity, Pull, Rate};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, PixelFormat};
use transcode_testkit::{read_framemd5, testdata};

/// The settings an oracle's file name spells: `SRC.FILTER.MODE.PARITY.frames`, or
/// `mixed.FILTER.MODE.interlaced.frames` for `deint=interlaced`.
fn config_from_name(filter: &str, mode: &str, parity: &str) -> DeinterlaceConfig {
    let (algorithm, rate) = match (filter, mode) {
        ("bwdif", "send_frame") => (Algorithm::Bwdif, Rate::FrameRate),
        ("bwdif", "send_field") => (Algorithm::Bwdif, Rate::FieldRate),
        ("yadif", "send_frame") => (Algorithm::Yadif, Rate::FrameRate),
        ("yadif", "send_field") => (Algorithm::Yadif, Rate::FieldRate),
        ("yadif", "send_frame_nospatial") => (Algorithm::YadifNoSpatialCheck, Rate::FrameRate),
        ("yadif", "send_field_nospatial") => (Algorithm::YadifNoSpatialCheck, Rate::FieldRate),
        _ => panic!("unknown filter and mode {filter} {mode}"),
    };
    let (parity, select) = match parity {
        "tff" => (Parity::TopFirst, FieldSelect::All),
        "bff" => (Parity::BottomFirst, FieldSelect::All),
        "auto" => (Parity::Auto, FieldSelect::All),
        "interlaced" => (Parity::Auto, FieldSelect::Interlaced),
        _ => panic!("unknown parity {parity}"),
    };
    DeinterlaceConfig { algorithm, rate, parity, select, ..DeinterlaceConfig::default() }
}

/// The input pictures of an oracle: a fixture with the field order of its header, or
/// for `mixed`, `prog_420 + tff_420 + prog_420` as make.sh concatenates them.
fn source(name: &str) -> (FrameLayout, Vec<(Vec<u8>, FieldOrder)>) {
    let tag = |y: Y4m| y.pictures.into_iter().map(move |p| (p, y.field_order)).collect::<Vec<_>>();
    if name == "mixed" {
        let prog = read_y4m("filters/prog_420.y4m");
        let layout = prog.layout;
        let tff = read_y4m("filters/tff_420.y4m");
        assert_eq!(tff.layout, layout);
        let prog = tag(prog);
        let mut all = prog.clone();
        all.extend(tag(tff));
        all.extend(prog);
        (layout, all)
    } else {
        let y = read_y4m(&format!("filters/{name}.y4m"));
        (y.layout, tag(y))
    }
}

fn check_oracle(file: &str, parallelism: Parallelism) -> Result<usize, String> {
    let parts: Vec<&str> = file.split('.').collect();
    let [src, filter, mode, parity, "frames"] = parts[..] else { panic!("oracle name {file}") };
    let config = DeinterlaceConfig { parallelism, ..config_from_name(filter, mode, parity) };
    let (layout, pictures) = source(src);
    let budget = Budget::from_config(&MemoryConfig::default());
    let pics: Vec<(&[u8], FieldOrder)> = pictures.iter().map(|(p, o)| (p.as_slice(), *o)).collect();
    let inputs = frames(layout, &pics, &budget);
    let mut filter = Deinterlace::new(config, layout, &budget).unwrap();
    let got = run(&mut filter, inputs);

    let oracle = read_framemd5(&testdata(&format!("filters/{file}")));
    let (n, d) = oracle.time_bases[0];
    let oracle_tb = TimeBase::new(n, d);
    // Inputs count frames of 1/25 s.
    let ours = filter.output_time_base(TimeBase::new(1, 25));
    let want: Vec<(String, Option<i64>)> = oracle.entries.iter().map(|e| (e.md5.clone(), e.pts)).collect();
    let got: Vec<(String, Option<i64>)> =
        got.into_iter().map(|(m, pts)| (m, pts.map(|p| ours.rescale(p, oracle_tb)))).collect();
    if got.len() != want.len() {
        return Err(format!("{file}: {} frames, FFmpeg has {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if g != w {
            return Err(format!("{file}: frame {i} is {g:?}, FFmpeg's is {w:?}"));
        }
    }
    Ok(want.len())
}

fn oracle_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(testdata("filters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".frames") && (n.contains(".yadif.") || n.contains(".bwdif.")))
        .collect();
    files.sort();
    files
}

/// Every yadif/bwdif table: both algorithms, both rates, all parities, deint=all on
/// three sources (4:2:0 top first, 4:2:2 bottom first, 4:2:0 of odd size) and
/// deint=interlaced on a progressive/interlaced/progressive stream.
#[test]
fn every_deinterlace_oracle_is_matched_frame_for_frame() {
    let files = oracle_files();
    // 3 sources x 2 filters x 2 modes x 3 parities, 2 nospatial, 4 mixed.
    assert_eq!(files.len(), 36 + 2 + 4, "oracle tables in testdata/filters: {files:?}");
    let mut failures = Vec::new();
    let mut frames = 0;
    for f in &files {
        match check_oracle(f, Parallelism::Serial) {
            Ok(n) => frames += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} tables differ:\n{}", failures.len(), files.len(), failures.join("\n"));
    assert!(frames > 400, "only {frames} frames compared");
}
