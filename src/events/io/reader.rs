//! Streaming a recording from a file in batches: [`EventReader`] memory-maps the file (reads a
//! pipe as it comes), feeds it to the format's sans-IO decoder one chunk at a time and hands the events out through a
//! vector the caller reuses, so memory stays bounded by the chunk size (plus the decoder's own
//! state) whatever the size of the file, as dv-processing's `getNextEventBatch` and
//! expelliarmus's chunked reads do.
//!
//! Owns the chunking, giving consumed pages of the mapping back, and handing triggers out per
//! batch. It does not decode (the decoders do) nor read whole recordings ([`crate::events::read_file`],
//! which `classify` and training use).

use std::path::{Path, PathBuf};

use super::file::{ReadOptions, format_of, map_file};
use super::input::{InputKind, PipeInput};
use crate::events::decoder::Decoder;
use crate::events::detect::DETECT_BYTES;
use crate::events::error::{DecodeError, ReadError};
use crate::events::format::Format;
use crate::events::recording::Recording;
use crate::events::registry::new_decoder;
use crate::events::{Event, Resolution, Trigger};

/// Bytes fed to the decoder per step unless [`EventReader::with_chunk_bytes`] says otherwise.
pub const DEFAULT_CHUNK_BYTES: usize = 2 << 20;

/// A batch stops growing past about this many events (16 MiB), however many events the
/// chunk's bytes expand to ([`Decoder::feed_some`]).
pub const BATCH_EVENTS: usize = 1 << 20;

/// Consumed bytes of the mapping are given back to the system (`MADV_DONTNEED`) in steps of at
/// least this much, so tiny chunks do not cost a system call each.
#[cfg(target_os = "linux")]
const RELEASE_BYTES: usize = 8 << 20;

/// A recording read batch by batch:
///
/// ```no_run
/// # use spikestream::events::{EventReader, file::ReadOptions};
/// # fn main() -> Result<(), spikestream::events::ReadError> {
/// let mut reader = EventReader::open("in.raw".as_ref(), ReadOptions::default())?;
/// let mut batch = Vec::new();
/// while reader.next_batch(&mut batch)? {
///     // `batch` holds the next events (possibly none, when only triggers came),
///     // `reader.triggers()` the triggers that came with them.
/// }
/// # Ok(()) }
/// ```
pub struct EventReader {
    path: PathBuf,
    /// `None` for an empty file, which cannot be mapped, and for a pipe.
    map: Option<memmap2::Mmap>,
    /// A pipe (`<(cat file)`, a FIFO), read as it comes instead of mapped.
    pipe: Option<PipeInput>,
    decoder: Box<dyn Decoder>,
    format: Format,
    chunk: usize,
    /// Bytes fed to the decoder so far.
    offset: usize,
    /// Bytes at the start of the mapping whose pages were given back, and the page size.
    #[cfg(target_os = "linux")]
    released: usize,
    #[cfg(target_os = "linux")]
    page: usize,
    /// The triggers of the last batch.
    triggers: Vec<Trigger>,
    trigger_count: u64,
    /// An error met after some events of a batch: reported by the next call, once they are out.
    error: Option<DecodeError>,
    /// The decoder was told the input ended (or failed): nothing more comes.
    done: bool,
}

impl EventReader {
    /// Opens and maps `path` and picks the format (`options.format`, else detected from the
    /// content as [`crate::events::read_file`] does). Errors: [`ReadError::Io`] and
    /// [`ReadError::UnknownFormat`], naming the file.
    pub fn open(path: &Path, options: ReadOptions) -> Result<Self, ReadError> {
        if let Ok(InputKind::Stream(_)) = InputKind::of(path) {
            let pipe = PipeInput::open(path, DETECT_BYTES).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
            let format = format_of(pipe.head(), path, options)?;
            return Ok(Self::new(path, None, Some(pipe), format, options));
        }
        // Not populated: a file larger than memory would be read in full before the first batch.
        let map = map_file(path, false)?;
        #[cfg(unix)]
        if let Some(map) = &map {
            // Readahead in big steps; a failure only costs speed.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let format = format_of(map.as_deref().unwrap_or(&[]), path, options)?;
        Ok(Self::new(path, map, None, format, options))
    }

    fn new(path: &Path, map: Option<memmap2::Mmap>, pipe: Option<PipeInput>, format: Format, options: ReadOptions) -> Self {
        Self {
            path: path.to_path_buf(),
            map,
            pipe,
            decoder: new_decoder(format, options.decoder),
            format,
            chunk: DEFAULT_CHUNK_BYTES,
            offset: 0,
            #[cfg(target_os = "linux")]
            released: 0,
            #[cfg(target_os = "linux")]
            page: page_size(),
            triggers: Vec::new(),
            trigger_count: 0,
            error: None,
            done: false,
        }
    }

    /// Feeds the decoder `bytes` at a time (at least 1).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk = bytes.max(1);
        self
    }

