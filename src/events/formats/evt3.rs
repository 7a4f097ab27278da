//! Prophesee EVT 3.0: 16-bit little-endian words, type in bits 15–12, with OpenEB's timestamp
//! semantics (the reference `metavision_evt3_raw_file_decoder`):
//!
//! - words before the first EVT_TIME_HIGH are skipped;
//! - TIME_HIGH sets `base = high << 12` (plus 2^24 µs per loop of the 24-bit counter; a loop is
//!   counted when the new base is lower by at least 2^24 − 4096 − 10·4096) and `t = base`;
//! - TIME_LOW sets `t = base + low`; time is not clamped, so it may step back a few µs where the
//!   sensor's TIME_LOW does (expelliarmus instead adds 4096 µs there, and faery clamps).
//!
//! ADDR_Y (0x0) sets y; ADDR_X (0x2) emits one event; VECT_BASE_X (0x3) sets x base and polarity;
//! VECT_12 (0x4) / VECT_8 (0x5) emit one event per set bit and advance the base; EXT_TRIGGER
//! (0xA) records a trigger. Coordinates are kept raw: vectors may run past the sensor width.

use super::carry::{SpareWriter, pack};
use crate::events::decoder::DecoderOptions;
use crate::events::format::Format;
use crate::events::error::DecodeError;
use super::text_header::TextHeader;
use super::records::{RecordBody, RecordDecoder};
use crate::events::{Event, Resolution, Trigger};

use super::prophesee::PropheseeHeader;

/// The EVT 3.0 decoder.
pub type Evt3Decoder = RecordDecoder<Evt3Body, 2>;

/// EVT 3.0 decoding state between chunks (the `RecordBody` of [`Evt3Decoder`]).
#[derive(Default)]
pub struct Evt3Body {
    header: PropheseeHeader,
    started: bool,
    base: u64,
    time: u64,
    loops: u64,
    y: u16,
    base_x: u16,
    polarity: bool,
}

const MAX_BASE: u64 = ((1 << 12) - 1) << 12;
const LOOP: u64 = MAX_BASE + (1 << 12);
const LOOP_THRESHOLD: u64 = 10 << 12;
/// Words decoded per output reservation (each word yields at most 12 events).
const BLOCK_WORDS: usize = 1 << 16;

impl Evt3Decoder {
    pub fn new(options: DecoderOptions) -> Self {
        RecordDecoder::with_body(
            Some(TextHeader::new(b'%', Some(b"% end"))),
            options,
            Evt3Body::default(),
        )
    }
}

/// Word types handled off the branch-free path: vectors, TIME_HIGH, EXT_TRIGGER.
const RARE_KINDS: u16 = 1 << 0x4 | 1 << 0x5 | 1 << 0x8 | 1 << 0xA;

impl Evt3Body {
    /// Decodes whole words. The frequent words (ADDR_Y, ADDR_X, TIME_LOW, VECT_BASE_X) come in a
    /// data-dependent order a branch predictor cannot learn, so they run without branches: every
    /// word writes a candidate event that is kept only for ADDR_X, and the state updates are
    /// selects. The rest branch.
    #[inline]
    fn block(&mut self, mut words: &[[u8; 2]], out: &mut Vec<Event>, triggers: &mut Vec<Trigger>) {
        if !self.started {
            let Some(first) = words.iter().position(|w| u16::from_le_bytes(*w) >> 12 == 0x8) else { return };
            let value = u16::from_le_bytes(words[first]) & 0x0FFF;
            self.started = true;
            self.base = u64::from(value) << 12;
            self.time = self.base;
            words = &words[first + 1..];
        }
        let mut writer = SpareWriter::new(out, words.len() * 12);
        // State in locals (the writer's raw pointer could alias `self`), y and the vector base
        // (x, polarity) kept packed, ready to be OR-ed into an event.
        let (mut base, mut time, mut loops) = (self.base, self.time, self.loops);
        let mut row = pack(0, self.y, false);
        let mut vector = pack(self.base_x, 0, self.polarity);
        for &word in words {
            let w = u16::from_le_bytes(word);
            let (kind, value) = (w >> 12, w & 0x0FFF);
            // x and polarity of ADDR_X and VECT_BASE_X
            let x_p = pack(value & 0x7FF, 0, value & 0x800 != 0);
            writer.push_packed_if(time, x_p | row, kind == 0x2);
            row = select(kind == 0x0, pack(0, value & 0x7FF, false), row);
            time = select(kind == 0x6, base + u64::from(value), time);
            vector = select(kind == 0x3, x_p, vector);
            if RARE_KINDS >> kind & 1 == 0 {
                continue;
            }
            match kind {
                0x4 | 0x5 => {
                    let (mut bits, width) = if kind == 0x4 { (value, 12) } else { (value & 0xFF, 8) };
                    let (base_x, p_row) = (vector as u16, vector & !0xFFFF | row);
                    if bits & bits.wrapping_sub(1) == 0 {
                        // Zero or one event, the usual case: one candidate, no loop.
                        let x = base_x.wrapping_add(bits.trailing_zeros() as u16);
                        writer.push_packed_if(time, pack(x, 0, false) | p_row, bits != 0);
                    } else {
                        while bits != 0 {
                            let x = base_x.wrapping_add(bits.trailing_zeros() as u16);
                            bits &= bits - 1;
                            writer.push_packed(time, pack(x, 0, false) | p_row);
                        }
                    }
                    vector = vector & !0xFFFF | pack(base_x.wrapping_add(width), 0, false);
                }
                0x8 => {
                    let mut next = (u64::from(value) << 12) + loops * LOOP;
                    if base > next && base - next >= MAX_BASE - LOOP_THRESHOLD {
                        next += LOOP;
                        loops += 1;
                    }
                    base = next;
                    time = next;
                }
                _ => triggers.push(Trigger { t: time, channel: ((value >> 8) & 0xF) as u8, rising: value & 1 == 1 }),
            }
        }
        (self.base, self.time, self.loops) = (base, time, loops);
        (self.y, self.base_x, self.polarity) = ((row >> 16) as u16, vector as u16, vector >> 32 != 0);
    }
}

#[inline(always)]
fn select<T>(condition: bool, yes: T, no: T) -> T {
    std::hint::select_unpredictable(condition, yes, no)
}

impl RecordBody<2> for Evt3Body {
    const FORMAT: Format = Format::Evt3;
    const RECORD: &'static str = "EVT3 word";

    fn on_header(&mut self, header: &TextHeader) -> Result<(), DecodeError> {
        self.header = PropheseeHeader::parse(header);
        match self.header.evt_version().as_deref() {
            None | Some("3.0") | Some("3") => Ok(()),
            Some(other) => Err(DecodeError::Unsupported {
                format: Format::Evt3,
                reason: format!("the header declares EVT {other}, not EVT 3.0"),
            }),
        }
    }

    fn on_records(&mut self, records: &[u8], _offset: u64, out: &mut Vec<Event>, triggers: &mut Vec<Trigger>) -> Result<(), DecodeError> {
        for block in records.as_chunks::<2>().0.chunks(BLOCK_WORDS) {
            self.block(block, out, triggers);
        }
        Ok(())
    }

    fn sensor(&self) -> Option<Resolution> {
        self.header.resolution
    }

    fn metadata(&self) -> Vec<(String, String)> {
        super::prophesee::metadata(&self.header)
    }
}
