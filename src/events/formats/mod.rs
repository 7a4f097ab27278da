//! One sans-IO decoder per recorded format, and the pieces they share.
//!
//! The record formats (AEDAT 2.0, EVT 2.0, EVT 3.0, DAT, ATIS `.bin`) each implement only a
//! `RecordBody`; [`records::RecordDecoder`] does the chunking and implements
//! [`crate::events::Decoder`] for all of them. AEDAT 3.1 (packets) and AEDAT 4.0 (compressed
//! flatbuffer packets, also written here) are decoders of their own. [`carry`] and
//! [`text_header`] are the records split across chunks, the writer into spare capacity and the
//! `#`/`%` header scanner. Which decoder reads which [`crate::events::Format`] is
//! [`crate::events::registry`]'s.

pub mod aedat2;
pub mod aedat31;
pub mod aedat4;
pub mod atis;
pub(crate) mod carry;
pub mod dat;
pub mod evt2;
pub mod evt3;
pub mod prophesee;
pub mod records;
pub(crate) mod text_header;

pub use aedat2::Aedat2Decoder;
pub use aedat31::Aedat31Decoder;
pub use aedat4::Aedat4Decoder;
pub use atis::AtisDecoder;
pub use dat::DatDecoder;
pub use evt2::Evt2Decoder;
pub use evt3::Evt3Decoder;
