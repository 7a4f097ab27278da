//! AEDAT4 packet compression: every packet payload (and the file data table) is one complete
//! LZ4 frame or zstd frame, or stored as is. LZ4_HIGH / ZSTD_HIGH differ only in encoder level.
//!
//! The LZ4 frame is parsed here and its blocks decompressed with `lz4_flex` straight into a
//! reused buffer: no per-packet allocation and no copy through a reader.

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
pub struct Decompressor {
    /// Output buffer; its length only grows, so reuse costs no zeroing.
    scratch: Vec<u8>,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl Default for Decompressor {
    fn default() -> Self {
        Self { scratch: Vec::new(), zstd: None }
    }
}

const LZ4_MAGIC: u32 = 0x184D_2204;

impl Decompressor {
    /// Decompresses one payload; the result is valid until the next call. `limit` bounds the
    /// decompressed size, so a corrupt size field cannot make us allocate without bound.
    pub fn decompress<'a>(&'a mut self, compression: Compression, payload: &'a [u8], limit: usize) -> Result<&'a [u8], String> {
        match compression {
            Compression::None => Ok(payload),
            Compression::Lz4 | Compression::Lz4High => {
                let n = self.lz4_frame(payload, limit)?;
                Ok(&self.scratch[..n])
            }
            Compression::Zstd | Compression::ZstdHigh => {
                let n = self.zstd_frame(payload, limit)?;
                Ok(&self.scratch[..n])
            }
        }
    }

    fn ensure(&mut self, len: usize) {
        if self.scratch.len() < len {
            self.scratch.resize(len, 0);
        }
    }

    fn lz4_frame(&mut self, frame: &[u8], limit: usize) -> Result<usize, String> {
        let byte = |at: usize| frame.get(at).copied().ok_or_else(|| format!("LZ4 frame ends at byte {at}"));
        let word = |at: usize| {
            frame.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| format!("LZ4 frame ends at byte {at}"))
        };
        if word(0)? != LZ4_MAGIC {
            return Err("payload is not an LZ4 frame (bad magic)".into());
        }
        let flags = byte(4)?;
        if flags >> 6 != 1 {
            return Err(format!("unsupported LZ4 frame version {}", flags >> 6));
        }
        let (independent, block_checksum, has_size, has_checksum, has_dict) =
            (flags & 0x20 != 0, flags & 0x10 != 0, flags & 0x08 != 0, flags & 0x04 != 0, flags & 0x01 != 0);
        let block_max = match (byte(5)? >> 4) & 0x7 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            other => return Err(format!("invalid LZ4 block size code {other}")),
        };
        let mut at = 6 + if has_size { 8 } else { 0 } + if has_dict { 4 } else { 0 } + 1; // + header checksum
        let mut out = 0usize;
        loop {
            let header = word(at)?;
            at += 4;
            if header == 0 {
                break;
            }
            let (stored, size) = (header & 0x8000_0000 != 0, (header & 0x7FFF_FFFF) as usize);
            let block = frame.get(at..at + size).ok_or_else(|| format!("LZ4 block at byte {at} runs past the payload"))?;
            at += size + if block_checksum { 4 } else { 0 };
            if out + block_max.max(size) > limit {
                return Err(format!("LZ4 payload decompresses past the {limit}-byte limit"));
            }
            self.ensure(out + block_max.max(size));
            if stored {
                self.scratch[out..out + size].copy_from_slice(block);
                out += size;
                continue;
            }
            let (done, rest) = self.scratch.split_at_mut(out);
            let n = if independent || out == 0 {
                // Without a dictionary lz4_flex takes its faster path.
                lz4_flex::block::decompress_into(block, &mut rest[..block_max])
            } else {
                lz4_flex::block::decompress_into_with_dict(block, &mut rest[..block_max], &done[out.saturating_sub(64 << 10)..])
            }
            .map_err(|e| format!("corrupt LZ4 block: {e}"))?;
            out += n;
        }
        if has_checksum && frame.len() < at + 4 {
            return Err("LZ4 frame ends before its content checksum".into());
        }
        Ok(out)
    }

    fn zstd_frame(&mut self, frame: &[u8], limit: usize) -> Result<usize, String> {
        let size = match zstd::zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) if n <= limit as u64 => n as usize,
            Ok(Some(n)) => return Err(format!("zstd payload declares {n} bytes, past the {limit}-byte limit")),
            Ok(None) => limit.min(frame.len().saturating_mul(64).max(1 << 20)),
            Err(_) => return Err("payload is not a zstd frame".into()),
        };
        self.ensure(size);
        let zstd = match &mut self.zstd {
            Some(z) => z,
            None => self.zstd.insert(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?),
        };
        zstd.decompress_to_buffer(frame, &mut self.scratch[..size]).map_err(|e| format!("corrupt zstd payload: {e}"))
    }
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
