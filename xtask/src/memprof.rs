//! `cargo xtask memprof [--check | --bless]`: runs the heap-profiling scenarios of
//! `crates/memprof` under dhat, one process each, writes dhat's JSON to
//! `target/memprof/<scenario>.json`, prints a summary table, and with `--check` fails
//! when a scenario's peak bytes or total blocks grew by more than 10% over the committed
//! baseline (`xtask/memprof-baseline.txt`); `--bless` rewrites the baseline.
//!
//! dhat counts are deterministic for a given binary and input, unlike RSS or time.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::util::{output, project_root, run};

/// Heap figures of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub peak_bytes: u64,
    pub peak_blocks: u64,
    pub total_blocks: u64,
    pub total_bytes: u64,
}

/// Allowed growth before `--check` fails, in percent.
pub const TOLERANCE_PERCENT: u64 = 10;

/// How far apart the peaks of a job's short and long runs (`NAME-10s`, `NAME-60s`) may
/// be. Their pools are filled up front, so the only heap that depends on how the
/// threads were scheduled is the `bytes` crate's header for each pooled packet in
/// flight (40 bytes each): 16 KiB is 400 of them. Anything that grows with the input
/// (a table, a queue that is not bounded) is far larger.
pub const SAME_PEAK_TOLERANCE_BYTES: u64 = 16 << 10;

/// Checks that every `NAME-10s` scenario peaks where its `NAME-60s` does. Returns one
/// line per pair and whether all agree (a pair with one side missing fails).
pub fn same_peaks(now: &BTreeMap<String, Figures>) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    for (name, short) in now.iter().filter(|(k, _)| k.ends_with("-10s")) {
        let long_name = format!("{}-60s", &name[..name.len() - 4]);
        let Some(long) = now.get(&long_name) else {
            ok = false;
            let _ = writeln!(out, "{name}: no {long_name} to compare with");
            continue;
        };
        let diff = short.peak_bytes.abs_diff(long.peak_bytes);
        let same = diff <= SAME_PEAK_TOLERANCE_BYTES;
        ok &= same;
        let _ = writeln!(
            out,
            "{name} vs {long_name}: peak {} vs {} bytes ({diff} apart, at most {SAME_PEAK_TOLERANCE_BYTES}): {}",
            short.peak_bytes,
            long.peak_bytes,
            if same { "same" } else { "DIFFERENT: the peak depends on the input's length" }
        );
    }
    (out, ok)
}

pub fn parse(text: &str) -> Result<BTreeMap<String, Figures>> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 5 {
            bail!("malformed memprof line {line:?} (expected: scenario peak_bytes peak_blocks total_blocks total_bytes)");
        }
        let n = |i: usize| -> Result<u64> { f[i].parse().with_context(|| format!("number in {line:?}")) };
        out.insert(f[0].to_string(), Figures { peak_bytes: n(1)?, peak_blocks: n(2)?, total_blocks: n(3)?, total_bytes: n(4)? });
    }
    Ok(out)
}

fn grew(new: u64, old: u64) -> bool {
    new * 100 > old * (100 + TOLERANCE_PERCENT) && new > old
}

/// Compares measured figures with the baseline. Returns the table of differences and
/// whether every scenario is within tolerance (a scenario missing from the baseline fails:
/// bless it deliberately).
pub fn compare(baseline: &BTreeMap<String, Figures>, now: &BTreeMap<String, Figures>) -> (String, bool) {
    let mut table = String::from("| scenario | peak bytes (base → now) | total blocks (base → now) | verdict |\n|---|---:|---:|---|\n");
    let mut ok = true;
    for (name, n) in now {
        let verdict = match baseline.get(name) {
            None => {
                ok = false;
                let _ = writeln!(table, "| {name} | – → {} | – → {} | not in baseline |", n.peak_bytes, n.total_blocks);
                continue;
            }
            Some(b) => {
                let mut bad = Vec::new();
                if grew(n.peak_bytes, b.peak_bytes) {
                    bad.push("peak bytes");
                }
                if grew(n.total_blocks, b.total_blocks) {
                    bad.push("total blocks");
                }
                let _ = write!(table, "| {name} | {} → {} | {} → {} | ", b.peak_bytes, n.peak_bytes, b.total_blocks, n.total_blocks);
                if bad.is_empty() {
                    "ok".to_string()
                } else {
                    ok = false;
                    format!("REGRESSION: {} grew more than {TOLERANCE_PERCENT}%", bad.join(" and "))
                }
            }
        };
        let _ = writeln!(table, "{verdict} |");
    }
    (table, ok)
}

fn format_baseline(now: &BTreeMap<String, Figures>) -> String {
    let mut s = String::from("# cargo xtask memprof baseline: scenario peak_bytes peak_blocks total_blocks total_bytes\n# Rewrite with `cargo xtask memprof --bless` after an intended change.\n");
    for (k, f) in now {
        let _ = writeln!(s, "{k} {} {} {} {}", f.peak_bytes, f.peak_blocks, f.total_blocks, f.total_bytes);
    }
    s
}

