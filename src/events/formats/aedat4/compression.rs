//! AEDAT4 packet compression: every packet payload (and the file data table) is one complete
//! LZ4 frame or zstd frame, or stored as is. LZ4_HIGH / ZSTD_HIGH differ only in encoder level.
//!
//! The LZ4 frame is parsed here and its blocks decompressed by liblz4 (`lz4-sys`, the C library
//! dv-processing uses; about 1.3x the speed of `lz4_flex`'s decoder on event packets) straight
//! into the caller's buffer, which for event packets is the event vector itself: no per-packet
//! allocation, no copy through a reader. zstd keeps one context for all packets.

use std::ffi::{c_char, c_int};
use std::mem::MaybeUninit;

/// The `compression` field of the AEDAT4 IOHeader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Compression {
    None,
    Lz4,
    Lz4High,
    Zstd,
    ZstdHigh,
}

impl Compression {
    pub fn from_code(code: i32) -> Option<Self> {
        [Self::None, Self::Lz4, Self::Lz4High, Self::Zstd, Self::ZstdHigh].get(usize::try_from(code).ok()?).copied()
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Lz4 => "LZ4",
            Self::Lz4High => "LZ4_HIGH",
            Self::Zstd => "ZSTD",
            Self::ZstdHigh => "ZSTD_HIGH",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "none" => Some(Self::None),
            "lz4" => Some(Self::Lz4),
            "lz4_high" => Some(Self::Lz4High),
            "zstd" => Some(Self::Zstd),
            "zstd_high" => Some(Self::ZstdHigh),
            _ => None,
        }
    }
}

/// Reusable decompression state.
#[derive(Default)]
pub struct Decompressor {
    /// Output buffer of [`Decompressor::decompress`]; its length only grows, so reuse costs no
    /// zeroing.
    scratch: Vec<u8>,
    /// One zstd context for all packets.
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

const LZ4_MAGIC: u32 = 0x184D_2204;
/// LZ4 blocks of a linked frame may refer this far back.
const LZ4_WINDOW: usize = 64 << 10;

impl Decompressor {
    /// Decompresses one payload; the result is valid until the next call. `limit` bounds the
    /// decompressed size, so a corrupt size field cannot make us allocate without bound.
    pub fn decompress<'a>(&'a mut self, compression: Compression, payload: &'a [u8], limit: usize) -> Result<&'a [u8], String> {
        if compression == Compression::None {
            return Ok(payload);
        }
        let bound = bound(compression, payload, limit)?;
        if self.scratch.len() < bound {
            self.scratch.resize(bound, 0);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.decompress_into(compression, payload, as_uninit(&mut scratch[..bound]));
        self.scratch = scratch;
        Ok(&self.scratch[..result?])
    }

    /// Decompresses one payload into `dst`, which must hold [`bound`] bytes; returns the
    /// decompressed length `n`; `dst[..n]` is then initialised.
    pub fn decompress_into(&mut self, compression: Compression, payload: &[u8], dst: &mut [MaybeUninit<u8>]) -> Result<usize, String> {
        match compression {
            Compression::None => {
                let dst = dst.get_mut(..payload.len()).ok_or("payload larger than its destination")?;
                dst.write_copy_of_slice(payload);
                Ok(payload.len())
            }
            Compression::Lz4 | Compression::Lz4High => lz4_frame(payload, dst),
            Compression::Zstd | Compression::ZstdHigh => {
                let zstd = match &mut self.zstd {
                    Some(z) => z,
                    None => self.zstd.insert(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?),
                };
                zstd.decompress_to_buffer(payload, &mut UninitBuf { buf: dst, filled: 0 }).map_err(|e| format!("corrupt zstd payload: {e}"))
            }
        }
    }
}

/// The most bytes `payload` can decompress to (what [`Decompressor::decompress_into`] needs),
/// at most `limit` (else an error).
pub fn bound(compression: Compression, payload: &[u8], limit: usize) -> Result<usize, String> {
    match compression {
        Compression::None => Ok(payload.len()),
        Compression::Lz4 | Compression::Lz4High => {
            let frame = Lz4Frame::parse(payload)?;
            let mut total = 0usize;
            for block in frame.blocks() {
                let block = block?;
                total += if block.stored { block.data.len() } else { frame.block_max };
                if total > limit {
                    return Err(format!("LZ4 payload decompresses past the {limit}-byte packet limit (SPIKESTREAM_MAX_PACKET_MB raises it)"));
                }
            }
            Ok(total)
        }
        Compression::Zstd | Compression::ZstdHigh => match zstd::zstd_safe::get_frame_content_size(payload) {
            Ok(Some(n)) if n <= limit as u64 => Ok(n as usize),
            Ok(Some(n)) => Err(format!("zstd payload declares {n} bytes, past the {limit}-byte packet limit (SPIKESTREAM_MAX_PACKET_MB raises it)")),
            Ok(None) => Ok(limit.min(payload.len().saturating_mul(64).max(1 << 20))),
            Err(_) => Err("payload is not a zstd frame".into()),
        },
    }
}

/// `&mut [u8]` as the `MaybeUninit` slice the decompressors take.
fn as_uninit(bytes: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; the decompressors only ever write initialised bytes into it.
    unsafe { &mut *(std::ptr::from_mut(bytes) as *mut [MaybeUninit<u8>]) }
}

/// A destination for zstd that may start uninitialised.
struct UninitBuf<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    filled: usize,
}

// SAFETY: `as_slice` covers only the `filled` bytes zstd wrote; `capacity` and `as_mut_ptr`
// describe the whole live slice; `filled_until` is called by zstd with the bytes it wrote.
unsafe impl zstd::zstd_safe::WriteBuf for UninitBuf<'_> {
    fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `filled` bytes were written by zstd.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast(), self.filled) }
    }
    fn capacity(&self) -> usize {
        self.buf.len()
    }
    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr().cast()
    }
    unsafe fn filled_until(&mut self, n: usize) {
        self.filled = n;
    }
}

