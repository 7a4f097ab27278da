//! Where two backends part: runs a model on the CPU and on the GPU backend (or the CPU twice,
//! once per conv mode of interest) over the frames of a `.npy` `[T, C, H, W]` and prints, per
//! timestep and neuron layer, how many outputs differ and by how much.
//!
//! ```text
//! cargo run --release --example layer_diff -- MODEL.safetensors FRAMES.npy
//! ```

use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::GpuBackend;
use spikestream::model::{MetaOverrides, Model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, frames_path] = args.as_slice() else {
        return Err("usage: layer_diff MODEL FRAMES.npy".into());
    };
    let model = Model::load(std::path::Path::new(model_path), &MetaOverrides::default())?;
    let frames = spikestream::frames::npy::read(&std::fs::read(frames_path)?)?;
    let t_len = frames.shape[0];
    let per = frames.data.len() / t_len;
    let mut cpu = CpuBackend::new(&model.graph, 1);
    let mut gpu = GpuBackend::new(&model.graph, 1)?;
    cpu.reset_all();
    gpu.reset_all();
    for t in 0..t_len {
        let x = &frames.data[t * per..(t + 1) * per];
        let (a, b) = (cpu.step(x, &[t], true)?.unwrap_or_default(), gpu.step(x, &[t], true)?.unwrap_or_default());
        let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        println!("t={t} output: max |cpu - gpu| {worst:.3e}");
        for node in model.graph.neuron_nodes() {
            let (p, q) = (cpu.last_spikes(node)?, gpu.last_spikes(node)?);
            let differ = p.iter().zip(&q).filter(|(u, v)| u.to_bits() != v.to_bits()).count();
            if differ > 0 {
                let worst = p.iter().zip(&q).map(|(u, v)| (u - v).abs()).fold(0f32, f32::max);
                let first: Vec<usize> = (0..p.len()).filter(|&i| p[i].to_bits() != q[i].to_bits()).take(3).collect();
                println!("  {} ({}): {differ} of {} differ, max {worst:.3e}; first at [C,H,W] index {first:?}", model.graph.nodes[node].name, node, p.len());
            }
        }
    }
    Ok(())
}