pub fn run_memprof(args: &[String]) -> Result<()> {
    let check = args.iter().any(|a| a == "--check");
    let bless = args.iter().any(|a| a == "--bless");
    let root = project_root();
    let out_dir = root.join("target/memprof");
    std::fs::create_dir_all(&out_dir)?;
    run("cargo", &["build", "--release", "--quiet", "-p", "transcode-memprof"])?;
    let bin = crate::util::target_dir().join("release/transcode-memprof");
    let scenarios = output(bin.to_str().unwrap(), &["--list"]).unwrap_or_default();
    let mut now = BTreeMap::new();
    for scenario in scenarios.split_whitespace() {
        let json = out_dir.join(format!("{scenario}.json"));
        let line = output(bin.to_str().unwrap(), &[scenario, json.to_str().unwrap()])?;
        now.extend(parse(&line)?);
    }
    if now.is_empty() {
        bail!("no memprof scenarios ran");
    }
    let mut table = String::from("| scenario | peak bytes | peak blocks | total blocks | total bytes |\n|---|---:|---:|---:|---:|\n");
    for (k, f) in &now {
        let _ = writeln!(table, "| {k} | {} | {} | {} | {} |", f.peak_bytes, f.peak_blocks, f.total_blocks, f.total_bytes);
    }
    print!("{table}");
    let baseline_path = root.join("xtask/memprof-baseline.txt");
    if bless {
        std::fs::write(&baseline_path, format_baseline(&now))?;
        crate::util::replace_section(&root.join("docs/memory.md"), "memprof", &table)?;
        println!("wrote {} and the table in docs/memory.md", baseline_path.display());
    }
    let (pairs, same) = same_peaks(&now);
    print!("{pairs}");
    if check && !same {
        bail!("a job's peak heap depends on its input's length (see the lines above)");
    }
    if check {
        let baseline = parse(&std::fs::read_to_string(&baseline_path).context("read xtask/memprof-baseline.txt (create it with --bless)")?)?;
        let (table, ok) = compare(&baseline, &now);
        println!("\n{table}");
        if !ok {
            bail!("heap regression against xtask/memprof-baseline.txt (see the table above; --bless if intended)");
        }
        println!("memprof: all scenarios within {TOLERANCE_PERCENT}% of the baseline");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figs(peak: u64, blocks: u64) -> Figures {
        Figures { peak_bytes: peak, peak_blocks: 10, total_blocks: blocks, total_bytes: 1000 }
    }

    #[test]
    fn check_fails_on_a_deliberate_regression() {
        let base: BTreeMap<_, _> = [("remux".to_string(), figs(1_000_000, 500))].into();
        let same: BTreeMap<_, _> = [("remux".to_string(), figs(1_050_000, 540))].into();
        assert!(compare(&base, &same).1, "5% and 8% growth are within tolerance");
        let fatter: BTreeMap<_, _> = [("remux".to_string(), figs(1_200_000, 500))].into();
        let (table, ok) = compare(&base, &fatter);
        assert!(!ok);
        assert!(table.contains("REGRESSION: peak bytes"), "{table}");
        let chattier: BTreeMap<_, _> = [("remux".to_string(), figs(1_000_000, 600))].into();
        assert!(!compare(&base, &chattier).1);
        let unknown: BTreeMap<_, _> = [("new".to_string(), figs(1, 1))].into();
        assert!(!compare(&base, &unknown).1);
        let better: BTreeMap<_, _> = [("remux".to_string(), figs(10, 1))].into();
        assert!(compare(&base, &better).1);
    }

    #[test]
    fn short_and_long_runs_must_peak_alike() {
        let run = |peak| Figures { peak_bytes: peak, peak_blocks: 1, total_blocks: 1, total_bytes: 1 };
        let same: BTreeMap<_, _> =
            [("t-10s".to_string(), run(31_265_121)), ("t-60s".to_string(), run(31_265_241)), ("remux".to_string(), run(5))].into();
        assert!(same_peaks(&same).1);
        let growing: BTreeMap<_, _> = [("t-10s".to_string(), run(31_000_000)), ("t-60s".to_string(), run(31_100_000))].into();
        let (text, ok) = same_peaks(&growing);
        assert!(!ok && text.contains("DIFFERENT"), "{text}");
        let alone: BTreeMap<_, _> = [("t-10s".to_string(), run(1))].into();
        assert!(!same_peaks(&alone).1);
    }

    #[test]
    fn baseline_round_trips() {
        let now: BTreeMap<_, _> = [("a".to_string(), figs(5, 6)), ("b".to_string(), figs(7, 8))].into();
        assert_eq!(parse(&format_baseline(&now)).unwrap(), now);
        assert!(parse("a 1 2 3").is_err());
    }
}
