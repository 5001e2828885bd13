//! Decodes H.264 Annex-B files and compares each frame's MD5 with the FFmpeg table
//! beside it (`F.frames`): `cargo run --example check -- FILE...`.

use transcode_h264::Decoder;

fn main() {
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).expect("read input");
        let oracle =
            transcode_testkit::read_framemd5(std::path::Path::new(&format!("{path}.frames")));
        let mut dec = Decoder::new(&transcode_core::MemoryConfig::default());
        let mut got = Vec::new();
        let mut buf = Vec::new();
        let t = std::time::Instant::now();
        let mut res = Ok(());
        let mut collect = |dec: &mut Decoder| {
            while let Some(f) = dec.next_frame() {
                buf.clear();
                f.write_yuv420p(&mut buf);
                got.push(transcode_testkit::md5_hex(&buf));
            }
        };
        for nal in transcode_h264::nal_units(&data) {
            let mut unit = vec![0, 0, 1];
            unit.extend_from_slice(nal);
            if let Err(e) = dec.decode(&unit) {
                if res.is_ok() {
                    res = Err(e);
                }
            }
            collect(&mut dec);
        }
        dec.flush();
        collect(&mut dec);
        let el = t.elapsed();
        let want: Vec<&str> = oracle.entries.iter().map(|e| e.md5.as_str()).collect();
        let first_bad = (0..want.len().max(got.len()))
            .find(|&i| want.get(i).copied() != got.get(i).map(|s| s.as_str()));
        println!(
            "{path}: {res:?} frames {}/{} first mismatch {:?} ({:.1} ms)",
            got.len(),
            want.len(),
            first_bad,
            el.as_secs_f64() * 1000.0
        );
    }
}
