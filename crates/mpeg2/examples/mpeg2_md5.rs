//! Frame checksums: `cargo run --release -p transcode-mpeg2 --example mpeg2_md5 -- FILE [CHUNK]`
//! prints the MD5 of every decoded frame (planar, without padding) in display order,
//! one per line, as the last column of FFmpeg's framemd5, for comparing a stream
//! outside the fixtures with FFmpeg by hand.

use transcode_mpeg2::Decoder;
use transcode_testkit::md5_hex;

fn main() {
    let path = std::env::args().nth(1).expect("usage: md5 FILE [CHUNK]");
    let chunk: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(1 << 20);
    let data = std::fs::read(&path).expect("read input");
    let mut dec = Decoder::new(&transcode_core::MemoryConfig::default());
    // Optionally the raw planar frames too (`DUMP=file`), to find where two decodes differ.
    let mut dump = std::env::var_os("DUMP").map(|p| std::fs::File::create(p).expect("create dump file"));
    let mut buf = Vec::new();
    let mut print = |f: &transcode_mpeg2::Frame<'_>| {
        buf.clear();
        f.write_planar(&mut buf);
        println!("{}", md5_hex(&buf));
        if let Some(d) = dump.as_mut() {
            std::io::Write::write_all(d, &buf).expect("write dump file");
        }
    };
    for piece in data.chunks(chunk) {
        if let Err(e) = dec.decode_with(piece, &mut print) {
            eprintln!("{path}: {e}");
        }
    }
    dec.flush();
    while let Some(f) = dec.next_frame() {
        print(&f);
    }
    eprintln!("{path}: {} macroblocks concealed, {} pictures dropped", dec.concealed_macroblocks(), dec.dropped_pictures());
}
