//! The input: a memory map of a file, or a bounded read buffer over a pipe.
//!
//! This is the only module in transcode that maps files.
//!
//! ```text
//!  Input::Mapped                      Input::Stream (pipes, stdin, unmappable files)
//!  ┌──────────────── file ─────────┐  ┌── reader ──► buf [base .. base+len) ──►
//!  │ Bytes over the Mmap (shared)  │  │   grows to at most the largest request,
//!  └───────────────────────────────┘  │   bytes before `release(pos)` are dropped
//!  get(pos, n) = &map[pos..pos+n]     │   get(pos, n) reads until it has them
//!  (pages mapped ahead by a helper    │
//!   thread for large files)           │
//! ```

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::Mmap;
use transcode_core::{Error, MemoryConfig, Result};

/// Where a demuxer's bytes come from.
pub struct Input {
    name: String,
    kind: Kind,
    /// Maps the file's pages ahead of the reader (large mapped files only); shared with
    /// the clones, so it follows whichever read last (the plan pass of a progressive MP4
    /// reads a clone while the original waits for the write pass).
    prefetch: Option<Arc<Prefetch>>,
}

/// A helper thread that asks the kernel to map (and, for a file not in the page cache,
/// read) the pages of a mapped input a little ahead of where the demuxer reads, with
/// `MADV_POPULATE_READ`, so that the demuxer's thread does not take the page faults.
///
/// ```text
///  file map:  [ read ........ | populated, not yet read | not yet mapped ........ ]
///                             ^ reader (Input::get)     ^ helper, at most AHEAD past the reader
/// ```
///
/// On the 2-core benchmark machine (1 GB TS in the page cache, TS → MP4) this took the
/// demuxing thread from 16 000 page faults to 1 000 and its plan pass from 0.31 to
/// 0.21 s of CPU (median of 4), for 0.1 s on the otherwise idle second core. It stays
/// at most [`Prefetch::AHEAD`] bytes ahead of the last read, so that it does not fill
/// the page cache far ahead of use (a reader that jumps ahead is followed, not caught
/// up with), and it stops when the input and its clones are dropped. Failing advice (a
/// kernel before 5.14) just ends the thread.
struct Prefetch {
    /// The offset a reader last asked for.
    reader: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Prefetch {
    /// Bytes asked for at once.
    const STEP: usize = 8 << 20;
    /// How far ahead of the reader the helper goes.
    const AHEAD: u64 = 64 << 20;
    /// Files smaller than this are not worth a thread.
    const MIN_LEN: usize = 64 << 20;

    #[cfg(target_os = "linux")]
    fn start(map: &Arc<Mmap>) -> Option<Arc<Prefetch>> {
        if map.len() < Self::MIN_LEN {
            return None;
        }
        let reader = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (map, r, st) = (Arc::clone(map), Arc::clone(&reader), Arc::clone(&stop));
        let spawned = std::thread::Builder::new().name("transcode-prefetch".into()).spawn(move || {
            let mut done = 0usize;
            while done < map.len() && !st.load(Ordering::Relaxed) {
                let at = r.load(Ordering::Relaxed);
                if done as u64 >= at.saturating_add(Self::AHEAD) {
                    std::thread::park_timeout(std::time::Duration::from_millis(2));
                    continue;
                }
                // A reader that jumped ahead (an index at the end of the file) is
                // followed from where it is, not prefetched up to.
                done = done.max(usize::try_from(at).unwrap_or(usize::MAX).min(map.len()));
                let n = Self::STEP.min(map.len() - done);
                if n == 0 {
                    break;
                }
                if let Err(e) = map.advise_range(memmap2::Advice::PopulateRead, done, n) {
                    tracing::debug!("stopping map prefetch: {e}");
                    break;
                }
                done += n;
            }
        });
        spawned.ok().map(|_| Arc::new(Prefetch { reader, stop }))
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The map, shared by the bytes handed out and the prefetch thread.
struct SharedMap(Arc<Mmap>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

enum Kind {
    Mapped(Bytes),
    Stream(StreamBuf),
}

struct StreamBuf {
    reader: Box<dyn Read + Send>,
    /// Buffered bytes; `buf[0]` is at input offset `base`.
    buf: Vec<u8>,
    base: u64,
    /// Bytes before this offset may be discarded.
    released: u64,
    eof: bool,
    /// Preferred read size.
    chunk: usize,
    /// The most the buffer may hold.
    limit: usize,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Mapped(b) => format!("mapped, {} bytes", b.len()),
            Kind::Stream(s) => format!("stream, {} bytes buffered at {}", s.buf.len(), s.base),
        };
        write!(f, "Input({}: {kind})", self.name)
    }
}

impl Input {
    /// Opens `path` read-only. `-` is standard input. A regular file is memory-mapped;
    /// anything that cannot be mapped (a pipe, a character device, an empty file) is read
    /// through a bounded buffer instead, which is logged.
    ///
    /// # Safety of the mapping
    ///
    /// A mapped file must not be truncated or rewritten by another process while
    /// transcode reads it: the kernel may then deliver SIGBUS. Recordings that are still
    /// being written should be read through a pipe (`cat rec.ts | transcode convert - ...`).
    pub fn open(path: &Path, config: &MemoryConfig) -> Result<Input> {
        let name = path.display().to_string();
        if name == "-" {
            return Ok(Input::from_reader(Box::new(std::io::stdin()), "stdin", config));
        }
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(Error::Io(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory")));
        }
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and private to this process. The documented
            // contract above (the file is not truncated or modified while mapped) is the
            // caller's; violating it can raise SIGBUS but cannot corrupt our memory,
            // since we never create references that outlive the map (`Bytes` owns it).
            match unsafe { Mmap::map(&file) } {
                Ok(map) => {
                    #[cfg(unix)]
                    let _ = map.advise(memmap2::Advice::Sequential);
                    let map = Arc::new(map);
                    #[cfg(target_os = "linux")]
                    let prefetch = Prefetch::start(&map);
                    #[cfg(not(target_os = "linux"))]
                    let prefetch = None;
                    return Ok(Input { name, kind: Kind::Mapped(Bytes::from_owner(SharedMap(map))), prefetch });
                }
                Err(e) => tracing::info!("cannot map {name} ({e}); reading it instead"),
            }
        }
        Ok(Input::from_reader(Box::new(file), &name, config))
    }

    /// An input read from `reader` through a bounded buffer.
    pub fn from_reader(reader: Box<dyn Read + Send>, name: &str, config: &MemoryConfig) -> Input {
        let chunk = config.read_buffer_size.max(4096);
        let limit = (config.max_packet_size as usize).max(chunk).saturating_mul(2);
        Input {
            prefetch: None,
            name: name.to_string(),
            kind: Kind::Stream(StreamBuf {
                reader,
                buf: Vec::new(),
                base: 0,
                released: 0,
                eof: false,
                chunk,
                limit,
            }),
        }
    }

    /// An input over bytes already in memory (tests, fuzzing, embedding).
    pub fn from_bytes(bytes: impl Into<Bytes>, name: &str) -> Input {
        Input { name: name.to_string(), kind: Kind::Mapped(bytes.into()), prefetch: None }
    }

    /// A second, independent reader of the same mapped bytes (for a second pass), without
    /// copying; `None` for streaming inputs, which can be read only once.
    pub fn try_clone(&self) -> Option<Input> {
        match &self.kind {
            Kind::Mapped(b) => {
                Some(Input { name: self.name.clone(), kind: Kind::Mapped(b.clone()), prefetch: self.prefetch.clone() })
            }
            Kind::Stream(_) => None,
        }
    }

    /// The name given at opening, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Total length, when known (mapped inputs).
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Mapped(b) => Some(b.len() as u64),
            Kind::Stream(_) => None,
        }
    }

