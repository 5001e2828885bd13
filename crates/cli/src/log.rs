//! Logging. Without `-v` (or `RUST_LOG`), warnings are held back until the outcome of
//! the run is known: a failed run prints exactly one line on stderr, its error (which
//! says briefly what the warnings that explain it said), and a successful run prints
//! the warnings it gathered when it is done. With `-v` everything is printed as it
//! happens.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// Bytes of warnings held back at most; later ones are only counted.
const MAX_HELD: usize = 64 << 10;

struct Held {
    text: Vec<u8>,
    /// Warnings not kept because `text` was full.
    dropped: u64,
}

static HELD: Mutex<Held> = Mutex::new(Held { text: Vec::new(), dropped: 0 });

fn held() -> std::sync::MutexGuard<'static, Held> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where held-back log lines go: each formatted event is one `write`.
struct HeldWriter;

impl Write for HeldWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut h = held();
        if h.text.len() + buf.len() <= MAX_HELD {
            h.text.extend_from_slice(buf);
        } else {
            h.dropped += 1;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sets up logging for `verbose` (`-v` count).
pub fn init(verbose: u8) {
    let from_env = std::env::var_os("RUST_LOG").is_some();
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal()).with_target(false);
    if verbose > 0 || from_env {
        fmt.with_writer(std::io::stderr).init();
    } else {
        fmt.with_writer(|| HeldWriter).init();
    }
}

/// The run succeeded: prints the warnings held back.
pub fn release() {
    let (text, dropped) = {
        let mut h = held();
        (std::mem::take(&mut h.text), std::mem::take(&mut h.dropped))
    };
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(&text);
    if dropped > 0 {
        let _ = writeln!(err, "transcode: {dropped} more warnings not shown (-v shows them)");
    }
}

/// The run failed: its error line is all that is printed.
pub fn discard() {
    let mut h = held();
    h.text = Vec::new();
    h.dropped = 0;
}