    /// Clears `out` and fills it with the next events: `Ok(true)` when a batch came (events,
    /// triggers or both), `Ok(false)` at the end of the input. A truncated or corrupt input first
    /// delivers the events decoded before the bad byte, then the next call returns
    /// [`ReadError::Decode`] naming the file and the byte offset (its `partial` holds the format,
    /// resolution and metadata, but no events or triggers: those were delivered batch by batch).
    pub fn next_batch(&mut self, out: &mut Vec<Event>) -> Result<bool, ReadError> {
        out.clear();
        self.triggers.clear();
        if let Some(source) = self.error.take() {
            return Err(self.decode_error(source));
        }
        while !self.done && out.is_empty() && self.triggers.is_empty() {
            let bytes = self.map.as_deref().unwrap_or(&[]);
            let result = if let Some(pipe) = self.pipe.as_mut() {
                match pipe.next_chunk(self.chunk) {
                    Ok(Some(chunk)) => {
                        self.offset += chunk.len();
                        self.decoder.feed(chunk, out)
                    }
                    Ok(None) => {
                        self.done = true;
                        self.decoder.finish(out)
                    }
                    Err(source) => {
                        self.done = true;
                        return Err(ReadError::Io { path: self.path.clone(), source });
                    }
                }
            } else if self.offset < bytes.len() {
                let end = bytes.len().min(self.offset.saturating_add(self.chunk));
                match self.decoder.feed_some(&bytes[self.offset..end], out, BATCH_EVENTS) {
                    Ok(used) => {
                        self.offset += used;
                        Ok(())
                    }
                    Err(e) => {
                        self.offset = end;
                        Err(e)
                    }
                }
            } else {
                // What the decoder still holds (a big packet's remaining slices) comes out in
                // bounded batches before the end is declared.
                let before = out.len();
                match self.decoder.feed_some(&[], out, BATCH_EVENTS) {
                    Ok(_) if out.len() > before => Ok(()),
                    Ok(_) => {
                        self.done = true;
                        self.decoder.finish(out)
                    }
                    Err(e) => {
                        self.done = true;
                        Err(e)
                    }
                }
            };
            self.release_consumed();
            self.decoder.take_triggers(&mut self.triggers);
            self.trigger_count += self.triggers.len() as u64;
            if let Err(source) = result {
                self.done = true;
                if out.is_empty() && self.triggers.is_empty() {
                    return Err(self.decode_error(source));
                }
                self.error = Some(source);
            }
        }
        Ok(!out.is_empty() || !self.triggers.is_empty())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The sensor size: from the options, else from the header once it was read (after the
    /// first batch), else `None`.
    pub fn resolution(&self) -> Option<Resolution> {
        self.decoder.resolution()
    }

    /// Header facts and the decoder's counters so far.
    pub fn metadata(&self) -> Vec<(String, String)> {
        self.decoder.metadata()
    }

    /// The triggers that came with the last batch.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// Triggers handed out so far, all batches together.
    pub fn trigger_count(&self) -> u64 {
        self.trigger_count
    }

    /// Bytes of the file fed to the decoder so far.
    pub fn offset(&self) -> u64 {
        self.offset as u64
    }

    /// The size of the file in bytes (of a pipe: the bytes read so far).
    pub fn file_len(&self) -> u64 {
        self.map.as_ref().map_or(self.offset as u64, |m| m.len() as u64)
    }

    fn decode_error(&self, source: DecodeError) -> ReadError {
        let partial = Recording { format: Some(self.format), resolution: self.resolution(), metadata: self.metadata(), ..Recording::default() };
        ReadError::Decode { path: self.path.clone(), source, partial: Box::new(partial) }
    }

    /// Gives the pages already decoded back to the system: they stay in the page cache, but no
    /// longer count in this process's resident memory, which would otherwise grow to the size
    /// of the file.
    #[cfg(target_os = "linux")]
    fn release_consumed(&mut self) {
        let (Some(map), page) = (&self.map, self.page) else { return };
        if page == 0 || self.offset < self.released + RELEASE_BYTES.max(page) {
            return;
        }
        let end = self.offset / page * page;
        // SAFETY: the mapping is read-only and backed by the file, so MADV_DONTNEED only drops
        // this process's page-table entries: a later read of the range would fault the same
        // bytes back in from the file. Nothing borrows the range: the decoder got `&[u8]`s of it
        // only for the duration of `feed`, and the reader never reads behind `offset`.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, self.released, end - self.released) };
        self.released = end;
    }

    #[cfg(not(target_os = "linux"))]
    fn release_consumed(&mut self) {}
}

#[cfg(target_os = "linux")]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0)
}
