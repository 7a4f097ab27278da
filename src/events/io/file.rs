//! Reading whole recordings: a file (memory-mapped) or a byte slice through the matching
//! decoder, into a [`Recording`]. Streaming a file in batches is [`super::reader`]'s; the
//! mapping and the format choice are shared with it from here.

use std::path::{Path, PathBuf};

use super::input::{InputKind, open_input};
use crate::events::decoder::DecoderOptions;
use crate::events::detect::detect;
use crate::events::error::{DecodeError, ReadError};
use crate::events::format::Format;
use crate::events::formats::carry::advise_huge_pages;
use crate::events::recording::Recording;
use crate::events::registry::new_decoder;

/// How to read: format (detected when `None`) and the decoder options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    pub format: Option<Format>,
    pub decoder: DecoderOptions,
}

/// Decodes a whole in-memory input. `name` only labels errors.
pub fn read_bytes(bytes: &[u8], name: &Path, options: ReadOptions) -> Result<Recording, ReadError> {
    let format = format_of(bytes, name, options)?;
    let mut decoder = new_decoder(format, options.decoder);
    // One reservation of about the final size: growing packet by packet costs a page fault per
    // 4 KiB and repeated copies (AEDAT4 decoded 3x slower into a growing vector).
    let bytes_per_event = match format {
        Format::Evt2 => 4,
        Format::Evt3 => 3,
        Format::AtisBin => 5,
        // 16 bytes per event uncompressed; LZ4 and zstd shrink that 2-5x. An unused reservation
        // stays virtual, while outgrowing it cost zstd files half their speed (4.5 bytes per
        // event on the synthetic file: 28 M events/s with 5 here, 52 with 3).
        Format::Aedat4 | Format::Aedat4Stream => 3,
        Format::Dat | Format::Aedat2 | Format::Aedat31 => 8,
    };
    let mut events = Vec::new();
    // Where the system refuses that much address space, the decoders grow the vector.
    let _ = events.try_reserve_exact(bytes.len() / bytes_per_event);
    advise_huge_pages(&mut events);
    let result: Result<(), DecodeError> = decoder.feed(bytes, &mut events).and_then(|()| decoder.finish(&mut events));
    let recording = Recording {
        format: Some(format),
        resolution: decoder.resolution(),
        events,
        triggers: decoder.triggers().to_vec(),
        metadata: decoder.metadata(),
    };
    match result {
        Ok(()) => Ok(recording),
        Err(source) => Err(ReadError::Decode { path: name.to_path_buf(), source, partial: Box::new(recording) }),
    }
}

/// Decodes a file, memory-mapped; a pipe (`<(cat file)`) is read whole instead.
pub fn read_file(path: &Path, options: ReadOptions) -> Result<Recording, ReadError> {
    if let Ok(InputKind::Stream(_)) = InputKind::of(path) {
        let io = |source| ReadError::Io { path: PathBuf::from(path), source };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut open_input(path).map_err(io)?, &mut bytes).map_err(io)?;
        return read_bytes(&bytes, path, options);
    }
    // `populate` maps every page in one call (MAP_POPULATE) instead of taking a page fault per
    // 4 KiB while decoding: reading a 80 MB file faulted 20,000 times.
    match map_file(path, true)? {
        Some(map) => read_bytes(&map, path, options),
        None => read_bytes(&[], path, options),
    }
}

/// The format `options` name, else the one detected from `bytes` (the whole input or its
/// start). `name` only labels the error.
pub(crate) fn format_of(bytes: &[u8], name: &Path, options: ReadOptions) -> Result<Format, ReadError> {
    match options.format {
        Some(f) => Ok(f),
        None => detect(bytes).map_err(|reason| ReadError::UnknownFormat { path: name.to_path_buf(), reason }),
    }
}

/// Maps `path` read-only; `None` for an empty file (which cannot be mapped). `populate` faults
/// every page in at once, right for a file decoded whole, wrong for one streamed in chunks (it
/// would read a file larger than memory in full before the first event).
pub(crate) fn map_file(path: &Path, populate: bool) -> Result<Option<memmap2::Mmap>, ReadError> {
    let io = |source| ReadError::Io { path: PathBuf::from(path), source };
    // Never `open()` a pipe here: without a writer it blocks for good, and it cannot be mapped.
    // A folder would fail with ENODEV ("No such device"), which says nothing useful.
    match InputKind::of(path).map_err(io)? {
        InputKind::File => {}
        InputKind::Folder => return Err(ReadError::IsDirectory { path: path.to_path_buf() }),
        InputKind::Stream(what) => {
            let reason = format!("is {what}, not a regular file; this command maps its input into memory: save the data to a file first");
            return Err(io(std::io::Error::new(std::io::ErrorKind::InvalidInput, reason)));
        }
    }
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Ok(None);
    }
    let mut options = memmap2::MmapOptions::new();
    if populate {
        options.populate();
    }
    // SAFETY: the map is read-only and lives only during decoding. If another process truncates
    // the file meanwhile, reads may fault (SIGBUS); that is the accepted cost of mmap, as in
    // ripgrep. Nothing else writes through this mapping.
    unsafe { options.map(&file) }.map(Some).map_err(io)
}
