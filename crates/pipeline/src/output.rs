//! Output formats and atomic output files.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use transcode_core::CodecId;

/// A container or elementary stream transcode can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// MP4: progressive with moov first, or fragmented (moof/mdat pairs).
    Mp4 { fragmented: bool },
    /// MPEG transport stream, 188-byte packets.
    MpegTs,
    /// BDAV/M2TS, 192-byte packets with a 4-byte arrival timestamp.
    M2ts,
    /// Annex-B H.264.
    H264,
    /// Annex-B H.265.
    H265,
    /// AAC in ADTS frames.
    Aac,
    /// MPEG audio frames (MP2 or MP3, as the input has them).
    MpegAudio,
    /// MPEG-1/2 video elementary stream.
    MpegVideo,
    /// YUV4MPEG2: uncompressed video.
    Y4m,
}

impl OutputFormat {
    /// The format for a file extension (without the dot), case-insensitive.
    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::from_name(ext)
    }

    /// The format for a name given with `--format` or as an extension.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "mp4" | "m4v" | "m4a" | "mov" => OutputFormat::Mp4 { fragmented: false },
            "fmp4" => OutputFormat::Mp4 { fragmented: true },
            "ts" | "mpegts" | "mts" => OutputFormat::MpegTs,
            "m2ts" => OutputFormat::M2ts,
            "h264" | "264" | "avc" => OutputFormat::H264,
            "h265" | "265" | "hevc" => OutputFormat::H265,
            "aac" | "adts" => OutputFormat::Aac,
            "mp2" | "mp3" | "mpa" => OutputFormat::MpegAudio,
            "m2v" | "m1v" | "mpv" => OutputFormat::MpegVideo,
            "y4m" | "yuv4mpegpipe" => OutputFormat::Y4m,
            _ => return None,
        })
    }

    /// The format for an output path, from its extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        path.extension().and_then(|e| e.to_str()).and_then(Self::from_extension)
    }

    /// The names accepted by [`OutputFormat::from_name`], for help and error messages.
    pub const NAMES: &'static str = "mp4, mov, m4v, fmp4, ts, m2ts, h264, h265, aac, mp2, mp3, m2v, y4m";

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Mp4 { fragmented: false } => "mp4",
            OutputFormat::Mp4 { fragmented: true } => "fragmented mp4",
            OutputFormat::MpegTs => "mpegts",
            OutputFormat::M2ts => "m2ts",
            OutputFormat::H264 => "h264",
            OutputFormat::H265 => "h265",
            OutputFormat::Aac => "aac",
            OutputFormat::MpegAudio => "mpeg audio",
            OutputFormat::MpegVideo => "mpeg video",
            OutputFormat::Y4m => "y4m",
        }
    }

    /// Whether this format holds a single elementary stream.
    pub fn is_elementary(self) -> bool {
        !matches!(self, OutputFormat::Mp4 { .. } | OutputFormat::MpegTs | OutputFormat::M2ts)
    }

    /// Whether a stream of `codec` can be copied into this format.
    pub fn can_hold(self, codec: CodecId) -> bool {
        match self {
            OutputFormat::Mp4 { .. } => {
                matches!(
                    codec,
                    CodecId::H264 | CodecId::H265 | CodecId::Aac | CodecId::Mp2 | CodecId::Mp3 | CodecId::Mpeg1Video | CodecId::Mpeg2Video
                )
            }
            OutputFormat::MpegTs | OutputFormat::M2ts => !matches!(codec, CodecId::RawVideo),
            OutputFormat::H264 => codec == CodecId::H264,
            OutputFormat::H265 => codec == CodecId::H265,
            OutputFormat::Aac => codec == CodecId::Aac,
            OutputFormat::MpegAudio => matches!(codec, CodecId::Mp2 | CodecId::Mp3),
            OutputFormat::MpegVideo => matches!(codec, CodecId::Mpeg1Video | CodecId::Mpeg2Video),
            OutputFormat::Y4m => codec == CodecId::RawVideo,
        }
    }
}

/// An output that appears under its final name only when the job succeeded.
///
/// A regular file is written as `.<name>.<pid>.part` beside the destination and renamed
/// by [`AtomicOutput::commit`]; dropping an uncommitted `AtomicOutput` removes the
/// temporary file. Standard output (`-`) and existing non-regular files (a FIFO,
/// `/dev/null`) are written directly.
#[derive(Debug)]
pub struct AtomicOutput {
    tmp: Option<PathBuf>,
    dest: PathBuf,
    committed: bool,
}

impl AtomicOutput {
    /// Creates the temporary file for `dest` and returns it with a writer into it.
    pub fn create(dest: &Path) -> io::Result<(AtomicOutput, Box<dyn Write + Send>)> {
        if dest.as_os_str() == "-" {
            let out = AtomicOutput { tmp: None, dest: dest.to_path_buf(), committed: false };
            return Ok((out, Box::new(io::BufWriter::with_capacity(64 << 10, io::stdout()))));
        }
        if let Ok(meta) = fs::metadata(dest) {
            if meta.is_dir() {
                return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory"));
            }
            if !meta.is_file() {
                let file = OpenOptions::new().write(true).open(dest)?;
                let out = AtomicOutput { tmp: None, dest: dest.to_path_buf(), committed: false };
                return Ok((out, Box::new(io::BufWriter::with_capacity(64 << 10, file))));
            }
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let tmp = dir.join(format!(".{}.{}.part", name.to_string_lossy(), std::process::id()));
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let out = AtomicOutput { tmp: Some(tmp), dest: dest.to_path_buf(), committed: false };
        Ok((out, Box::new(io::BufWriter::with_capacity(64 << 10, file))))
    }

    /// The temporary path being written, if any.
    pub fn temp_path(&self) -> Option<&Path> {
        self.tmp.as_deref()
    }

    /// Moves the finished file into place. The writer must have been flushed and dropped.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(tmp) = &self.tmp {
            fs::rename(tmp, &self.dest)?;
        }
        self.committed = true;
        Ok(())
    }

    /// Removes the temporary file now (also done on drop).
    pub fn abort(mut self) {
        self.cleanup();
    }

    fn cleanup(&mut self) {
        if !self.committed {
            if let Some(tmp) = self.tmp.take() {
                let _ = fs::remove_file(tmp);
            }
        }
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        self.cleanup();
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(OutputFormat::from_path(Path::new("a/b.MP4")), Some(OutputFormat::Mp4 { fragmented: false }));
        assert_eq!(OutputFormat::from_name("m2ts"), Some(OutputFormat::M2ts));
        assert_eq!(OutputFormat::from_name("webm"), None);
        assert!(OutputFormat::Mp4 { fragmented: false }.can_hold(CodecId::H264));
        assert!(!OutputFormat::Aac.can_hold(CodecId::H264));
    }

    #[test]
    fn uncommitted_output_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("atomic-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("out.ts");
        {
            let (out, mut w) = AtomicOutput::create(&dest).unwrap();
            w.write_all(b"partial").unwrap();
            drop(w);
            assert!(out.temp_path().unwrap().exists());
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let (out, mut w) = AtomicOutput::create(&dest).unwrap();
        w.write_all(b"done").unwrap();
        w.flush().unwrap();
        drop(w);
        out.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"done");
        fs::remove_dir_all(&dir).unwrap();
    }
}
