//! jAER AEDAT 2.0: `#` header lines (no end marker: the body starts at the first line that does
//! not begin with `#`), then 8-byte big-endian records `u32 address`, `u32 timestamp (µs)`.
//!
//! The address layout depends on the chip named by `# AEChip:` (or [`DecoderOptions`]):
//! - DVS128 (CIFAR10-DVS): bit 0 polarity (1 = ON), bits 1–7 x, bits 8–14 y, bit 15 special;
//! - DAVIS: bit 31 set = APS/IMU sample, bit 10 set = special event; else x = bits 12–21,
//!   y = bits 22–30, polarity = bit 11.
//! Non-polarity words are skipped. Coordinates stay raw (jAER's origin is bottom-left; datasets
//! that flip or transpose do so in their own transform). The 32-bit timestamp is unwrapped: a
//! drop of more than 2^31 µs adds 2^32 µs. AEDAT 1.0 (6-byte records) is refused clearly.

use super::carry::{SpareWriter, pack};
use crate::events::decoder::DecoderOptions;
use crate::events::format::{Aedat2Layout, Format};
use crate::events::error::DecodeError;
use super::text_header::TextHeader;
use super::records::{RecordBody, RecordDecoder};
use crate::events::{Event, Resolution, Trigger};

/// The AEDAT 2.0 decoder.
pub type Aedat2Decoder = RecordDecoder<Aedat2Body, 8>;

/// AEDAT 2.0 decoding state between chunks (the `RecordBody` of [`Aedat2Decoder`]).
pub struct Aedat2Body {
    options: DecoderOptions,
    layout: Aedat2Layout,
    chip: Option<String>,
    chip_resolution: Option<Resolution>,
    layout_assumed: bool,
    last_raw_t: u32,
    wraps: u64,
    skipped: u64,
}

impl Aedat2Decoder {
    pub fn new(options: DecoderOptions) -> Self {
        let body = Aedat2Body {
            options,
            layout: options.aedat2_layout.unwrap_or(Aedat2Layout::Dvs128),
            chip: None,
            chip_resolution: None,
            layout_assumed: options.aedat2_layout.is_none(),
            last_raw_t: 0,
            wraps: 0,
            skipped: 0,
        };
        RecordDecoder::with_body(Some(TextHeader::new(b'#', None)), options, body)
    }
}

/// Address layout and sensor size of a jAER chip class name.
fn chip_geometry(chip: &str) -> Option<(Aedat2Layout, Resolution)> {
    let c = chip.to_ascii_lowercase();
    let davis: [(&str, (u16, u16)); 5] =
        [("davis240", (240, 180)), ("davis346", (346, 260)), ("davis640", (640, 480)), ("davis208", (208, 192)), ("davis128", (128, 128))];
    if c.contains("dvs128") || c.contains("tmpdiff128") {
        return Some((Aedat2Layout::Dvs128, Resolution::new(128, 128)));
    }
    davis.iter().find(|(k, _)| c.contains(k)).map(|&(_, (w, h))| (Aedat2Layout::Davis, Resolution::new(w, h)))
}

impl RecordBody<8> for Aedat2Body {
    const FORMAT: Format = Format::Aedat2;
    const RECORD: &'static str = "AEDAT2 record";

    fn on_header(&mut self, header: &TextHeader) -> Result<(), DecodeError> {
        for line in header.lines() {
            if line.starts_with("!AER-DAT1") {
                return Err(DecodeError::Unsupported {
                    format: Format::Aedat2,
                    reason: "AEDAT 1.0 (6-byte records) is not supported; convert it to AEDAT 2.0 with jAER".into(),
                });
            }
            if let Some(chip) = line.strip_prefix("AEChip:") {
                self.chip = Some(chip.trim().to_string());
            }
        }
        if let Some((layout, resolution)) = self.chip.as_deref().and_then(chip_geometry) {
            self.chip_resolution = Some(resolution);
            if self.options.aedat2_layout.is_none() {
                self.layout = layout;
                self.layout_assumed = false;
            }
        }
        Ok(())
    }

    fn on_records(&mut self, records: &[u8], _offset: u64, out: &mut Vec<Event>, _triggers: &mut Vec<Trigger>) -> Result<(), DecodeError> {
        let (records, _) = records.as_chunks::<8>();
        let mut writer = SpareWriter::new(out, records.len());
        let (mut last, mut wraps, mut skipped) = (self.last_raw_t, self.wraps, 0u64);
        let davis = self.layout == Aedat2Layout::Davis;
        for &r in records {
            let r = u64::from_be_bytes(r);
            let (a, raw_t) = ((r >> 32) as u32, r as u32);
            if raw_t < last && last - raw_t > 1 << 31 {
                wraps += 1;
            }
            last = raw_t;
            let t = (wraps << 32) | u64::from(raw_t);
            let low = if davis {
                if a & 0x8000_0400 != 0 {
                    skipped += 1;
                    continue;
                }
                pack(((a >> 12) & 0x3FF) as u16, ((a >> 22) & 0x1FF) as u16, a & 0x800 != 0)
            } else {
                if a & 0x8000 != 0 {
                    skipped += 1;
                    continue;
                }
                pack(((a >> 1) & 0x7F) as u16, ((a >> 8) & 0x7F) as u16, a & 1 == 1)
            };
            writer.push_packed(t, low);
        }
        (self.last_raw_t, self.wraps) = (last, wraps);
        self.skipped += skipped;
        Ok(())
    }

    fn sensor(&self) -> Option<Resolution> {
        self.chip_resolution
    }

    fn metadata(&self) -> Vec<(String, String)> {
        let mut m = vec![];
        if let Some(chip) = &self.chip {
            m.push(("chip".into(), chip.clone()));
        }
        let layout = match self.layout {
            Aedat2Layout::Dvs128 => "dvs128",
            Aedat2Layout::Davis => "davis",
        };
        let assumed = if self.layout_assumed { " (assumed: header names no known chip)" } else { "" };
        m.push(("address layout".into(), format!("{layout}{assumed}")));
        m.push(("non-polarity records skipped".into(), self.skipped.to_string()));
        m
    }
}
