//! Writing outputs without losing anything: the one mechanism every command that writes uses.
//!
//! - [`AtomicOutput`] (a file) and [`AtomicDir`] (a dataset folder) are written under a hidden
//!   temporary name in the same folder (`.NAME.PID.partial`) and renamed into place on
//!   `commit`; dropped before that (an error, a panic unwinding), the temporary is removed and
//!   the old output stays as it was.
//! - A process-wide registry of the live temporaries ([`signals`]) lets the SIGINT / SIGTERM /
//!   SIGHUP handler remove them before the process exits, or, for a live recording that
//!   already holds data, rename it into place (its packets are whole, so it is readable).
//! - [`refuse_same_file`] refuses an output that is one of the inputs (same canonical path, or
//!   same device and inode: hard links, symlinks, `/dev/fd/N`).
//! - [`refuse_existing`] is the `--force` rule: an output whose replacement would lose a
//!   recording or a dataset is only replaced when the user says so.
//!
//! It knows nothing about formats: callers hand the file to their writers.

mod atomic;
pub mod signals;

use std::io;
use std::path::{Path, PathBuf};

pub use atomic::{AtomicDir, AtomicOutput};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The I/O error is in the message and deliberately not a `source`: printed with its
    /// chain (`{:#}`), it would appear twice.
    #[error("{path}: {action}: {error}")]
    Io { path: PathBuf, action: &'static str, error: io::Error },
    #[error("{output}: this output is the input {input}; writing it would destroy the input, so choose another output")]
    SameAsInput { output: PathBuf, input: PathBuf },
    #[error("{path}: exists and holds {what}; pass --force to replace it")]
    Exists { path: PathBuf, what: String },
    #[error("{path}: {reason}")]
    Refused { path: PathBuf, reason: String },
}

impl OutputError {
    pub(crate) fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> Self + 'a {
        move |error| Self::Io { path: path.to_path_buf(), action, error }
    }
}

/// Refuses `output` when it is one of `inputs`: the same canonical path, or (on Unix) the same
/// device and inode. An output that does not exist yet is never an input.
pub fn refuse_same_file<P: AsRef<Path>>(inputs: &[P], output: &Path) -> Result<(), OutputError> {
    let Ok(out_meta) = std::fs::metadata(output) else { return Ok(()) };
    let out_canon = std::fs::canonicalize(output).ok();
    for input in inputs {
        let input = input.as_ref();
        let same_path = out_canon.is_some() && std::fs::canonicalize(input).ok() == out_canon;
        if same_path || std::fs::metadata(input).is_ok_and(|m| same_inode(&m, &out_meta)) {
            return Err(OutputError::SameAsInput { output: output.to_path_buf(), input: input.to_path_buf() });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// The `--force` rule: `Err(Exists)` when `path` exists (as anything, a dangling link included)
/// and `force` is off; `what` says what would be lost ("a recording", "a dataset").
pub fn refuse_existing(path: &Path, force: bool, what: &str) -> Result<(), OutputError> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(OutputError::Exists { path: path.to_path_buf(), what: what.to_string() });
    }
    Ok(())
}

/// Writes `bytes` to `path` through an [`AtomicOutput`]: the old file stays whole until the new
/// one is complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    use std::io::Write;
    let mut out = AtomicOutput::create(path)?;
    out.file_mut().write_all(bytes).map_err(OutputError::io(path, "write failed"))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_that_is_the_input_is_refused_by_path_link_and_inode() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.aedat4");
        std::fs::write(&input, b"data").unwrap();
        assert!(matches!(refuse_same_file(&[&input], &input), Err(OutputError::SameAsInput { .. })));
        let dotted = dir.path().join(".").join("in.aedat4");
        assert!(refuse_same_file(&[&input], &dotted).is_err());
        let hard = dir.path().join("hard.aedat4");
        std::fs::hard_link(&input, &hard).unwrap();
        assert!(refuse_same_file(&[&input], &hard).is_err());
        #[cfg(unix)]
        {
            let soft = dir.path().join("soft.aedat4");
            std::os::unix::fs::symlink(&input, &soft).unwrap();
            assert!(refuse_same_file(&[&input], &soft).is_err());
        }
        assert!(refuse_same_file(&[&input], &dir.path().join("new.aedat4")).is_ok());
        let other = dir.path().join("other.aedat4");
        std::fs::write(&other, b"data").unwrap();
        assert!(refuse_same_file(&[&input], &other).is_ok());
    }

    #[test]
    fn an_existing_output_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.aedat4");
        assert!(refuse_existing(&path, false, "a recording").is_ok());
        std::fs::write(&path, b"x").unwrap();
        let err = refuse_existing(&path, false, "a recording").unwrap_err().to_string();
        assert!(err.contains("rec.aedat4") && err.contains("--force"), "{err}");
        assert!(refuse_existing(&path, true, "a recording").is_ok());
    }
}