/// An LZ4 frame's header facts and where its blocks start.
struct Lz4Frame<'a> {
    frame: &'a [u8],
    independent: bool,
    block_checksum: bool,
    content_checksum: bool,
    block_max: usize,
    first_block: usize,
}

struct Lz4Block<'a> {
    /// Offset of the block's data in the frame (for messages).
    at: usize,
    stored: bool,
    data: &'a [u8],
}

impl<'a> Lz4Frame<'a> {
    fn parse(frame: &'a [u8]) -> Result<Self, String> {
        let byte = |at: usize| frame.get(at).copied().ok_or_else(|| format!("LZ4 frame ends at byte {at}"));
        if frame.get(..4) != Some(&LZ4_MAGIC.to_le_bytes()) {
            return Err("payload is not an LZ4 frame (bad magic)".into());
        }
        let flags = byte(4)?;
        if flags >> 6 != 1 {
            return Err(format!("unsupported LZ4 frame version {}", flags >> 6));
        }
        let block_max = match (byte(5)? >> 4) & 0x7 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            other => return Err(format!("invalid LZ4 block size code {other}")),
        };
        let (has_size, has_dict) = (flags & 0x08 != 0, flags & 0x01 != 0);
        let first_block = 6 + if has_size { 8 } else { 0 } + if has_dict { 4 } else { 0 } + 1; // + header checksum
        Ok(Self { frame, independent: flags & 0x20 != 0, block_checksum: flags & 0x10 != 0, content_checksum: flags & 0x04 != 0, block_max, first_block })
    }

    /// The blocks up to the end mark; an error for a block that runs past the frame or a
    /// missing content checksum.
    fn blocks(&self) -> impl Iterator<Item = Result<Lz4Block<'a>, String>> + '_ {
        let mut at = Some(self.first_block);
        std::iter::from_fn(move || {
            let pos = at?;
            let header = match self.frame.get(pos..pos + 4) {
                Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                None => {
                    at = None;
                    return Some(Err(format!("LZ4 frame ends at byte {pos}")));
                }
            };
            if header == 0 {
                at = None;
                // The checksum itself is not verified, but it must be there.
                let short = self.content_checksum && self.frame.len() < pos + 8;
                return short.then(|| Err("LZ4 frame ends before its content checksum".to_string()));
            }
            let (stored, size) = (header & 0x8000_0000 != 0, (header & 0x7FFF_FFFF) as usize);
            let start = pos + 4;
            let Some(data) = self.frame.get(start..start + size) else {
                at = None;
                return Some(Err(format!("LZ4 block at byte {start} runs past the payload")));
            };
            at = Some(start + size + if self.block_checksum { 4 } else { 0 });
            Some(Ok(Lz4Block { at: start, stored, data }))
        })
    }
}

/// An LZ4 frame decompressed one block (at most 4 MiB) at a time, keeping the 64 KiB window
/// linked blocks refer to: for packets too big to decompress at once (`sliced.rs`).
pub(super) struct Lz4Cursor {
    independent: bool,
    block_checksum: bool,
    content_checksum: bool,
    block_max: usize,
    pos: usize,
    window: Vec<u8>,
}

impl Lz4Cursor {
    pub fn new(payload: &[u8]) -> Result<Self, String> {
        let f = Lz4Frame::parse(payload)?;
        Ok(Self { independent: f.independent, block_checksum: f.block_checksum, content_checksum: f.content_checksum, block_max: f.block_max, pos: f.first_block, window: Vec::new() })
    }

