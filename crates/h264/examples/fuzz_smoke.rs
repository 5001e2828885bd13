//! Corrupts the fixtures at random (deterministic seeds) and reports any panic:
//! `cargo run --release --example fuzz_smoke -- ROUNDS`.

use transcode_h264::Decoder;

fn main() {
    let rounds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/h264");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "h264"))
        .collect();
    files.sort();
    std::panic::set_hook(Box::new(|_| {}));
    let mut panics = 0;
    for (fi, f) in files.iter().enumerate() {
        let data = std::fs::read(f).unwrap();
        for round in 0..rounds {
            let mut seed = (fi as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ round.wrapping_mul(0xd1b5_4a32_d192_ed03)
                | 1;
            let mut rand = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut d = data.clone();
            let flips = 1 + (rand() % 16) as usize;
            for _ in 0..flips {
                let i = (rand() as usize) % d.len();
                match rand() % 3 {
                    0 => d[i] ^= 1 << (rand() % 8),
                    1 => d[i] = rand() as u8,
                    _ => d[i] = 0,
                }
            }
            let r = std::panic::catch_unwind(|| {
                let mut dec = Decoder::new(&transcode_core::MemoryConfig::default());
                let _ = dec.decode_with(&d, |_| {});
                dec.flush();
                while dec.next_frame().is_some() {}
            });
            if r.is_err() {
                panics += 1;
                let _ = std::panic::take_hook();
                let name = format!("/tmp/h264_panic_{fi}_{round}.h264");
                std::fs::write(&name, &d).unwrap();
                println!("panic: {} round {round} -> {name}", f.display());
                std::panic::set_hook(Box::new(|_| {}));
            }
        }
    }
    println!("{panics} panics");
}
