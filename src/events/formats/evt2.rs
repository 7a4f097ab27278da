//! Prophesee EVT 2.0: 32-bit little-endian words, type in bits 31–28.
//!
//! CD_OFF (0x0) / CD_ON (0x1): bits 27–22 timestamp LSBs, 21–11 x, 10–0 y. EVT_TIME_HIGH (0x8):
//! bits 27–0 are timestamp bits 33–6. EXT_TRIGGER (0xA): bits 27–22 LSBs, 12–8 channel, 0 edge.
//! Other types (OTHERS, CONTINUED) carry no events and are skipped. Events before the first
//! TIME_HIGH get time-high 0, as Prophesee's reference and expelliarmus do. When the 28-bit
//! time-high field wraps (after ~4.8 h) a 2^34 µs loop is added, so time stays monotonic.

use super::carry::SpareWriter;
use crate::events::decoder::DecoderOptions;
use crate::events::format::Format;
use crate::events::error::DecodeError;
use super::text_header::TextHeader;
use super::records::{RecordBody, RecordDecoder};
use crate::events::{Event, Resolution, Trigger};

use super::prophesee::PropheseeHeader;

/// The EVT 2.0 decoder.
pub type Evt2Decoder = RecordDecoder<Evt2Body, 4>;

/// EVT 2.0 decoding state between chunks (the `RecordBody` of [`Evt2Decoder`]).
pub struct Evt2Body {
    header: PropheseeHeader,
    /// Timestamp bits 33–6 (already shifted) plus wrap loops.
    time_high: u64,
    last_high_field: u32,
}

const HIGH_FIELD_RANGE: u64 = 1 << 28;

impl Evt2Decoder {
    pub fn new(options: DecoderOptions) -> Self {
        RecordDecoder::with_body(
            Some(TextHeader::new(b'%', Some(b"% end"))),
            options,
            Evt2Body { header: PropheseeHeader::default(), time_high: 0, last_high_field: 0 },
        )
    }
}

impl RecordBody<4> for Evt2Body {
    const FORMAT: Format = Format::Evt2;
    const RECORD: &'static str = "EVT2 word";

    fn on_header(&mut self, header: &TextHeader) -> Result<(), DecodeError> {
        self.header = PropheseeHeader::parse(header);
        match self.header.evt_version().as_deref() {
            None | Some("2.0") | Some("2") => Ok(()),
            Some(other) => Err(DecodeError::Unsupported {
                format: Format::Evt2,
                reason: format!("the header declares EVT {other}, not EVT 2.0; read it with --format evt3 or convert it with Metavision"),
            }),
        }
    }

    #[inline]
    fn on_records(&mut self, records: &[u8], _offset: u64, out: &mut Vec<Event>, triggers: &mut Vec<Trigger>) -> Result<(), DecodeError> {
        let (words, _) = records.as_chunks::<4>();
        let mut writer = SpareWriter::new(out, words.len());
        // State in locals: the writer's raw pointer could alias `self`, which would make LLVM
        // reload `time_high` from memory for every event.
        let (mut time_high, mut last_high_field) = (self.time_high, self.last_high_field);
        for &word in words {
            let w = u32::from_le_bytes(word);
            let kind = w >> 28;
            if kind < 2 {
                writer.push(Event {
                    t: time_high | u64::from((w >> 22) & 0x3F),
                    x: ((w >> 11) & 0x7FF) as u16,
                    y: (w & 0x7FF) as u16,
                    p: kind == 1,
                });
            } else if kind == 0x8 {
                let field = w & 0x0FFF_FFFF;
                let mut loops = time_high >> 34;
                if field < last_high_field && u64::from(last_high_field - field) > HIGH_FIELD_RANGE / 2 {
                    loops += 1;
                }
                last_high_field = field;
                time_high = (loops << 34) | (u64::from(field) << 6);
            } else if kind == 0xA {
                triggers.push(Trigger {
                    t: time_high | u64::from((w >> 22) & 0x3F),
                    channel: ((w >> 8) & 0x1F) as u8,
                    rising: w & 1 == 1,
                });
            }
        }
        (self.time_high, self.last_high_field) = (time_high, last_high_field);
        Ok(())
    }

    fn sensor(&self) -> Option<Resolution> {
        self.header.resolution
    }

    fn metadata(&self) -> Vec<(String, String)> {
        super::prophesee::metadata(&self.header)
    }
}
