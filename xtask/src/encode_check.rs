//! `cargo xtask encode-check [--bless]`: encodes every case of the encoder's oracle
//! table with transcode's H.264 encoder (the release `h264_encode` example), asks
//! FFmpeg to decode each stream (`ffmpeg -v error -i out.264 -f framemd5 -`) and checks
//! that it reports no error and gives exactly the encoder's reconstruction, frame by
//! frame, and that its header parser (`-bsf:v trace_headers`) reads every header
//! without a warning. `--bless` then writes `testdata/encode/results.txt`, the table `cargo test`
//! compares against without FFmpeg; without it, the committed table must match too.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::process::Command;

use crate::util::{project_root, target_dir};
use transcode_testkit::{md5_hex, parse_framemd5, testdata};

/// Source (under `testdata/`) and `h264_encode` options of every case.
pub const CASES: &[(&str, &str)] = &[
    ("encode/testsrc2_176x144.y4m", "--qp 26"),
    ("encode/testsrc2_176x144.y4m", "--qp 40 --keyint 5"),
    ("encode/testsrc2_176x144.y4m", "--qp 14 --no-deblock --no-i4x4"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 26"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 0 --keyint 7"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 51"),
    ("y4m/small.y4m", "--qp 30"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --cabac"),
    ("encode/testsrc2_176x144.y4m", "--qp 36 --keyint 4 --cabac --no-i4x4"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 20 --cabac"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 0 --cabac --no-deblock"),
    ("y4m/small.y4m", "--qp 44 --cabac"),
    ("encode/testsrc2_176x144.y4m", "--qp 22 --no-partitions"),
    // B-frames: non-reference B pictures between the anchors, CAVLC and CABAC, group
    // lengths cut by keyint, and a group longer than the clip.
    ("encode/testsrc2_176x144.y4m", "--qp 26 --bframes 3"),
    ("encode/testsrc2_176x144.y4m", "--qp 30 --bframes 2 --keyint 7 --cabac"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 24 --bframes 3 --cabac"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 36 --bframes 16 --b-qp-offset 0"),
    ("y4m/small.y4m", "--qp 28 --bframes 1 --cabac --no-partitions --no-deblock"),
    // A scene cut after frame 7: an IDR picture there, the B group before it cut short.
    ("encode/cut_128x96.y4m", "--qp 26 --bframes 3 --cabac --i-qp-offset 3"),
    ("encode/cut_128x96.y4m", "--qp 30"),
    ("encode/cut_128x96.y4m", "--qp 30 --no-scenecut --bframes 2"),
    // Constant rate factor: a QP per picture (slice_qp_delta against the PPS's QP),
    // CAVLC and CABAC, with B-frames, over the scene cut and at the range's ends.
    ("encode/testsrc2_176x144.y4m", "--crf 23"),
    ("encode/testsrc2_176x144.y4m", "--crf 28 --bframes 3 --cabac"),
    ("encode/mandelbrot_noise_160x96.y4m", "--crf 18.5 --bframes 2 --keyint 7"),
    ("encode/cut_128x96.y4m", "--crf 26 --bframes 3 --cabac"),
    ("encode/cut_128x96.y4m", "--crf 30 --no-scenecut"),
    ("y4m/small.y4m", "--crf 0 --cabac"),
    ("y4m/small.y4m", "--crf 51 --bframes 1"),
    // Several slices per picture (bands of macroblock rows, nothing predicted across
    // their top edges, deblocked across them): 2 and 4, CAVLC and CABAC, with
    // B-frames, and more slices than rows (one per row).
    ("encode/testsrc2_176x144.y4m", "--qp 26 --slices 2"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --slices 4 --cabac --bframes 3"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 20 --slices 4 --bframes 2"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 30 --slices 2 --cabac --keyint 7"),
    ("encode/cut_128x96.y4m", "--crf 26 --slices 3 --bframes 3 --cabac"),
    ("y4m/small.y4m", "--qp 30 --slices 64 --cabac"),
    // Slice threads: the same streams as one thread gives.
    ("encode/testsrc2_176x144.y4m", "--qp 26 --slices 4 --cabac --bframes 3 --threads 2"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 20 --slices 4 --bframes 2 --threads 4"),
    // Per-macroblock QP: mb_qp_delta over the whole range (wrapping modulo 52),
    // predicted across skipped macroblocks, deblocked with each macroblock's QP;
    // then variance adaptive quantisation at a rate factor, and without it.
    ("encode/testsrc2_176x144.y4m", "--qp 26 --mb-qp-pattern 8"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --mb-qp-pattern 51 --cabac --bframes 2"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 20 --mb-qp-pattern 51 --keyint 5"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 34 --mb-qp-pattern 13 --cabac --bframes 3"),
    ("encode/cut_128x96.y4m", "--crf 24 --bframes 3 --cabac --aq-strength 2"),
    ("encode/mandelbrot_noise_160x96.y4m", "--crf 24 --aq-strength 1"),
    ("encode/testsrc2_176x144.y4m", "--crf 26 --bframes 2 --cabac --tune-psnr"),
    // Macroblock-tree over a lookahead beyond the B group: finer QPs where later
    // frames reuse the anchor, stopped at the scene cut.
    ("encode/testsrc2_176x144.y4m", "--crf 24 --lookahead 6 --tune-psnr"),
    ("encode/cut_128x96.y4m", "--crf 26 --bframes 2 --cabac --lookahead 8"),
    ("encode/mandelbrot_noise_160x96.y4m", "--crf 28 --bframes 3 --lookahead 16 --cabac --tune-psnr"),
    // Per-macroblock QPs in several slices on slice threads: each slice starts its
    // QP prediction again at the slice QP.
    ("encode/testsrc2_176x144.y4m", "--crf 26 --slices 3 --threads 2 --cabac --bframes 2"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 28 --mb-qp-pattern 20 --slices 4 --threads 3 --bframes 1"),
    // High profile with the 8x8 transform: Intra 8x8 and 8x8 inter residuals, CAVLC
    // (four interleaved 4x4 blocks) and CABAC (ctxBlockCat 5), in I, P and B
    // pictures, with slices, per-macroblock QPs, QP 0 levels, and High without it.
    ("encode/testsrc2_176x144.y4m", "--qp 26 --8x8dct"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --cabac --8x8dct"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 20 --cabac --bframes 3 --8x8dct"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 30 --bframes 2 --keyint 7 --8x8dct"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 0 --keyint 7 --cabac --8x8dct"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 0 --keyint 7 --8x8dct"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --slices 2 --cabac --bframes 2 --8x8dct"),
    ("encode/testsrc2_176x144.y4m", "--qp 30 --slices 3 --threads 2 --bframes 3 --8x8dct"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --mb-qp-pattern 51 --cabac --bframes 2 --8x8dct"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 20 --mb-qp-pattern 13 --bframes 1 --8x8dct"),
    ("encode/cut_128x96.y4m", "--qp 36 --no-i4x4 --cabac --8x8dct"),
    ("y4m/small.y4m", "--crf 24 --cabac --bframes 3 --8x8dct"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --8x8dct --no-8x8dct"),
    // Rate control: average bitrate, and a VBV tight enough that pictures are
    // coded again at a coarser QP (the re-coded pictures must still decode to the
    // reconstruction).
    ("encode/testsrc2_176x144.y4m", "--bitrate 300"),
    ("encode/mandelbrot_noise_160x96.y4m", "--bitrate 500 --bframes 3 --cabac"),
    ("encode/cut_128x96.y4m", "--bitrate 200 --bframes 2 --cabac --8x8dct"),
    ("encode/testsrc2_176x144.y4m", "--crf 20 --maxrate 150 --bufsize 100 --bframes 3 --cabac"),
    ("encode/mandelbrot_noise_160x96.y4m", "--bitrate 300 --maxrate 300 --bufsize 60 --bframes 2"),
    ("encode/cut_128x96.y4m", "--crf 14 --maxrate 150 --bufsize 30 --slices 2 --bframes 3"),
    ("encode/mandelbrot_noise_160x96.y4m", "--crf 10 --maxrate 400 --bufsize 40 --bframes 2 --cabac"),
    ("y4m/small.y4m", "--bitrate 100 --maxrate 150 --bufsize 50 --cabac --bframes 1 --8x8dct"),
    // Presets (each with its lookahead, AQ and mb-tree at a rate factor), the motion
    // search methods and sub-sample levels on their own, and the partition early exit.
    ("encode/testsrc2_176x144.y4m", "--preset ultrafast --crf 24"),
    ("encode/mandelbrot_noise_160x96.y4m", "--preset superfast --crf 26"),
    ("encode/testsrc2_176x144.y4m", "--preset veryfast --crf 24"),
    ("encode/cut_128x96.y4m", "--preset veryfast --tune psnr --qp 28"),
    ("encode/mandelbrot_noise_160x96.y4m", "--preset faster --crf 22"),
    ("encode/testsrc2_176x144.y4m", "--preset fast --qp 30"),
    ("encode/mandelbrot_noise_160x96.y4m", "--preset medium --crf 24 --tune psnr"),
    ("y4m/small.y4m", "--preset medium --qp 26 --bframes 0"),
    ("encode/testsrc2_176x144.y4m", "--qp 26 --me dia --subme 0"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 24 --me umh --subme 4 --cabac --bframes 2"),
    ("encode/testsrc2_176x144.y4m", "--qp 30 --subme 1 --partition-early-exit"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 20 --subme 3 --me dia --partition-early-exit --8x8dct"),
    // B-pyramid (on by default from 2 B-frames, so the B cases above have it): the
    // middle B of each group a reference picture, the P list 0 modification and the
    // memory management operations after it. Here without it, and with it in groups
    // of 2 and 16, at a rate factor with the 8x8 transform, and on slice threads.
    ("encode/testsrc2_176x144.y4m", "--qp 26 --bframes 3 --no-b-pyramid"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 24 --bframes 3 --cabac --no-b-pyramid"),
    ("encode/testsrc2_176x144.y4m", "--qp 30 --bframes 2"),
    ("encode/testsrc2_176x144.y4m", "--qp 28 --bframes 16 --cabac"),
    ("encode/cut_128x96.y4m", "--crf 25 --bframes 5 --cabac --8x8dct --tune-psnr"),
    ("encode/mandelbrot_noise_160x96.y4m", "--crf 26 --slices 3 --threads 3 --bframes 4 --8x8dct"),
    // Adaptive B placement: groups of 0..=bframes B pictures, with and without
    // B-pyramid, at constant QP and a rate factor, over the scene cut.
    ("encode/testsrc2_176x144.y4m", "--qp 26 --bframes 3 --b-adapt"),
    ("encode/cut_128x96.y4m", "--crf 26 --bframes 4 --cabac --b-adapt"),
    ("encode/mandelbrot_noise_160x96.y4m", "--qp 30 --bframes 16 --cabac --b-adapt --no-b-pyramid"),
];

pub const TABLE: &str = "encode/results.txt";

pub fn run(args: &[String]) -> Result<()> {
    let bless = args.iter().any(|a| a == "--bless");
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-h264", "--example", "h264_encode"])?;
    let bin = target_dir().join("release/examples/h264_encode");
    let tmp = std::env::temp_dir().join(format!("transcode-encode-check-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut table = String::from(
        "# Encoder oracle: per case, the MD5 of the Annex-B stream and of each reconstructed\n\
         # frame, which FFmpeg decoded the stream to exactly (cargo xtask encode-check --bless).\n",
    );
    let mut failures = Vec::new();
    for (i, (src, opts)) in CASES.iter().enumerate() {
        let out = tmp.join(format!("case{i}.264"));
        let md5 = tmp.join(format!("case{i}.md5"));
        let mut cmd = Command::new(&bin);
        cmd.arg(testdata(src)).arg(&out).arg("--recon-md5").arg(&md5);
        cmd.args(opts.split_whitespace());
        let st = cmd.output().context("run h264_encode")?;
        if !st.status.success() {
            bail!("h264_encode {src} {opts}: {}", String::from_utf8_lossy(&st.stderr));
        }
        let recon: Vec<String> = std::fs::read_to_string(&md5)?.lines().map(str::to_string).collect();
        let ff = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-threads", "1", "-i"])
            .arg(&out)
            .args(["-f", "framemd5", "-"])
            .output()
            .context("run ffmpeg (is it installed?)")?;
        let errors = String::from_utf8_lossy(&ff.stderr).trim().to_string();
        let decoded: Vec<String> =
            parse_framemd5(&String::from_utf8_lossy(&ff.stdout)).entries.into_iter().map(|e| e.md5).collect();
        let stream_md5 = md5_hex(&std::fs::read(&out)?);
        // FFmpeg's own header parser (the coded bitstream reader behind its
        // trace_headers filter) must read every SPS, PPS, SEI and slice header without
        // a complaint: a decoder can tolerate what a strict syntax reader refuses.
        let trace = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "warning", "-i"])
            .arg(&out)
            .args(["-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"])
            .output()
            .context("run ffmpeg trace_headers")?;
        let trace_errors = String::from_utf8_lossy(&trace.stderr).trim().to_string();
        let errors = if trace.status.success() && trace_errors.is_empty() {
            errors
        } else {
            format!("{errors}\ntrace_headers: {trace_errors}").trim().to_string()
        };
        let ok = ff.status.success() && errors.is_empty() && decoded == recon;
        if ok {
            println!("ok    {src} {opts}: {} frames, {} bytes", recon.len(), std::fs::metadata(&out)?.len());
        } else {
            let first = decoded.iter().zip(&recon).position(|(a, b)| a != b);
            println!(
                "FAIL  {src} {opts}: ffmpeg errors {errors:?}, {} decoded vs {} reconstructed frames, first difference {first:?}",
                decoded.len(),
                recon.len()
            );
            failures.push(format!("{src} {opts}"));
        }
        writeln!(table, "[{src} {opts}]\nstream {stream_md5}")?;
        for m in &recon {
            writeln!(table, "{m}")?;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if !failures.is_empty() {
        bail!("FFmpeg does not decode to the reconstruction for: {}", failures.join(", "));
    }
    let path = project_root().join("testdata").join(TABLE);
    if bless {
        std::fs::write(&path, &table)?;
        println!("encode-check: {} cases passed, wrote {}", CASES.len(), path.display());
    } else {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != table {
            bail!("{} differs from this encoder's output (FFmpeg agreed with the new one: run cargo xtask encode-check --bless)", path.display());
        }
        println!("encode-check: {} cases passed and match {}", CASES.len(), TABLE);
    }
    Ok(())
}
