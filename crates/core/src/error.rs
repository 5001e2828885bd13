//! The error type shared by the library crates.

use std::fmt;

/// Errors from parsing, muxing and budgeting.
///
/// Messages are lowercase, without a trailing period, and say what was expected.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error while reading or writing.
    Io(std::io::Error),
    /// The data breaks its format's rules. `offset` is the byte position in the input
    /// where the problem was found, when known.
    InvalidData { offset: Option<u64>, reason: String },
    /// Valid data that this build cannot handle (a codec, a profile, a feature).
    Unsupported(String),
    /// A size or count read from the input, or requested by a caller, exceeds a
    /// configured bound. Returned before any allocation is made for it.
    LimitExceeded { what: &'static str, requested: u64, limit: u64 },
    /// The content matches no known container or elementary-stream format.
    UnknownFormat,
}

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidData`] at a known byte offset.
    pub fn invalid_at(offset: u64, reason: impl Into<String>) -> Self {
        Error::InvalidData { offset: Some(offset), reason: reason.into() }
    }

    /// An [`Error::InvalidData`] without a position.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidData { offset: None, reason: reason.into() }
    }

    /// An [`Error::Unsupported`].
    pub fn unsupported(reason: impl Into<String>) -> Self {
        Error::Unsupported(reason.into())
    }

    /// Checks `requested <= limit`, returning [`Error::LimitExceeded`] otherwise.
    pub fn check_limit(what: &'static str, requested: u64, limit: u64) -> Result<()> {
        if requested > limit {
            Err(Error::LimitExceeded { what, requested, limit })
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::InvalidData { offset: Some(o), reason } => write!(f, "invalid data at byte {o}: {reason}"),
            Error::InvalidData { offset: None, reason } => write!(f, "invalid data: {reason}"),
            Error::Unsupported(r) => write!(f, "unsupported: {r}"),
            Error::LimitExceeded { what, requested, limit } => {
                write!(f, "{what} needs {requested} but the limit is {limit}")
            }
            Error::UnknownFormat => write!(f, "not a recognised media format"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_message_names_both_numbers() {
        let e = Error::check_limit("stsz entries", 738_000_000, 1_000_000).unwrap_err();
        assert_eq!(e.to_string(), "stsz entries needs 738000000 but the limit is 1000000");
        assert!(Error::check_limit("x", 5, 5).is_ok());
    }
}
