//! The format registry: the one table from a [`Format`] to its decoder. Adding a format means a
//! module in [`super::formats`], a [`Format`] variant, a line here and a signature in
//! [`super::detect`].

use super::decoder::{Decoder, DecoderOptions};
use super::format::Format;
use super::formats::{aedat2, aedat4, aedat31, atis, dat, evt2, evt3};

/// A decoder for `format`.
pub fn new_decoder(format: Format, options: DecoderOptions) -> Box<dyn Decoder> {
    match format {
        Format::Aedat4 => Box::new(aedat4::Aedat4Decoder::file(options)),
        Format::Aedat4Stream => Box::new(aedat4::Aedat4Decoder::stream(options)),
        Format::Aedat31 => Box::new(aedat31::Aedat31Decoder::new(options)),
        Format::Aedat2 => Box::new(aedat2::Aedat2Decoder::new(options)),
        Format::Evt2 => Box::new(evt2::Evt2Decoder::new(options)),
        Format::Evt3 => Box::new(evt3::Evt3Decoder::new(options)),
        Format::Dat => Box::new(dat::DatDecoder::new(options)),
        Format::AtisBin => Box::new(atis::AtisDecoder::new(options)),
    }
}
