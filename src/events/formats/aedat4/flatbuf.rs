//! A minimal, bounds-checked FlatBuffers reader and the few builders AEDAT4 needs.
//!
//! Only what the IOHeader, EventPacket, TriggerPacket and FileDataTable tables use: tables with scalar, struct,
//! string and vector fields. Every read is checked, so malformed input gives an error, never a
//! panic or an out-of-bounds read (the `aedat` crate parses the IOHeader unchecked).

/// What went wrong, with the position inside the flatbuffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FbError {
    pub at: usize,
    pub what: &'static str,
}

impl std::fmt::Display for FbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed flatbuffer: {} (at flatbuffer byte {})", self.what, self.at)
    }
}

type Result<T> = std::result::Result<T, FbError>;

fn read<const N: usize>(buf: &[u8], at: usize, what: &'static str) -> Result<[u8; N]> {
    buf.get(at..at.checked_add(N).ok_or(FbError { at, what })?)
        .and_then(|s| s.try_into().ok())
        .ok_or(FbError { at, what })
}

pub fn u32_at(buf: &[u8], at: usize, what: &'static str) -> Result<u32> {
    read::<4>(buf, at, what).map(u32::from_le_bytes)
}

fn u16_at(buf: &[u8], at: usize, what: &'static str) -> Result<u16> {
    read::<2>(buf, at, what).map(u16::from_le_bytes)
}

/// A table inside `buf`.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: u16,
}

impl<'a> Table<'a> {
    /// The root table of a buffer whose first 4 bytes are the root offset, checking the 4-byte
    /// file identifier that follows.
    pub fn root(buf: &'a [u8], identifier: &[u8; 4]) -> Result<Self> {
        let root = u32_at(buf, 0, "root offset")? as usize;
        if read::<4>(buf, 4, "file identifier")? != *identifier {
            return Err(FbError { at: 4, what: "wrong file identifier" });
        }
        Self::at(buf, root)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Self> {
        let soffset = i32::from_le_bytes(read::<4>(buf, pos, "table")?);
        let vtable = (pos as i64 - i64::from(soffset)).try_into().map_err(|_| FbError { at: pos, what: "vtable offset" })?;
        let vtable_len = u16_at(buf, vtable, "vtable")?;
        if vtable_len < 4 || vtable_len % 2 != 0 || buf.len() < vtable + usize::from(vtable_len) {
            return Err(FbError { at: vtable, what: "vtable size" });
        }
        Ok(Self { buf, pos, vtable, vtable_len })
    }

    /// Absolute position of field `index`, or `None` when absent.
    fn field(&self, index: usize) -> Result<Option<usize>> {
        let slot = 4 + 2 * index;
        if slot + 2 > usize::from(self.vtable_len) {
            return Ok(None);
        }
        match u16_at(self.buf, self.vtable + slot, "vtable slot")? {
            0 => Ok(None),
            off => Ok(Some(self.pos + usize::from(off))),
        }
    }

    pub fn i32(&self, index: usize, default: i32) -> Result<i32> {
        match self.field(index)? {
            None => Ok(default),
            Some(at) => read::<4>(self.buf, at, "i32 field").map(i32::from_le_bytes),
        }
    }

    pub fn i8(&self, index: usize, default: i8) -> Result<i8> {
        match self.field(index)? {
            None => Ok(default),
            Some(at) => read::<1>(self.buf, at, "i8 field").map(i8::from_le_bytes),
        }
    }

    pub fn i64(&self, index: usize, default: i64) -> Result<i64> {
        match self.field(index)? {
            None => Ok(default),
            Some(at) => read::<8>(self.buf, at, "i64 field").map(i64::from_le_bytes),
        }
    }

    /// An inline struct field of `N` bytes.
    pub fn struct_bytes<const N: usize>(&self, index: usize) -> Result<Option<[u8; N]>> {
        self.field(index)?.map(|at| read::<N>(self.buf, at, "struct field")).transpose()
    }

    fn indirect(&self, index: usize) -> Result<Option<usize>> {
        match self.field(index)? {
            None => Ok(None),
            Some(at) => {
                let off = u32_at(self.buf, at, "offset field")? as usize;
                Ok(Some(at.checked_add(off).ok_or(FbError { at, what: "offset overflow" })?))
            }
        }
    }

    pub fn string(&self, index: usize) -> Result<Option<&'a str>> {
        let Some(at) = self.indirect(index)? else { return Ok(None) };
        let bytes = self.vector_bytes_at(at, 1)?;
        std::str::from_utf8(bytes).map(Some).map_err(|_| FbError { at, what: "string is not UTF-8" })
    }

    /// The raw bytes of a vector of `elem_size`-byte inline elements (structs or scalars).
    pub fn vector_bytes(&self, index: usize, elem_size: usize) -> Result<Option<&'a [u8]>> {
        match self.indirect(index)? {
            None => Ok(None),
            Some(at) => self.vector_bytes_at(at, elem_size).map(Some),
        }
    }

    /// Where the vector of field `index` starts (its `u32` length), without requiring its
    /// elements to be in the buffer: for a buffer that arrives a slice at a time.
    pub fn vector_start(&self, index: usize) -> Result<Option<usize>> {
        self.indirect(index)
    }

    /// The tables of a vector of tables.
    pub fn table_vector(&self, index: usize) -> Result<Vec<Table<'a>>> {
        let Some(at) = self.indirect(index)? else { return Ok(Vec::new()) };
        let offsets = self.vector_bytes_at(at, 4)?;
        let first = at + 4;
        (0..offsets.len() / 4)
            .map(|i| {
                let slot = first + 4 * i;
                let off = u32_at(self.buf, slot, "table offset")? as usize;
                Table::at(self.buf, slot + off)
            })
            .collect()
    }

    fn vector_bytes_at(&self, at: usize, elem_size: usize) -> Result<&'a [u8]> {
        let len = u32_at(self.buf, at, "vector length")? as usize;
        let bytes = len.checked_mul(elem_size).ok_or(FbError { at, what: "vector length" })?;
        self.buf.get(at + 4..at + 4 + bytes).ok_or(FbError { at, what: "vector runs past the buffer" })
    }
}

/// Appends little-endian values to a buffer being built front to back with explicit layout.
#[derive(Default)]
pub struct Builder {
    pub bytes: Vec<u8>,
}

impl Builder {
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(v);
        self
    }
    /// Zero padding up to a multiple of `align` (counted from the buffer start).
    pub fn align(&mut self, align: usize) -> &mut Self {
        while self.bytes.len() % align != 0 {
            self.bytes.push(0);
        }
        self
    }
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}