    /// Whether the input is known to be empty (a mapped input of length 0; a stream is
    /// not known to be empty until it has been read).
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether any offset can be read at any time (true for mapped inputs).
    pub fn is_seekable(&self) -> bool {
        matches!(self.kind, Kind::Mapped(_))
    }

    /// The most bytes one [`Input::get`] may ask for past the last release point:
    /// unbounded for a mapped input, the read-ahead limit of a stream.
    pub fn read_ahead_limit(&self) -> usize {
        match &self.kind {
            Kind::Mapped(_) => usize::MAX,
            Kind::Stream(s) => s.limit,
        }
    }

    /// The whole mapped input as shared bytes, for zero-copy owned packets.
    pub fn shared(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Mapped(b) => Some(b),
            Kind::Stream(_) => None,
        }
    }

    /// Returns the bytes at `[pos, pos + len)`, or fewer if the input ends first (an
    /// empty slice at or past the end).
    ///
    /// On a streaming input `pos` must not be before the last [`Input::release`] point,
    /// and `len` must fit the buffer limit (twice `max_packet_size`).
    pub fn get(&mut self, pos: u64, len: usize) -> Result<&[u8]> {
        match &mut self.kind {
            Kind::Mapped(b) => {
                if let Some(p) = &self.prefetch {
                    p.reader.store(pos, Ordering::Relaxed);
                }
                let total = b.len() as u64;
                if pos >= total {
                    return Ok(&[]);
                }
                let start = pos as usize;
                let end = (pos.saturating_add(len as u64)).min(total) as usize;
                Ok(&b[start..end])
            }
            Kind::Stream(s) => s.get(pos, len),
        }
    }

    /// Declares that bytes before `pos` will not be asked for again, so a streaming
    /// input may drop them. A no-op for mapped inputs.
    pub fn release(&mut self, pos: u64) {
        if let Kind::Stream(s) = &mut self.kind {
            s.released = s.released.max(pos);
        }
    }
}

