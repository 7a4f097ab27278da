//! `spikestream bench`: the JSON keys scripts rely on, the per-layer report on both backends and
//! the `--trace` file (Chrome trace events). The GPU cases run on whatever adapter wgpu finds
//! (lavapipe in CI) and print "skipped" without one, except under CI, where they fail.

mod common;

use std::process::Command;

use serde_json::Value;

/// A tiny random vgg11_48_legacy (widths ÷ 16, T = 4): seconds on lavapipe.
const SMALL: &[&str] = &["bench", "--arch", "vgg11_48_legacy", "--width-div", "16", "--timesteps", "4", "--steps", "8", "--warmup", "1", "--profile-steps", "4"];

fn bench(backend: &str, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(SMALL).args(["--backend", backend]).args(extra).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn bench_json(backend: &str, extra: &[&str]) -> Value {
    let (ok, out, err) = bench(backend, &[&["--json"], extra].concat());
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Whether a GPU adapter exists; `false` prints why the test is skipped (a failure under CI).
fn have_gpu() -> bool {
    if !spikestream::engine::gpu::GpuContext::adapters().is_empty() {
        return true;
    }
    assert!(!common::in_ci(), "GPU bench tests need an adapter (CI installs lavapipe with scripts/setup-lavapipe.sh)");
    eprintln!("skipped: no GPU adapter");
    false
}

/// The 8 neuron layers of vgg11_48_legacy (the layer names of the reference model).
const NEURONS: [&str; 8] = ["features.1", "features.3", "features.6", "features.8", "features.11", "features.13", "features.16", "features.18"];

/// Keys and values every backend reports, and a per-layer table that covers the network.
fn check_common(v: &Value) {
    for key in ["p50_ms_per_timestep", "p99_ms_per_timestep", "min_ms_per_timestep", "samples_per_s", "flops_per_timestep", "achieved_gflops", "sops_per_timestep"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} = {}", v[key]);
    }
    assert!(v["p99_ms_per_timestep"].as_f64() >= v["p50_ms_per_timestep"].as_f64());
    assert_eq!(v["timesteps_measured"], 8);
    assert_eq!(v["timesteps_profiled"], 4);
    assert!(v["adapter"].as_str().is_some_and(|a| !a.is_empty()));
    let rates = v["spike_rates"].as_array().unwrap();
    assert_eq!(rates.iter().map(|r| r[0].as_str().unwrap()).collect::<Vec<_>>(), NEURONS);
    let layers = v["layers"].as_array().unwrap();
    for l in layers {
        assert!(l["name"].is_string() && l["op"].is_string() && l["ms_p50"].as_f64().is_some_and(|x| x >= 0.0), "{l}");
    }
    // Every neuron layer appears once, with the spike rate the report gives for it: a layer of
    // its own (CPU, unfused GPU plans) or a fused "conv+neuron" dispatch (the GPU's fused plan).
    let neuron_of = |l: &Value| -> Option<String> {
        let name = l["name"].as_str().unwrap();
        if l["op"] == "neuron" { Some(name.to_string()) } else { name.split_once('+').map(|(_, n)| n.to_string()) }
    };
    let neurons: Vec<&Value> = layers.iter().filter(|l| neuron_of(l).is_some()).collect();
    assert_eq!(neurons.iter().map(|l| neuron_of(l).unwrap()).collect::<Vec<_>>(), NEURONS);
    for (l, r) in neurons.iter().zip(rates) {
        assert_eq!(l["spike_rate"], r[1]);
    }
    assert_eq!(layers.iter().filter(|l| l["op"].as_str().unwrap().starts_with("conv")).count(), 8, "{layers:?}");
    assert!(layers.last().unwrap()["op"].as_str().unwrap().starts_with("linear"), "{layers:?}");
    let shares: f64 = layers.iter().map(|l| l["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares sum to {shares}");
    let kernels = v["kernel_ms_per_timestep_p50"].as_f64().unwrap();
    assert!(kernels > 0.0);
    let overhead = v["loop_overhead_ratio"].as_f64().unwrap();
    let p50 = v["p50_ms_per_timestep"].as_f64().unwrap();
    assert!((overhead - (p50 / kernels - 1.0)).abs() < 1e-9);
    assert!((v["loop_overhead_ms"].as_f64().unwrap() - (p50 - kernels)).abs() < 1e-9);
}

#[test]
fn cpu_bench_json_has_the_documented_keys_and_a_layer_per_node() {
    let v = bench_json("cpu", &[]);
    check_common(&v);
    assert!(v["backend"].as_str().unwrap().starts_with("cpu"));
    assert!(v["adapter"].as_str().unwrap().starts_with("cpu: "));
    assert_eq!(v["layer_clock"], "cpu_wall");
    assert!(v["gpu_ms_per_timestep_p50"].is_null() && v["gpu_memory_bytes"].is_null());
    assert!(v["dispatches_per_step"].is_null() && v["submits_per_step"].is_null(), "no GPU plan on the CPU");
    assert!(v["sequence_ms_per_timestep_p50"].as_f64().unwrap() > 0.0);
    assert_eq!(v["software_adapter"], false);
    // The CPU backend times every graph node: 8 conv, 8 neuron, 4 pools, flatten, linear.
    assert_eq!(v["layers"].as_array().unwrap().len(), 22);
}

#[test]
fn gpu_bench_reports_gpu_time_per_layer_and_memory() {
    if !have_gpu() {
        return;
    }
    let v = bench_json("gpu", &[]);
    let adapter = v["adapter"].as_str().unwrap();
    assert!(v["backend"].as_str().unwrap().starts_with("gpu: ") && v["backend"].as_str().unwrap().ends_with(adapter));
    // The plan in numbers (issue 12's targets for vgg11_48_legacy at batch 1).
    assert!(v["dispatches_per_step"].as_u64().unwrap() <= 10, "{v}");
    assert_eq!(v["submits_per_step"].as_f64(), Some(1.0), "{v}");
    assert_eq!(v["readbacks_per_sample"].as_f64(), Some(1.0), "{v}");
    assert!(v["max_serial_trips"].as_u64().unwrap() <= 300 && v["bytes_per_step"].as_u64().unwrap() > 0, "{v}");
    assert!(v["sequence_ms_per_timestep_p50"].as_f64().unwrap() > 0.0, "{v}");
    // Buffers: at least the weights (float32) and the 8 neuron layers' membranes.
    assert!(v["gpu_memory_bytes"].as_u64().unwrap() > 4 * 10_000, "{}", v["gpu_memory_bytes"]);
    let timestamps = spikestream::engine::gpu::GpuContext::adapters()[0].timestamps;
    if !timestamps {
        eprintln!("skipped: {adapter} has no timestamp queries");
        assert!(v["layers"].as_array().unwrap().is_empty() && v["layer_clock"].is_null());
        return;
    }
    check_common(&v);
    assert_eq!(v["layer_clock"], "gpu_timestamps");
    assert_eq!(v["gpu_ms_per_timestep_p50"], v["kernel_ms_per_timestep_p50"]);
    let ops: Vec<&str> = v["layers"].as_array().unwrap().iter().map(|l| l["op"].as_str().unwrap()).collect();
    // The fused plan: 8 convolutions with their neurons, the last pool (read by the head), the GEMV.
    assert_eq!(ops, ["conv_fused"; 8].into_iter().chain(["avg_pool", "linear_gemv"]).collect::<Vec<_>>());
}

#[test]
fn text_report_prints_the_layer_table_and_the_loop_overhead() {
    let (ok, out, err) = bench("cpu", &[]);
    assert!(ok, "{err}");
    assert!(out.contains("layers     CPU wall clock, p50 of 4 profiled timesteps:"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(rows.len(), 22, "{out}");
    assert!(rows[0].contains("conv") && rows[0].contains("features.0.conv") && rows[0].contains(" ms "), "{}", rows[0]);
    assert!(rows[1].contains("neuron") && rows[1].contains("spikes "), "{}", rows[1]);
    assert!(out.lines().any(|l| l.starts_with("kernels ") && l.contains("adds")), "{out}");
}

/// The trace file: a Chrome trace-event object whose complete events are the timed timesteps
/// (thread 1) and the profiled timesteps with one event per layer nested in each (thread 2).
fn check_trace(path: &std::path::Path, report: &Value) {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).expect("the trace is JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents array");
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    for e in &complete {
        assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0) && e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
        assert!(e["pid"].is_u64() && e["tid"].is_u64() && e["name"].is_string(), "{e}");
    }
    let timed: Vec<&&Value> = complete.iter().filter(|e| e["tid"] == 1).collect();
    assert_eq!(timed.len(), 8);
    assert!(timed.iter().all(|e| e["name"] == "timestep"));
    // Timed steps follow each other.
    for w in timed.windows(2) {
        assert!(w[1]["ts"].as_f64().unwrap() >= w[0]["ts"].as_f64().unwrap() + w[0]["dur"].as_f64().unwrap() - 1e-3);
    }
    let layers = report["layers"].as_array().unwrap();
    let profiled: Vec<&&Value> = complete.iter().filter(|e| e["tid"] == 2).collect();
    assert_eq!(profiled.len(), 4 * (layers.len() + 1));
    for step in profiled.chunks(layers.len() + 1) {
        let (outer, inner) = (step[0], &step[1..]);
        assert_eq!(outer["name"], "profiled timestep");
        let (start, end) = (outer["ts"].as_f64().unwrap(), outer["ts"].as_f64().unwrap() + outer["dur"].as_f64().unwrap());
        for (e, l) in inner.iter().zip(layers) {
            assert_eq!(e["name"].as_str().unwrap(), format!("{} {}", l["op"].as_str().unwrap(), l["name"].as_str().unwrap()));
            let ts = e["ts"].as_f64().unwrap();
            assert!(ts >= start - 1e-3 && ts + e["dur"].as_f64().unwrap() <= end + 1e-2, "{e} outside {outer}");
        }
    }
    let names: Vec<&str> = events.iter().filter(|e| e["ph"] == "M").map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["process_name", "thread_name", "thread_name"]);
}

#[test]
fn cpu_trace_is_chrome_trace_json_with_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cpu.json");
    let v = bench_json("cpu", &["--trace", path.to_str().unwrap()]);
    check_trace(&path, &v);
}

#[test]
fn gpu_trace_is_chrome_trace_json_with_every_dispatch() {
    if !have_gpu() || !spikestream::engine::gpu::GpuContext::adapters()[0].timestamps {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpu.json");
    let v = bench_json("gpu", &["--trace", path.to_str().unwrap()]);
    check_trace(&path, &v);
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(v["traceEvents"].as_array().unwrap().iter().any(|e| e["name"] == "conv_fused features.0.conv+features.1" && e["cat"] == "gpu"));
}

#[test]
fn an_unwritable_trace_path_is_an_error_naming_it() {
    let (ok, _, err) = bench("cpu", &["--trace", "/nonexistent-dir/t.json"]);
    assert!(!ok && err.contains("/nonexistent-dir/t.json"), "{err}");
}
