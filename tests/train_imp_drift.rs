//! `spikestream train --imp-lr-mult` and the IMP drift report (feature `train`, Flex): the same
//! one-step run (same seed, batch and dropout masks) with the IMP learning rate multiplied by 4
//! moves the IMPs 4 times as far, the report lands in the CSV log, `MODEL.imp_drift.json` and one
//! printed line per IMP layer, and the multiplier is recorded in the model's metadata.
#![cfg(feature = "train")]

use std::path::Path;
use std::process::Command;

fn spikestream(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    assert!(out.status.success(), "spikestream {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn train(data: &Path, out: &Path, mult: &str) -> (String, serde_json::Value) {
    let printed = spikestream(&[
        "train", "--arch", "vgg11_48_legacy", "--width-div", "16", "--size", "16x16", "--timesteps", "4", "--epochs", "1", "--batch", "4",
        "--max-steps", "1", "--lr", "0.05", "--warmup-epochs", "0", "--augment", "none", "--device", "flex", "--quiet", "--seed", "3",
        "--imp-lr-mult", mult, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.with_extension("imp_drift.json")).unwrap()).unwrap();
    (printed, json)
}

#[test]
fn imp_lr_mult_scales_the_imp_drift_and_the_drift_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    spikestream(&["simulate", "--out", data.to_str().unwrap(), "--per-class", "4", "--classes", "bar_left,bar_right", "--split", "0.5", "--size", "16x16", "--duration-ms", "80", "--seed", "5"]);
    let (one, four) = (tmp.path().join("one.safetensors"), tmp.path().join("four.safetensors"));
    let (printed, drift1) = train(&data, &one, "1");
    let (_, drift4) = train(&data, &four, "4");
    let layers1 = drift1[0]["layers"].as_array().unwrap();
    let layers4 = drift4[0]["layers"].as_array().unwrap();
    assert_eq!(layers1.len(), 8, "one drift entry per IMP layer of vgg11_48_legacy");
    assert_eq!(printed.lines().filter(|l| l.starts_with("IMP drift features.")).count(), 8, "printed: {printed}");
    let mut moved = 0;
    for (a, b) in layers1.iter().zip(layers4) {
        assert_eq!(a["name"], b["name"]);
        let (m1, m4) = (a["mean_abs"].as_f64().unwrap(), b["mean_abs"].as_f64().unwrap());
        let hist: u64 = a["histogram"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(hist, a["values"].as_u64().unwrap(), "the histogram counts every IMP value");
        if m1 > 1e-6 {
            moved += 1;
            assert!((m4 / m1 - 4.0).abs() < 0.01, "{}: drift {m4} with --imp-lr-mult 4 vs {m1}", a["name"]);
        }
    }
    assert!(moved >= 1, "no IMP moved in one step: {layers1:?}");
    let header = std::fs::read_to_string(one.with_extension("log.csv")).unwrap();
    let row: Vec<&str> = header.lines().nth(1).unwrap().split(',').collect();
    assert!(header.starts_with("epoch,") && header.lines().next().unwrap().ends_with(",imp_drift"));
    assert!(row[7].parse::<f64>().unwrap() > 0.0, "CSV drift column: {row:?}");
    let meta = |p: &Path| safetensors::SafeTensors::read_metadata(&std::fs::read(p).unwrap()).unwrap().1.metadata().clone().unwrap_or_default();
    assert_eq!(meta(&four).get("imp_lr_mult").map(String::as_str), Some("4"));
    assert!(!meta(&one).contains_key("imp_lr_mult"), "the reference's 1 is not marked as a deviation");
}

#[test]
fn a_negative_imp_lr_mult_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["train", "--data", tmp.path().to_str().unwrap(), "--out", tmp.path().join("m.safetensors").to_str().unwrap(), "--imp-lr-mult=-1", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--imp-lr-mult -1"), "stderr: {err}");
}
