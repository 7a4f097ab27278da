//! Shared bodies of the fuzz targets. The decoders: decode the input in chunks whose size comes
//! from its length, and check the decoder's promises (no panic, errors carry a message, chunking
//! never changes a successful decode). The parsers of what else comes from outside: the AEDAT4
//! IOHeader and its info XML, a safetensors model (metadata, framing, graph, tensors) and an
//! `.npy` array: no panic, no allocation past the limits of `spikestream::limits`, and what they
//! accept is usable. `tests/fuzz_seeds.rs` replays the committed seeds (`fuzz/seeds/`) through
//! these same bodies in the normal test run.

use spikestream::events::formats::aedat4::IoHeader;
use spikestream::events::{DecoderOptions, Format, new_decoder};
use spikestream::frames::npy;
use spikestream::model::{MetaOverrides, Model};

/// The IOHeader flatbuffer and its info XML (nesting, attributes, sizes), then the same bytes
/// as the start of a DV network stream (length prefix added).
pub fn parse_ioheader(data: &[u8]) {
    if let Ok(header) = IoHeader::parse(data) {
        for stream in &header.streams {
            assert!(stream.resolution.is_none_or(|r| r.width > 0 && r.height > 0), "a zero-sized stream was accepted");
        }
    }
    let mut stream = (data.len() as u32).to_le_bytes().to_vec();
    stream.extend_from_slice(data);
    decode_in_chunks(Format::Aedat4Stream, &stream);
}

/// A model file: metadata (arch, timesteps, input, framing, neuron, graph) and tensors. A model
/// that loads has a finite graph whose layers all fit one sample.
pub fn load_model(data: &[u8]) {
    if let Ok(model) = Model::from_bytes(data, "fuzz.safetensors", &MetaOverrides::default()) {
        assert!(model.graph.check_batch(1, "batch").is_ok(), "a loaded model's layers are over the tensor limit");
        assert!(model.meta.timesteps as u64 <= spikestream::limits::MAX_TIMESTEPS);
    }
}

/// An `.npy` array: the shape is checked before allocating, and an accepted array is finite
/// and as long as its shape says.
pub fn read_npy(data: &[u8]) {
    if let Ok(array) = npy::read(data) {
        assert_eq!(array.shape.iter().product::<usize>(), array.data.len());
        assert!(array.data.iter().all(|v| v.is_finite()));
    }
}

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
