//! A short training run end to end (feature `train`, burn's Flex CPU backend): `simulate` writes a
//! tiny two-class dataset, `train` lowers the loss and writes a model file with full metadata,
//! `--resume` continues from the checkpoint, `eval` reports accuracy per timestep, and the
//! engine runs the trained file with the same predictions and spike rates as the burn network.
#![cfg(feature = "train")]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use spikestream::engine::cpu::CpuBackend;
use spikestream::frames::framing::Framing;
use spikestream::model::{MetaOverrides, Model};
use spikestream::train::data::{Augment, FrameCache, Loader, discover};
use spikestream::train::net::{FoldedNet, TrainOptions};

fn spikestream(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    assert!(out.status.success(), "spikestream {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn make_dataset(dir: &Path) {
    let d = dir.to_str().unwrap();
    spikestream(&["simulate", "--out", d, "--per-class", "8", "--classes", "bar_left,bar_right", "--split", "0.75", "--size", "32x32", "--duration-ms", "120", "--seed", "5"]);
}

fn train_args<'a>(data: &'a str, out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train", "--arch", "vgg11_48_legacy", "--width-div", "16", "--size", "16x16", "--timesteps", "4", "--epochs", epochs, "--batch", "4",
        "--lr", "0.05", "--warmup-epochs", "0", "--crop-padding", "0", "--device", "flex", "--quiet", "--data", data, "--out", out,
    ]
}

fn log_rows(out: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(out.with_extension("log.csv")).unwrap();
    text.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn training_lowers_the_loss_and_the_engine_runs_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data);
    let out = tmp.path().join("model.safetensors");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let printed = spikestream(&train_args(d, o, "8"));
    assert!(printed.contains("best epoch"), "train output: {printed}");
    let rows = log_rows(&out);
    assert_eq!(rows.len(), 8, "one log row per epoch");
    let losses: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(losses.iter().all(|l| l.is_finite()));
    let late = losses[5..].iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(late < 0.8 * losses[0], "training did not lower the loss: {losses:?}");

    // Resume continues the same run.
    spikestream(&{
        let mut a = train_args(d, o, "9");
        a.push("--resume");
        a
    });
    assert_eq!(log_rows(&out).len(), 9, "--resume appends epoch 9 to the log");
    // The curves beside the log are redrawn each epoch (a PNG of the plot's size).
    let curves = tmp.path().join("model.curves.png");
    let png = std::fs::read(&curves).unwrap_or_else(|e| panic!("{}: {e}", curves.display()));
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!((u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())), (720, 440));

    // The model file carries everything classify needs.
    let model = Model::load(&out, &MetaOverrides::default()).unwrap();
    assert_eq!(model.meta.classes, ["bar_left", "bar_right"]);
    assert_eq!(model.meta.timesteps, 4);
    assert!(model.meta.framing.is_some());
    let plots = tmp.path().join("plots");
    let classify = spikestream(&["classify", o, &format!("{d}/test"), "--labels-from-dirs", "--backend", "cpu", "--decode", "per-step", "--plot", plots.to_str().unwrap()]);
    assert!(classify.contains("bar_"), "classify output: {classify}");
    for chart in ["confusion.png", "accuracy_per_step.png", "spike_rates.png"] {
        assert!(std::fs::read(plots.join(chart)).is_ok_and(|b| &b[1..4] == b"PNG"), "classify --plot wrote no {chart}");
    }
    let eval_plots = tmp.path().join("eval_plots");
    spikestream(&["eval", o, d, "--device", "flex", "--plot", eval_plots.to_str().unwrap()]);
    assert!(eval_plots.join("confusion.png").is_file() && eval_plots.join("spike_rates.png").is_file(), "eval --plot");

    // eval reports accuracy at every timestep.
    let report: serde_json::Value = serde_json::from_str(&spikestream(&["eval", o, d, "--json", "--device", "flex"])).unwrap();
    assert_eq!(report["samples"].as_u64(), Some(4));
    assert_eq!(report["accuracy_at"].as_array().unwrap().len(), 4);

    // Same predictions and spike rates in burn and in the engine, sample by sample.
    let dataset = discover(&data).unwrap();
    let framing = Framing::from_json(model.meta.framing.as_ref(), 4).unwrap();
    let cache = Arc::new(FrameCache::new(&tmp.path().join("cache"), framing, "test", model.meta.input));
    let loader = Loader::new(cache, dataset.test.clone(), 1, Augment::None, 0);
    let device = Device::flex();
    let mut burn_net = FoldedNet::new(model.clone(), &TrainOptions::default(), &device);
    let mut engine = CpuBackend::new(&model.graph, 1);
    let neurons = model.graph.neuron_nodes();
    for batch in loader.epoch(0, false) {
        let batch = batch.unwrap();
        let out = burn_net.forward(Tensor::<5>::from_data(TensorData::new(batch.x.clone(), batch.shape), &device));
        let logits = out.logits.into_data().try_into_vec::<f32>().unwrap();
        let k = 2;
        let burn_sum: Vec<f32> = (0..k).map(|j| (0..4).map(|t| logits[t * k + j]).sum()).collect();
        let pred = spikestream::engine::run_frames(&mut engine, &batch.x, 4, k, spikestream::engine::Decode::Mean).unwrap();
        assert_eq!(pred.argmax(0), spikestream::engine::run::argmax(&burn_sum), "prediction differs between burn and the engine");
        for (layer, (node, spikes, _)) in out.spikes.into_iter().enumerate() {
            assert_eq!(node, neurons[layer]);
            let burn_count: f32 = spikes.into_data().try_into_vec::<f32>().unwrap().iter().sum();
            let engine_count = pred.spike_counts[layer] as f32;
            let neurons_total = (model.graph.nodes[node].shape.len() * 4) as f32;
            assert!((burn_count - engine_count).abs() / neurons_total <= 0.01, "layer {}: {burn_count} vs {engine_count} spikes", model.graph.nodes[node].name);
        }
    }
}
