#![no_main]
use libfuzzer_sys::fuzz_target;
use spikestream::events::Format;

fuzz_target!(|data: &[u8]| spikestream_fuzz::decode_in_chunks(Format::Aedat2, data));
