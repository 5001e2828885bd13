//! Encodes a Y4M file to Annex-B H.264 with transcode's encoder, for
//! `cargo xtask encode-check` (FFmpeg cross-check) and the encode benchmark.
//!
//! `h264_encode IN.y4m OUT.264 [--preset ultrafast|superfast|veryfast|faster|fast|medium] [--tune psnr]
//! [--me dia|hex|umh] [--subme 0..4] [--partition-early-exit | --no-partition-early-exit] [--qp N | --crf X] [--keyint N] [--bframes N] [--b-qp-offset N] [--i-qp-offset N]
//! [--slices N] [--threads N] [--no-i4x4] [--no-scenecut] [--no-partitions] [--no-deblock] [--cabac] [--no-b-pyramid] [--b-adapt] [--recon-md5 FILE] [--recon FILE.yuv]`: writes
//! [--aq-strength X] [--tune-psnr] [--mb-qp-pattern N] [--lookahead N] [--no-mbtree]
//! [--8x8dct (High profile with the 8x8 transform) | --no-8x8dct]
//! [--bitrate R (average bitrate, kbit/s or 600k / 2M) [--maxrate R --bufsize S [--vbv-init F]]]
//! [--no-i4x4] [--no-scenecut] [--no-partitions] [--no-deblock] [--cabac] [--recon-md5 FILE] [--recon FILE.yuv]`: writes
//! the stream, optionally the MD5 of each reconstructed frame (one per line, in display
//! order) and the reconstruction itself, and reports each picture's QP (display
//! order), then frames, bytes and encoding speed on stderr.

mod y4m;

use std::io::Write;
use std::time::Instant;
use transcode_core::{Budget, MemoryConfig};
use transcode_frame_pool::{FrameLayout, FramePool, FramePoolConfig, PixelFormat};
use transcode_h264::encoder::{parse_kilobits, Encoder, EncoderConfig, EncoderPreset, EncoderStatus, MeMethod, Received, Tune};

