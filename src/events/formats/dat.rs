//! Prophesee DAT: `%` header lines, then (only when there was a header) one byte event type and
//! one byte event size, then 8-byte little-endian records `u32 t (µs)`, `u32 word`.
//!
//! Version 2 (default): x = bits 0–13, y = bits 14–27, polarity = bit 28 (the automotive toolbox
//! reads only bit 28). Version 1: x = bits 0–8, y = bits 9–16, polarity = bit 17. The 32-bit
//! timestamp wraps after ~71 min; a drop of more than 2^31 µs adds 2^32 µs (as faery does).

use super::carry::{SpareWriter, pack};
use crate::events::decoder::DecoderOptions;
use crate::events::format::Format;
use crate::events::error::DecodeError;
use super::text_header::TextHeader;
use super::records::{RecordBody, RecordDecoder};
use crate::events::{Event, Resolution, Trigger};

use super::prophesee::PropheseeHeader;

/// The DAT decoder.
pub type DatDecoder = RecordDecoder<DatBody, 8>;

/// DAT decoding state between chunks (the `RecordBody` of [`DatDecoder`]).
#[derive(Default)]
pub struct DatBody {
    header: PropheseeHeader,
    has_header: bool,
    version1: bool,
    event_type: Option<u8>,
    last_raw_t: u32,
    wraps: u64,
}

impl DatDecoder {
    pub fn new(options: DecoderOptions) -> Self {
        RecordDecoder::with_body(
            Some(TextHeader::new(b'%', Some(b"% end"))),
            options,
            DatBody::default(),
        )
    }
}

impl RecordBody<8> for DatBody {
    const FORMAT: Format = Format::Dat;
    const RECORD: &'static str = "DAT event";

    fn on_header(&mut self, header: &TextHeader) -> Result<(), DecodeError> {
        self.has_header = header.len() > 0;
        self.header = PropheseeHeader::parse(header);
        self.version1 = self.header.get("Version").is_some_and(|v| v.trim().starts_with('1'));
        Ok(())
    }

    fn preamble_len(&self) -> usize {
        if self.has_header { 2 } else { 0 }
    }

    fn on_preamble(&mut self, bytes: &[u8], offset: u64) -> Result<(), DecodeError> {
        let (event_type, size) = (bytes[0], bytes[1]);
        if size != 8 {
            return Err(DecodeError::corrupt(
                Format::Dat,
                offset + 1,
                format!("event size {size} (type 0x{event_type:02x}); only 8-byte CD events are supported"),
            ));
        }
        self.event_type = Some(event_type);
        Ok(())
    }

    fn on_records(&mut self, records: &[u8], _offset: u64, out: &mut Vec<Event>, _triggers: &mut Vec<Trigger>) -> Result<(), DecodeError> {
        let (records, _) = records.as_chunks::<8>();
        let mut writer = SpareWriter::new(out, records.len());
        let (version1, mut last, mut wraps) = (self.version1, self.last_raw_t, self.wraps);
        for &r in records {
            let r = u64::from_le_bytes(r);
            let (raw_t, w) = (r as u32, (r >> 32) as u32);
            if raw_t < last && last - raw_t > 1 << 31 {
                wraps += 1;
            }
            last = raw_t;
            let t = (wraps << 32) | u64::from(raw_t);
            let low = if version1 {
                pack((w & 0x1FF) as u16, ((w >> 9) & 0xFF) as u16, (w >> 17) & 1 == 1)
            } else {
                pack((w & 0x3FFF) as u16, ((w >> 14) & 0x3FFF) as u16, (w >> 28) & 1 == 1)
            };
            writer.push_packed(t, low);
        }
        (self.last_raw_t, self.wraps) = (last, wraps);
        Ok(())
    }

    fn sensor(&self) -> Option<Resolution> {
        self.header.resolution
    }

    fn metadata(&self) -> Vec<(String, String)> {
        let mut m = super::prophesee::metadata(&self.header);
        if let Some(t) = self.event_type {
            m.push(("event type".into(), format!("0x{t:02x}")));
        }
        m
    }
}
