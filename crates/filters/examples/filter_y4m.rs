//! Runs the transcode job's filter chain alone on a Y4M stream (yuv420p): bwdif at
//! frame rate with the field order from the header, then a Lanczos scale, from
//! standard input to standard output, one frame at a time:
//! `filter_y4m WxH|-2:H < IN.y4m > OUT.y4m`. `cargo xtask bench transcode` times it as
//! the "filters alone" term of the pipeline overhead, with the defaults the job uses
//! (`--deinterlace bwdif`: `DeinterlaceConfig` at frame rate, `ScaleConfig::new`).

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use transcode_core::MemoryConfig;
use transcode_filters::{Deinterlace, DeinterlaceConfig, Filter, Pull, Rate, Scale, ScaleConfig, Size};
use transcode_frame_pool::{Budget, FieldOrder, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame};

fn main() {
    if let Err(e) = run() {
        eprintln!("filter_y4m: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let size = std::env::args().nth(1).ok_or("usage: filter_y4m WxH|-2:H < IN.y4m > OUT.y4m")?;
    let size = match size.split_once(['x', ':']) {
        Some(("-2", h)) => Size::Height(h.parse()?),
        Some((w, h)) => Size::Exact { width: w.parse()?, height: h.parse()? },
        None => return Err(format!("size {size:?} (expected WxH or -2:H)").into()),
    };
    let mut input = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut header = String::new();
    input.read_line(&mut header)?;
    let tag = |c: char| header.split_whitespace().skip(1).find_map(|t| t.strip_prefix(c)).map(str::to_string);
    let (w, h): (u32, u32) = (tag('W').ok_or("no W tag")?.parse()?, tag('H').ok_or("no H tag")?.parse()?);
    let field_order = match tag('I').as_deref() {
        Some("b") => FieldOrder::BottomFirst,
        Some("p") => FieldOrder::Progressive,
        _ => FieldOrder::TopFirst,
    };
    let sar = tag('A').and_then(|a| a.split_once(':').and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))).filter(|s: &(u32, u32)| s.0 > 0 && s.1 > 0);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, w, h)?;
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let pool = FramePool::new(FramePoolConfig { capacity: 6, ..FramePoolConfig::new(layout, &memory) }, &budget)?;
    let mut deint = Deinterlace::new(DeinterlaceConfig { rate: Rate::FrameRate, ..DeinterlaceConfig::default() }, layout, &budget)?;
    let mut scale = Scale::new(ScaleConfig::new(size), deint.output_layout(), sar, &budget)?;
    let out_layout = scale.output_layout();
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let rate = tag('F').unwrap_or_else(|| "25:1".into());
    let out_sar = scale.output_sar();
    writeln!(out, "YUV4MPEG2 W{} H{} F{rate} Ip A{}:{} C420mpeg2", out_layout.width(), out_layout.height(), out_sar.0, out_sar.1)?;
    let mut packed = vec![0u8; layout.packed_size()];
    let mut line = Vec::new();
    let mut buf = Vec::new();
    let mut pts = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if !line.starts_with(b"FRAME") {
            return Err("expected a FRAME header".into());
        }
        input.read_exact(&mut packed)?;
        let mut f = pool.acquire();
        f.copy_from_packed(&packed)?;
        f.props_mut().field_order = field_order;
        f.props_mut().sar = sar;
        f.props_mut().pts = Some(pts);
        pts += 1;
        deint.push(f.into_shared())?;
        drain(&mut deint, &mut scale, &mut out, &mut buf)?;
    }
    deint.flush();
    drain(&mut deint, &mut scale, &mut out, &mut buf)?;
    scale.flush();
    while let Pull::Frame(f) = scale.pull()? {
        write_frame(&f, &mut out, &mut buf)?;
    }
    out.flush()?;
    Ok(())
}

/// Every frame the deinterlacer has ready, through the scaler and out.
fn drain(deint: &mut Deinterlace, scale: &mut Scale, out: &mut impl Write, buf: &mut Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
    while let Pull::Frame(d) = deint.pull()? {
        scale.push(d)?;
        while let Pull::Frame(f) = scale.pull()? {
            write_frame(&f, out, buf)?;
        }
    }
    Ok(())
}

fn write_frame(f: &SharedFrame, out: &mut impl Write, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    f.write_packed(buf);
    out.write_all(b"FRAME\n")?;
    out.write_all(buf)
}
