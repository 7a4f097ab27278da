//! Opening an input path without hanging: `open()` of a named pipe (FIFO) blocks until a writer
//! comes, forever if none does. [`open_input`] looks at what the path is first (`stat` never
//! blocks): a folder is an error that says so, a pipe or device is opened non-blocking and
//! waited on for at most [`FIRST_DATA_WAIT_MS`] (then switched back to blocking reads), so a
//! pipe without a writer is an error after a few seconds instead of a hang, and `<(cat file)`
//! streams. [`InputKind`] lets the memory-mapping readers refuse
//! what they cannot map, with a message saying what to do.

use std::fs::File;
use std::io;
use std::path::Path;

/// How long a pipe may stay without a writer or data before opening it fails.
pub const FIRST_DATA_WAIT_MS: u64 = 5000;

/// What an input path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    File,
    Folder,
    /// A named pipe, a character device, a socket: bytes that arrive, without a size.
    Stream(&'static str),
}

impl InputKind {
    pub fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let ft = meta.file_type();
        Ok(if ft.is_file() {
            Self::File
        } else if ft.is_dir() {
            Self::Folder
        } else {
            Self::Stream(stream_name(&ft))
        })
    }
}

#[cfg(unix)]
fn stream_name(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a pipe (FIFO)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn stream_name(_: &std::fs::FileType) -> &'static str {
    "not a regular file"
}

/// The error for a folder given where a recording is expected.
pub fn folder_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "is a folder, not a recording; give a file")
}

/// Opens `path` for reading without blocking in `open()` (see the module docs). Reads from
/// the returned file block as usual.
pub fn open_input(path: &Path) -> io::Result<File> {
    match InputKind::of(path)? {
        InputKind::Folder => Err(folder_error()),
        InputKind::File => File::open(path),
        InputKind::Stream(_) => open_nonblocking(path),
    }
}

#[cfg(target_os = "linux")]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let fd = file.as_raw_fd();
    // A pipe nobody writes to yet: wait a while for a writer (or data), not for ever.
    let mut waited = 0;
    loop {
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
        if ready > 0 {
            break;
        }
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::last_os_error());
        }
        waited += 100;
        if waited >= FIRST_DATA_WAIT_MS {
            let reason = format!("nothing was written to this pipe within {} s (is a writer connected?)", FIRST_DATA_WAIT_MS / 1000);
            return Err(io::Error::new(io::ErrorKind::TimedOut, reason));
        }
    }
    // SAFETY: fcntl on a descriptor this function owns, with flags it read from it.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) >= 0
    };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(not(target_os = "linux"))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// A pipe read chunk by chunk for [`super::reader::EventReader`]: first the bytes read for format
/// detection, then the rest as it arrives.
pub(crate) struct PipeInput {
    file: File,
    head: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl PipeInput {
    /// Opens `path` (see [`open_input`]) and reads up to `detect` bytes (less at the end of the
    /// input) for format detection; [`PipeInput::head`] holds them until the first chunk.
    pub(crate) fn open(path: &Path, detect: usize) -> io::Result<Self> {
        let file = open_input(path)?;
        let mut head = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(&file, detect as u64), &mut head)?;
        Ok(Self { file, head: Some(head), buf: Vec::new() })
    }

    pub(crate) fn head(&self) -> &[u8] {
        self.head.as_deref().unwrap_or(&[])
    }

    /// The next bytes (at most `max` after the head), or `None` at the end of the input.
    pub(crate) fn next_chunk(&mut self, max: usize) -> io::Result<Option<&[u8]>> {
        if let Some(head) = self.head.take().filter(|h| !h.is_empty()) {
            self.buf = head;
            return Ok(Some(&self.buf));
        }
        self.buf.resize(max.max(1), 0);
        loop {
            match io::Read::read(&mut self.file, &mut self.buf) {
                Ok(0) => return Ok(None),
                Ok(n) => return Ok(Some(&self.buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_without_a_writer_is_an_error_after_the_wait_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(InputKind::of(&fifo).unwrap(), InputKind::Stream("a pipe (FIFO)"));
        let started = std::time::Instant::now();
        assert_eq!(open_input(&fifo).unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed().as_millis() < u128::from(FIRST_DATA_WAIT_MS) + 2000);
        assert_eq!(open_input(dir.path()).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
