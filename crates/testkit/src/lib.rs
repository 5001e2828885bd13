//! Test support: where the fixtures are, and readers for the FFmpeg oracle tables
//! committed beside them (`framemd5` files). Used only by tests, benches and xtask.
#![forbid(unsafe_code)]

use md5::{Digest, Md5};
use std::path::{Path, PathBuf};

/// The workspace's `testdata/` folder.
pub fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A path under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    testdata_dir().join(rel)
}

/// Every media fixture (files beside which a `.packets` oracle exists), as paths
/// relative to `testdata/`, sorted.
pub fn fixtures() -> Vec<String> {
    let mut out = Vec::new();
    let root = testdata_dir();
    for dir in std::fs::read_dir(&root).expect("testdata/ exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.with_file_name(format!("{name}.packets")).exists() {
                let rel = p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Lowercase hex MD5 of `data`, as FFmpeg's framemd5 prints it.
pub fn md5_hex(data: &[u8]) -> String {
    let d = Md5::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// One line of a framemd5 table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleEntry {
    pub stream: usize,
    pub dts: Option<i64>,
    pub pts: Option<i64>,
    pub duration: i64,
    pub size: usize,
    pub md5: String,
}

/// A parsed framemd5 file: per-stream time bases and the entries in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Oracle {
    /// `(num, den)` per stream, from the `#tb N: num/den` lines.
    pub time_bases: Vec<(u32, u32)>,
    /// `#codec_id N: name` per stream.
    pub codecs: Vec<String>,
    pub entries: Vec<OracleEntry>,
}

impl Oracle {
    /// Entries of one stream, in order.
    pub fn stream(&self, index: usize) -> Vec<&OracleEntry> {
        self.entries.iter().filter(|e| e.stream == index).collect()
    }
}

/// Reads a framemd5 file. Panics with the path on a malformed file: the tables are
/// committed and a malformed one is a bug in the test data.
pub fn read_framemd5(path: &Path) -> Oracle {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_framemd5(&text)
}

/// Parses framemd5 text.
pub fn parse_framemd5(text: &str) -> Oracle {
    let mut o = Oracle::default();
    let ts = |s: &str| -> Option<i64> {
        let v: i64 = s.trim().parse().expect("timestamp");
        (v != i64::MIN).then_some(v)
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#tb ") {
            let (idx, tb) = rest.split_once(':').unwrap();
            let idx: usize = idx.trim().parse().unwrap();
            let (n, d) = tb.trim().split_once('/').unwrap();
            if o.time_bases.len() <= idx {
                o.time_bases.resize(idx + 1, (0, 0));
            }
            o.time_bases[idx] = (n.parse().unwrap(), d.parse().unwrap());
        } else if let Some(rest) = line.strip_prefix("#codec_id ") {
            let (idx, name) = rest.split_once(':').unwrap();
            let idx: usize = idx.trim().parse().unwrap();
            if o.codecs.len() <= idx {
                o.codecs.resize(idx + 1, String::new());
            }
            o.codecs[idx] = name.trim().to_string();
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let f: Vec<&str> = line.split(',').collect();
            o.entries.push(OracleEntry {
                stream: f[0].trim().parse().unwrap(),
                dts: ts(f[1]),
                pts: ts(f[2]),
                duration: f[3].trim().parse().unwrap(),
                size: f[4].trim().parse().unwrap(),
                md5: f[5].trim().to_string(),
            });
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_committed_table() {
        let o = read_framemd5(&testdata("ts/h264_aac.ts.packets"));
        assert_eq!(o.time_bases, vec![(1, 90000), (1, 90000)]);
        assert_eq!(o.codecs, vec!["h264", "aac"]);
        assert_eq!(o.entries[0].stream, 0);
        assert_eq!(o.entries[0].dts, Some(126000));
        assert_eq!(o.entries[0].size, 4575);
        assert_eq!(o.entries[0].md5, "1f0f9128a95054cfd7d89876e950c519");
        assert!(fixtures().contains(&"ts/h264_aac.ts".to_string()));
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
