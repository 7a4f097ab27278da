//! The fuzz targets' bodies (`fuzz/src/lib.rs`) run over their committed seeds (`fuzz/seeds/`)
//! and over the crafted inputs of issue 13, in the normal test run: the bodies compile and keep
//! their promises without cargo-fuzz, and a crash the fuzzer finds becomes a seed here.

#[path = "../fuzz/src/lib.rs"]
mod bodies;

use std::path::Path;

use spikestream::model::{MetaOverrides, Model};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn parse_ioheader_seeds_and_xml_nested_20000_deep() {
    for seed in seeds("parse_ioheader") {
        assert!(spikestream::events::formats::aedat4::IoHeader::parse(&seed).is_ok(), "a seed is a valid IOHeader");
        bodies::parse_ioheader(&seed);
    }
    let deep = format!("{}{}", "<n>".repeat(20_000), "</n>".repeat(20_000));
    bodies::parse_ioheader(&spikestream::events::formats::aedat4::IoHeader::build(spikestream::events::formats::aedat4::Compression::None, -1, &deep));
}

#[test]
fn load_model_seeds_load_and_every_byte_flip_is_survived() {
    for seed in seeds("load_model") {
        Model::from_bytes(&seed, "seed.safetensors", &MetaOverrides::default()).unwrap();
        bodies::load_model(&seed);
        // A cheap stand-in for the fuzzer: every single-byte change of the small seeds.
        for i in 0..seed.len() {
            for v in [0u8, b'9', 0xFF] {
                let mut m = seed.clone();
                m[i] = v;
                bodies::load_model(&m);
            }
        }
    }
}

#[test]
fn read_npy_seeds_and_a_shape_whose_size_wraps() {
    for seed in seeds("read_npy") {
        assert!(spikestream::frames::npy::read(&seed).is_ok());
        bodies::read_npy(&seed);
        for cut in 0..seed.len() {
            bodies::read_npy(&seed[..cut]);
        }
    }
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bodies::read_npy(&bytes);
}

/// Every input a cargo-fuzz campaign crashed on (`fuzz/regressions/<target>/`, named after the
/// bug) runs through its target's body: each stays fixed.
#[test]
fn fuzz_crashes_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut ran = 0;
    for (target, format) in [("decode_aedat4", spikestream::events::Format::Aedat4)] {
        for file in std::fs::read_dir(dir.join(target)).unwrap() {
            let data = std::fs::read(file.unwrap().path()).unwrap();
            bodies::decode_in_chunks(format, &data);
            ran += 1;
        }
    }
    // 2026-12-06, decode_aedat4: an LZ4 event packet whose flatbuffer has no event vector made
    // the offset of the records wrap (packet.rs), and the copy after it panicked.
    assert!(ran >= 1);
}