fn main() {
    if let Err(e) = run() {
        eprintln!("h264_encode: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: h264_encode IN.y4m OUT.264 [--preset P] [--tune psnr] [--me dia|hex|umh] [--subme N] [--qp N | --crf X | --bitrate R] [--maxrate R --bufsize S] [--keyint N] [--bframes N] [--b-qp-offset N] [--i-qp-offset N] [--slices N] [--threads N] [--no-i4x4] [--no-scenecut] [--no-partitions] [--no-deblock] [--cabac] [--no-b-pyramid] [--b-adapt] [--recon-md5 FILE] [--recon FILE]".into());
    }
    let data = std::fs::read(&args[0])?;
    let src = y4m::Y4m::parse(&data).ok_or("input is not 4:2:0 Y4M")?;
    // A preset first, then the tuning, then the explicit options over them (x264's
    // order), wherever they are on the command line.
    let find = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let mut cfg = match find("--preset") {
        Some(p) => EncoderConfig::with_preset(src.width, src.height, p.parse::<EncoderPreset>()?),
        None => EncoderConfig::new(src.width, src.height),
    };
    if let Some(t) = find("--tune") {
        t.parse::<Tune>()?.apply(&mut cfg);
    }
    cfg.frame_rate = src.rate;
    let mut md5_path = None;
    let mut recon_path = None;
    let mut i = 2;
    while i < args.len() {
        let val = || args.get(i + 1).ok_or_else(|| format!("{} needs a value", args[i]));
        match args[i].as_str() {
            "--qp" => {
                cfg.qp = val()?.parse()?;
                i += 1;
            }
            "--crf" => {
                cfg.rate_control = transcode_h264::encoder::RateControl::Crf(val()?.parse()?);
                i += 1;
            }
            "--bitrate" => {
                let v = val()?;
                let kbps = parse_kilobits(v).ok_or_else(|| format!("--bitrate {v}: expected kbit/s, or 600k, 2M"))?;
                cfg.rate_control = transcode_h264::encoder::RateControl::Abr { kbps };
                i += 1;
            }
            "--maxrate" => {
                let v = val()?;
                cfg.vbv_maxrate_kbps =
                    Some(parse_kilobits(v).ok_or_else(|| format!("--maxrate {v}: expected kbit/s, or 600k, 2M"))?);
                i += 1;
            }
            "--bufsize" => {
                let v = val()?;
                cfg.vbv_bufsize_kbits =
                    Some(parse_kilobits(v).ok_or_else(|| format!("--bufsize {v}: expected kbit, or 600k, 2M"))?);
                i += 1;
            }
            "--vbv-init" => {
                cfg.vbv_init = val()?.parse()?;
                i += 1;
            }
            "--keyint" => {
                cfg.keyint = val()?.parse()?;
                i += 1;
            }
            "--bframes" => {
                cfg.bframes = val()?.parse()?;
                i += 1;
            }
            "--slices" => {
                cfg.slices = val()?.parse()?;
                i += 1;
            }
            "--threads" => {
                cfg.threads = val()?.parse()?;
                i += 1;
            }
            "--b-qp-offset" => {
                cfg.b_qp_offset = val()?.parse()?;
                i += 1;
            }
            "--i-qp-offset" => {
                cfg.i_qp_offset = val()?.parse()?;
                i += 1;
            }
            "--aq-strength" => {
                cfg.aq_strength = val()?.parse()?;
                i += 1;
            }
            "--tune-psnr" => cfg.aq_strength = 0.0,
            "--mb-qp-pattern" => {
                cfg.mb_qp_pattern = val()?.parse()?;
                i += 1;
            }
            "--lookahead" => {
                cfg.lookahead = val()?.parse()?;
                i += 1;
            }
            "--no-mbtree" => cfg.mbtree = false,
            // Read before the loop.
            "--preset" | "--tune" => i += 1,
            "--me" => {
                cfg.me_method = val()?.parse::<MeMethod>()?;
                i += 1;
            }
            "--merange" => {
                cfg.me_range = val()?.parse()?;
                i += 1;
            }
            "--subme" => {
                cfg.subpel_refine = val()?.parse()?;
                i += 1;
            }
            "--partition-early-exit" => cfg.partition_early_exit = true,
            "--no-partition-early-exit" => cfg.partition_early_exit = false,
            "--no-b-pyramid" => cfg.b_pyramid = false,
            "--b-adapt" => cfg.b_adapt = true,
            "--8x8dct" => {
                cfg.profile = transcode_h264::encoder::Profile::High;
                cfg.transform_8x8 = true;
            }
            "--no-8x8dct" => cfg.transform_8x8 = false,
            "--no-i4x4" => cfg.intra4x4 = false,
            "--no-scenecut" => cfg.scenecut = false,
            "--no-partitions" => cfg.partitions = false,
            "--cabac" => cfg.entropy = transcode_h264::encoder::Entropy::Cabac,
            "--no-deblock" => cfg.deblock = false,
            "--recon-md5" => {
                md5_path = Some(val()?.clone());
                i += 1;
            }
            "--recon" => {
                recon_path = Some(val()?.clone());
                i += 1;
            }
            other => return Err(format!("unknown option {other}").into()),
        }
        i += 1;
    }
    let memory = MemoryConfig::default();
    let budget = Budget::from_config(&memory);
    let layout = FrameLayout::new(PixelFormat::Yuv420p, src.width, src.height)?;
    let mut pcfg = FramePoolConfig::new(layout, &memory);
    // The encoder holds its queue of frames; one more is being filled.
    pcfg.capacity = pcfg.capacity.max(cfg.queued_frames() as u32 + 1);
    let pool = FramePool::new(pcfg, &budget)?;
    let fps = cfg.frame_rate.0 as f64 / cfg.frame_rate.1 as f64;
    let mut enc = Encoder::new(cfg, &budget, &memory)?;
    let mut out = Vec::new();
    // Reconstructions arrive in decoding order; they are written in display order
    // (by pts), the order FFmpeg's framemd5 lists them in. At most bframes + 1 wait.
    let mut md5s: Vec<(i64, String)> = Vec::new();
    let mut pending: std::collections::BTreeMap<i64, Vec<u8>> = Default::default();
    let mut next_out = 0i64;
    let mut recon_file = match &recon_path {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let mut frame_buf = Vec::new();
    // Each picture's QP, reported in display order.
    let mut qps: Vec<(i64, u8)> = Vec::new();
    let start = Instant::now();
    let mut drain = |enc: &mut Encoder, out: &mut Vec<u8>| -> Result<bool, Box<dyn std::error::Error>> {
        let (data, pts) = match enc.receive_packet()? {
            Received::Packet(p) => {
                qps.push((p.pts.unwrap_or(0), p.qp));
                (p.data.to_vec(), p.pts.unwrap_or(0))
            }
            Received::NeedMoreData => return Ok(false),
            Received::Done => return Ok(false),
        };
        out.extend_from_slice(&data);
        if md5_path.is_some() || recon_file.is_some() {
            frame_buf.clear();
            enc.write_reconstruction(&mut frame_buf);
            if md5_path.is_some() {
                md5s.push((pts, transcode_testkit::md5_hex(&frame_buf)));
            }
            if let Some(f) = recon_file.as_mut() {
                pending.insert(pts, frame_buf.clone());
                while let Some(b) = pending.remove(&next_out) {
                    f.write_all(&b)?;
                    next_out += 1;
                }
            }
        }
        Ok(true)
    };
    for (n, packed) in src.frames.iter().enumerate() {
        let mut f = pool.acquire();
        f.copy_from_packed(packed)?;
        f.props_mut().pts = Some(n as i64);
        let f = f.into_shared();
        while enc.send_frame(&f)? == EncoderStatus::EnoughData {
            drain(&mut enc, &mut out)?;
        }
        while drain(&mut enc, &mut out)? {}
    }
    enc.flush();
    while drain(&mut enc, &mut out)? {}
    let secs = start.elapsed().as_secs_f64();
    std::fs::write(&args[1], &out)?;
    if let Some(p) = md5_path {
        md5s.sort();
        let text: String = md5s.iter().map(|(_, m)| format!("{m}\n")).collect();
        std::fs::write(p, text)?;
    }
    qps.sort();
    let qp_list: Vec<String> = qps.iter().map(|q| q.1.to_string()).collect();
    eprintln!("qp {}", qp_list.join(" "));
    let frames = src.frames.len();
    if let Some(fill) = enc.vbv_min_fill() {
        eprintln!("vbv min fill {:.0} bits recodes {}", fill, enc.vbv_recodes().unwrap_or(0));
    }
    eprintln!("kbps {:.2}", out.len() as f64 * 8.0 * fps / frames.max(1) as f64 / 1000.0);
    eprintln!(
        "frames {frames} bytes {} seconds {secs:.3} fps {:.2}",
        out.len(),
        frames as f64 / secs
    );
    Ok(())
}