    /// Replaces `dst` with the next block's bytes; `Ok(false)` at the end mark.
    pub fn next_block(&mut self, payload: &[u8], dst: &mut Vec<u8>) -> Result<bool, String> {
        dst.clear();
        let frame = Lz4Frame { frame: payload, independent: self.independent, block_checksum: self.block_checksum, content_checksum: self.content_checksum, block_max: self.block_max, first_block: self.pos };
        let Some(block) = frame.blocks().next() else { return Ok(false) };
        let block = block?;
        self.pos = block.at + block.data.len() + if self.block_checksum { 4 } else { 0 };
        if block.stored {
            dst.extend_from_slice(block.data);
        } else {
            dst.reserve(self.block_max);
            // SAFETY: `u8` to `MaybeUninit<u8>` is always valid; the window holds written bytes.
            let dict = unsafe { &*(std::ptr::from_ref(self.window.as_slice()) as *const [MaybeUninit<u8>]) };
            let dict = if self.independent { &dict[..0] } else { dict };
            let n = lz4_block(block.data, &mut dst.spare_capacity_mut()[..self.block_max], dict).ok_or_else(|| format!("corrupt LZ4 block (at payload byte {})", block.at))?;
            // SAFETY: `lz4_block` initialised the first `n` bytes of the spare capacity.
            unsafe { dst.set_len(n) };
        }
        if !self.independent {
            let keep = self.window.len().saturating_sub(LZ4_WINDOW.saturating_sub(dst.len()));
            self.window.drain(..keep);
            let from = dst.len().saturating_sub(LZ4_WINDOW);
            self.window.extend_from_slice(&dst[from..]);
        }
        Ok(true)
    }
}

/// Decompresses an LZ4 frame into `dst` (at least [`bound`] bytes); returns the length.
fn lz4_frame(payload: &[u8], dst: &mut [MaybeUninit<u8>]) -> Result<usize, String> {
    let frame = Lz4Frame::parse(payload)?;
    let mut out = 0usize;
    for block in frame.blocks() {
        let block = block?;
        let room = if block.stored { block.data.len() } else { frame.block_max };
        if dst.len() - out < room {
            return Err("LZ4 payload larger than its bound".into());
        }
        let (done, rest) = dst.split_at_mut(out);
        if block.stored {
            rest[..room].write_copy_of_slice(block.data);
            out += room;
            continue;
        }
        // A linked block may copy from the 64 KiB before it, which the previous blocks wrote
        // just before `rest`: liblz4 sees a contiguous prefix and takes its fast path.
        let window = if frame.independent { 0 } else { out.min(LZ4_WINDOW) };
        out += lz4_block(block.data, &mut rest[..room], &done[out - window..]).ok_or_else(|| format!("corrupt LZ4 block (at payload byte {})", block.at))?;
    }
    Ok(out)
}

unsafe extern "C" {
    // In the liblz4 that `lz4-sys` builds and links; `lz4-sys` 1.11 does not declare it.
    fn LZ4_decompress_safe_usingDict(src: *const c_char, dst: *mut c_char, src_size: c_int, dst_capacity: c_int, dict: *const c_char, dict_size: c_int) -> c_int;
}

/// Decompresses one LZ4 block into `dst`; `dict` is the window of a linked block (already
/// decompressed bytes, empty for independent blocks). Returns the decompressed length, `None`
/// when the block is corrupt or does not fit.
fn lz4_block(block: &[u8], dst: &mut [MaybeUninit<u8>], dict: &[MaybeUninit<u8>]) -> Option<usize> {
    let src_size = c_int::try_from(block.len()).ok()?;
    let capacity = c_int::try_from(dst.len()).ok()?;
    let dict_size = c_int::try_from(dict.len()).ok()?;
    // SAFETY: liblz4's `_safe` decoders are made for untrusted input: they read only
    // `block[..src_size]` and `dict[..dict_size]` and write only `dst[..capacity]`, returning a
    // negative number for a malformed block (lz4.h; fuzzed by OSS-Fuzz). The pointers and
    // lengths come from live slices; `dict` holds bytes the previous blocks wrote.
    let n = unsafe {
        if dict.is_empty() {
            lz4_sys::LZ4_decompress_safe(block.as_ptr().cast(), dst.as_mut_ptr().cast(), src_size, capacity)
        } else {
            LZ4_decompress_safe_usingDict(block.as_ptr().cast(), dst.as_mut_ptr().cast(), src_size, capacity, dict.as_ptr().cast(), dict_size)
        }
    };
    usize::try_from(n).ok()
}

/// Compresses one payload for the writer.
pub fn compress(compression: Compression, data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Lz4 | Compression::Lz4High => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
            enc.write_all(data)?;
            enc.finish().map_err(std::io::Error::other)
        }
        Compression::Zstd => zstd::bulk::compress(data, 3),
        Compression::ZstdHigh => zstd::bulk::compress(data, 19),
    }
}
