//! Mutation fuzzing without cargo-fuzz (ignored by default; a few minutes of CPU): random
//! byte flips, insertions, deletions and repeats of the committed seeds (`fuzz/seeds/`) through
//! the fuzz targets' bodies, and models that load are stepped on the CPU engine. A crash is
//! written to /tmp as `crash_<target>_<n>` for a seed. `FUZZ_SECS` sets the seconds per target.
//!
//! `cargo test --release --test fuzz_mutate -- --ignored --nocapture`

#[path = "../fuzz/src/lib.rs"]
mod bodies;

use std::time::{Duration, Instant};

fn rng(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E3779B97F4A7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

fn mutate(seed: &[u8], s: &mut u64) -> Vec<u8> {
    let mut m = seed.to_vec();
    let n = 1 + rng(s) % 8;
    for _ in 0..n {
        if m.is_empty() {
            m.push(0);
        }
        let at = (rng(s) as usize) % m.len();
        match rng(s) % 6 {
            0 => m[at] ^= 1 << (rng(s) % 8),
            1 => m[at] = rng(s) as u8,
            2 => m[at] = [0u8, 0xFF, b'9', b'0', b'-', b'e', b'{', b'"'][(rng(s) % 8) as usize],
            3 => m.insert(at, rng(s) as u8),
            4 => drop(m.remove(at)),
            _ => {
                let end = (at + (rng(s) % 16) as usize).min(m.len());
                let piece = m[at..end].to_vec();
                m.splice(at..at, piece);
            }
        }
    }
    m
}

fn run(target: &str, body: fn(&[u8]), secs: u64) {
    let secs = std::env::var("FUZZ_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(secs);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
    let mut s = 12345u64;
    let start = Instant::now();
    let (mut n, mut crashes) = (0u64, 0u64);
    while start.elapsed() < Duration::from_secs(secs) {
        let seed = &seeds[(rng(&mut s) as usize) % seeds.len()];
        let m = mutate(seed, &mut s);
        let r = std::panic::catch_unwind(|| body(&m));
        if r.is_err() {
            crashes += 1;
            let path = format!("/tmp/crash_{target}_{n}");
            std::fs::write(&path, &m).unwrap();
            eprintln!("CRASH {target}: {path}");
        }
        n += 1;
    }
    eprintln!("{target}: {n} executions in {secs} s, {crashes} crashes");
    assert_eq!(crashes, 0, "{target}: crashes written to /tmp");
}

fn model_and_step(data: &[u8]) {
    use spikestream::engine::Backend;
    if let Ok(m) = spikestream::model::Model::from_bytes(data, "f", &spikestream::model::MetaOverrides::default()) {
        // Valid but big models would only be slow.
        if m.graph.input.len() > 1 << 16 || m.graph.nodes.iter().any(|n| n.shape.len() > 1 << 18) {
            return;
        }
        let mut cpu = spikestream::engine::cpu::CpuBackend::new(&m.graph, 2);
        let input: Vec<f32> = (0..2 * m.graph.input.len()).map(|i| (i % 3) as f32).collect();
        for t in 0..m.graph.timesteps.min(3) {
            let _ = cpu.step(&input, &[t, t], true);
        }
        let _ = spikestream::frames::framing::Framing::from_json(m.meta.framing.as_ref(), m.meta.timesteps);
    }
}

#[test]
#[ignore = "minutes of CPU; run by hand"]
fn mutated_models_load_and_step_without_panic() {
    run("load_model", model_and_step, 60);
}

#[test]
#[ignore = "minutes of CPU; run by hand"]
fn mutated_headers_models_and_npy_parse_without_panic() {
    run("load_model", bodies::load_model, 40);
    run("parse_ioheader", bodies::parse_ioheader, 25);
    run("read_npy", bodies::read_npy, 15);
}
