//! The drivers around the sans-IO decoders: whole recordings ([`file`], memory-mapped or read
//! from a pipe), recordings in batches of bounded memory ([`reader`]), the DV network stream
//! client ([`socket`]) and opening an input path without hanging on a pipe ([`input`]).

pub mod file;
pub mod input;
pub mod reader;
pub mod socket;