impl StreamBuf {
    fn get(&mut self, pos: u64, len: usize) -> Result<&[u8]> {
        if pos < self.base {
            return Err(Error::unsupported(format!(
                "this input needs to go back to byte {pos} but it is a pipe; give it as a file"
            )));
        }
        let want_end = pos.saturating_add(len as u64);
        if want_end > self.base + self.buf.len() as u64 && !self.eof {
            // Drop what is released before reading more, so the buffer stays bounded.
            let drop_to = self.released.min(pos);
            if drop_to > self.base {
                let n = ((drop_to - self.base) as usize).min(self.buf.len());
                self.buf.drain(..n);
                self.base += n as u64;
            }
            let need = (want_end - self.base) as usize;
            if need > self.limit {
                return Err(Error::LimitExceeded { what: "pipe read-ahead", requested: need as u64, limit: self.limit as u64 });
            }
            let target = need.max(self.buf.len() + self.chunk).min(self.limit);
            while self.buf.len() < need && !self.eof {
                let old = self.buf.len();
                self.buf.resize(target.max(need), 0);
                let mut got = 0;
                let mut failed = None;
                while old + got < self.buf.len() {
                    match self.reader.read(&mut self.buf[old + got..]) {
                        Ok(0) => {
                            self.eof = true;
                            break;
                        }
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                self.buf.truncate(old + got);
                if let Some(e) = failed {
                    return Err(e.into());
                }
            }
        }
        let start = ((pos - self.base) as usize).min(self.buf.len());
        let end = ((want_end - self.base) as usize).min(self.buf.len());
        Ok(&self.buf[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_input_reads_forward_and_stays_bounded() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let config = MemoryConfig { read_buffer_size: 4096, max_packet_size: 8192, ..Default::default() };
        let mut input = Input::from_reader(Box::new(std::io::Cursor::new(data.clone())), "pipe", &config);
        let mut pos = 0u64;
        while pos < 100_000 {
            let got = input.get(pos, 1000).unwrap().to_vec();
            assert_eq!(&got[..], &data[pos as usize..(pos as usize + 1000).min(100_000)]);
            input.release(pos + 1000);
            pos += 1000;
        }
        assert!(input.get(100_000, 10).unwrap().is_empty());
        assert!(matches!(input.get(0, 10), Err(Error::Unsupported(_))));
        if let Kind::Stream(s) = &input.kind {
            assert!(s.buf.capacity() <= 16384 + 4096);
        }
        let mut input = Input::from_reader(Box::new(std::io::Cursor::new(data)), "pipe", &config);
        assert!(matches!(input.get(0, 20_000), Err(Error::LimitExceeded { .. })));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn large_mapped_input_reads_the_same_with_prefetch() {
        use std::io::{Seek, SeekFrom, Write};
        let path = std::env::temp_dir().join(format!("transcode-prefetch-{}.bin", std::process::id()));
        let len = Prefetch::MIN_LEN as u64 + (8 << 20);
        {
            // Sparse but for a marker near the end, so the test stays cheap.
            let mut f = File::create(&path).unwrap();
            f.set_len(len).unwrap();
            f.seek(SeekFrom::Start(len - 100)).unwrap();
            f.write_all(b"marker").unwrap();
        }
        let mut input = Input::open(&path, &MemoryConfig::default()).unwrap();
        assert!(input.prefetch.is_some());
        let mut pos = 0;
        while pos < len {
            let got = input.get(pos, 1 << 20).unwrap();
            assert_eq!(got.len() as u64, (len - pos).min(1 << 20));
            pos += got.len() as u64;
        }
        assert_eq!(input.get(len - 100, 6).unwrap(), b"marker");
        // A clone (the plan pass of a progressive MP4 reads one) drives the same helper.
        let clone = input.try_clone().unwrap();
        assert!(Arc::ptr_eq(clone.prefetch.as_ref().unwrap(), input.prefetch.as_ref().unwrap()));
        drop(input);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn mapped_input_clamps_at_end() {
        let mut input = Input::from_bytes(vec![1u8, 2, 3], "mem");
        assert_eq!(input.get(1, 10).unwrap(), &[2, 3]);
        assert!(input.get(5, 1).unwrap().is_empty());
        assert_eq!(input.len(), Some(3));
    }
}
