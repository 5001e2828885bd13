//! `transcode-encode-bench rusty-fast|rusty-balanced IN.y4m OUT.264 --qp N`: encodes a
//! 4:2:0 Y4M file with rusty_h264-encoder at a constant QP, for `cargo xtask bench
//! encode`. The bench times the whole process, as it does x264 and transcode's own
//! `h264_encode`, so every contender pays for reading its input the same way.

// The Y4M reader the encoder's example uses; one copy of it.
#[path = "../../h264/examples/y4m/mod.rs"]
mod y4m;

use rusty_h264_common::YuvFrame;
use rusty_h264_encoder::{Encoder, EncoderConfig, Preset};
use std::io::Write;

fn main() {
    if let Err(e) = run() {
        eprintln!("transcode-encode-bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: transcode-encode-bench rusty-fast|rusty-balanced IN.y4m OUT.264 --qp N [--keyint N]";
    let (Some(which), Some(input), Some(output)) = (args.first(), args.get(1), args.get(2)) else {
        return Err(usage.into());
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let qp: u8 = flag("--qp")
        .ok_or(usage)?
        .parse()
        .map_err(|_| "--qp wants a number 0-51")?;
    let keyint: u32 = flag("--keyint")
        .map(|s| s.parse())
        .transpose()
        .map_err(|_| "--keyint wants a number")?
        .unwrap_or(250);
    let preset = match which.as_str() {
        "rusty-fast" => Preset::Fast,
        "rusty-balanced" => Preset::Balanced,
        other => return Err(format!("unknown contender {other:?} ({usage})")),
    };
    let data = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let src = y4m::Y4m::parse(&data).ok_or_else(|| format!("{input}: not 4:2:0 Y4M"))?;
    drop(data);
    let (w, h) = (src.width as usize, src.height as usize);
    let mut cfg = EncoderConfig::new(w, h);
    cfg.preset = preset;
    // Constant QP over a long GOP, as x264 `--qp N --keyint 250` runs beside it.
    cfg.qp = qp;
    cfg.bitrate = 0;
    cfg.gop_size = keyint;
    cfg.framerate = src.rate.0 as f32 / src.rate.1.max(1) as f32;
    let mut enc = Encoder::new(cfg)
        .map_err(|e| format!("rusty_h264-encoder refused the configuration: {e:?}"))?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(output).map_err(|e| format!("{output}: {e}"))?,
    );
    let (cw, ch) = (w / 2, h / 2);
    let mut frame = YuvFrame {
        width: w,
        height: h,
        y: vec![0; w * h],
        u: vec![0; cw * ch],
        v: vec![0; cw * ch],
    };
    for packed in &src.frames {
        let (y, c) = packed.split_at(w * h);
        frame.y.copy_from_slice(y);
        frame.u.copy_from_slice(&c[..cw * ch]);
        frame.v.copy_from_slice(&c[cw * ch..2 * cw * ch]);
        out.write_all(&enc.encode(&frame))
            .map_err(|e| format!("{output}: {e}"))?;
    }
    out.write_all(&enc.flush())
        .map_err(|e| format!("{output}: {e}"))?;
    out.flush().map_err(|e| format!("{output}: {e}"))?;
    Ok(())
}
