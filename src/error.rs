//! Library errors. Every error says which kind of failure it is, so the CLI edge can map it to an exit code:
//! bad input (the user can fix it, exit 2) or an internal failure (exit 1).

use std::path::Path;

/// The error type of the synth library.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Something the user gave us is wrong: a path, a file, a flag value, a config entry.
    #[error("{0}")]
    BadInput(String),
    /// An I/O failure on a named path that is not the user's fault (or not provably so). The OS error is part of
    /// the message and deliberately not a `source`: the CLI prints the whole chain, which would repeat it.
    #[error("{context}: {error}")]
    Io { context: String, error: std::io::Error },
    /// A failure inside synth (a bug, or a backend error).
    #[error("{0}")]
    Internal(String),
}

impl SynthError {
    /// Shorthand for a bad-input error.
    pub fn bad_input(msg: impl Into<String>) -> Self {
        SynthError::BadInput(msg.into())
    }

    /// Shorthand for an internal error.
    pub fn internal(msg: impl Into<String>) -> Self {
        SynthError::Internal(msg.into())
    }

    /// Wraps an I/O error with the path it happened on. A missing file or a permission problem is the
    /// user's to fix, so those count as bad input.
    pub fn io(path: &Path, action: &str, source: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match source.kind() {
            NotFound | PermissionDenied | InvalidData | UnexpectedEof | IsADirectory | NotADirectory
            | AlreadyExists | ReadOnlyFilesystem | InvalidFilename => {
                SynthError::BadInput(format!("{action} {}: {source}", path.display()))
            }
            _ => SynthError::Io {
                context: format!("{action} {}", path.display()),
                error: source,
            },
        }
    }

    /// Whether this error is the user's to fix (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, SynthError::BadInput(_))
    }
}

/// Result alias for the library.
pub type Result<T> = std::result::Result<T, SynthError>;

/// Adds the path to an I/O result, the way every file access in synth reports failures.
pub trait IoContext<T> {
    /// `action` reads like "reading" or "writing"; the path is appended.
    fn at(self, path: &Path, action: &str) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path, action: &str) -> Result<T> {
        self.map_err(|e| SynthError::io(path, action, e))
    }
}
