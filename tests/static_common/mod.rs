//! What the static-input tests share: synthetic static models (a random architecture preset
//! whose metadata says `input: static CxHxW`), seeded images, and PNG files written with the
//! `png` crate.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use spikestream::model::synth::{SynthSpec, synth_model_bytes};

/// Model bytes of `arch` (random weights, seeded) with `changes` applied to its metadata.
pub fn model_bytes(arch: &str, input: [usize; 3], timesteps: usize, changes: &[(&str, &str)]) -> Vec<u8> {
    let spec = SynthSpec { arch: arch.into(), num_classes: 4, timesteps, input, width_div: 16, imp: true, seed: 7 };
    let bytes = synth_model_bytes(&spec).expect("synthetic model");
    restamp(&bytes, changes)
}

/// A static model: `input` is `static CxHxW`, with the given `mean` and `std` (JSON).
pub fn static_model(arch: &str, input: [usize; 3], timesteps: usize, mean: &str, std: &str) -> Vec<u8> {
    let [c, h, w] = input;
    let text = format!("static {c}x{h}x{w}");
    model_bytes(arch, input, timesteps, &[("input", &text), ("mean", mean), ("std", std), ("classes", r#"["a","b","c","d"]"#)])
}

/// The same tensors with metadata keys replaced (an empty value removes the key).
pub fn restamp(bytes: &[u8], changes: &[(&str, &str)]) -> Vec<u8> {
    let mut meta: HashMap<String, String> = safetensors::SafeTensors::read_metadata(bytes).unwrap().1.metadata().clone().unwrap_or_default();
    for (k, v) in changes {
        if v.is_empty() {
            meta.remove(*k);
        } else {
            meta.insert(k.to_string(), v.to_string());
        }
    }
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    safetensors::serialize(st.tensors(), Some(meta)).unwrap()
}

/// SplitMix64 bytes: seeded pixels.
pub fn pixels(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    (0..n).map(|_| (spikestream::rng::splitmix64(&mut state) >> 56) as u8).collect()
}

/// Writes an 8-bit PNG of `color` (`[H, W, S]` interleaved samples).
pub fn write_png(path: &Path, width: u32, height: u32, color: png::ColorType, samples: &[u8]) {
    write_png_depth(path, width, height, color, png::BitDepth::Eight, samples);
}

pub fn write_png_depth(path: &Path, width: u32, height: u32, color: png::ColorType, depth: png::BitDepth, samples: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(samples).unwrap();
}

/// `[H, W, C]` interleaved bytes → `[C, H, W]` values in `[0, 1]` (x / 255, as `ToTensor`).
pub fn planar(samples: &[u8], channels: usize) -> Vec<f32> {
    let px = samples.len() / channels;
    (0..channels).flat_map(|c| (0..px).map(move |p| f32::from(samples[p * channels + c]) / 255.0)).collect()
}
