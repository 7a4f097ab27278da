//! End-to-end tests of the `spikestream` binary on committed samples.

mod common;

use std::process::Command;

fn spikestream(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inspect_json_has_the_documented_keys_and_values() {
    let file = common::data("evt3_trigger_from_rosbag.raw");
    let (ok, out, err) = spikestream(&["inspect", "--json", path(&file)]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "evt3");
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(1280), Some(720)));
    assert_eq!(v["events"], 82469);
    assert_eq!((v["t_first"].as_u64(), v["t_last"].as_u64()), (Some(14_224_870), Some(15_476_187)));
    assert_eq!(v["on"], 41439);
    assert_eq!(v["monotonic"], true);
    assert_eq!(v["triggers"], 2);
}

#[test]
fn inspect_of_a_truncated_file_summarises_what_decoded_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.aedat4");
    let bytes = std::fs::read(common::data("synthetic_zstd.aedat4")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap(); // inside the second packet
    let (ok, out, err) = spikestream(&["inspect", path(&cut)]);
    assert!(!ok);
    assert!(out.contains("events      1000"), "{out}");
    assert!(err.contains("cut.aedat4") && err.contains("at byte"), "{err}");
}

#[test]
fn convert_to_csv_npy_and_aedat4_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::data("dvxplorer_rollover_aedat31.aedat");
    let (csv, npy, aedat) = (dir.path().join("e.csv"), dir.path().join("e.npy"), dir.path().join("e.aedat4"));
    for out in [&csv, &npy, &aedat] {
        let (ok, _, err) = spikestream(&["convert", path(&input), path(out)]);
        assert!(ok, "{err}");
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t,x,y,p"));
    assert_eq!(lines.next(), Some("2146490012,233,349,1"));
    assert_eq!(text.lines().count(), 334_331 + 1);
    let npy_bytes = std::fs::read(&npy).unwrap();
    assert!(String::from_utf8_lossy(&npy_bytes[..128]).contains("('t', '<u8'), ('x', '<u2'), ('y', '<u2'), ('p', '|u1')"));
    let header_len = u16::from_le_bytes([npy_bytes[8], npy_bytes[9]]) as usize;
    assert_eq!(npy_bytes.len() - 10 - header_len, 334_331 * 13);
    let (ok, out, _) = spikestream(&["inspect", "--json", path(&aedat)]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["format"].as_str(), v["events"].as_u64(), v["width"].as_u64()), (Some("aedat4"), Some(334_331), Some(640)));
    assert_eq!(v["t_last"], 2_148_489_998u64);
}

#[test]
fn convert_refuses_unknown_extension_and_missing_sensor_size() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = spikestream(&["convert", path(&common::data("synthetic_lz4.aedat4")), path(&dir.path().join("x.txt"))]);
    assert!(!ok && err.contains(".aedat4, .csv or .npy"), "{err}");
}

#[test]
fn frames_writes_the_tensor_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let (out, sheet, pngs) = (dir.path().join("f.npy"), dir.path().join("sheet.png"), dir.path().join("png"));
    let input = common::data("dvxplorer_rollover_aedat31.aedat");
    let (ok, _, err) = spikestream(&["frames", path(&input), "--frames", "5", "--size", "48x48", "--out", path(&out), "--sheet", path(&sheet), "--png", path(&pngs)]);
    assert!(ok, "{err}");
    let a = spikestream::frames::npy::read(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(a.shape, [5, 2, 48, 48]);
    assert!(a.data.iter().sum::<f32>() > 0.0);
    assert!(std::fs::read(&sheet).unwrap().starts_with(b"\x89PNG"));
    assert_eq!(std::fs::read_dir(&pngs).unwrap().count(), 5);
    let (ok, _, err) = spikestream(&["frames", path(&input), "--split-by", "duration", "--out", path(&out)]);
    assert!(!ok && err.contains("--duration-us"), "{err}");
}

#[test]
fn classify_npy_frames_with_a_parity_model_matches_the_reference_prediction() {
    let dir = common::data("parity");
    let expect: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("legacy_realistic.json")).unwrap()).unwrap();
    let (ok, out, err) = spikestream(&[
        "classify",
        path(&dir.join("legacy_realistic.safetensors")),
        path(&dir.join("legacy_realistic_input.npy")),
        "--backend",
        "cpu",
        "--json",
        "--top-k",
        "3",
        "--decode",
        "per-step",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), expect["batch"].as_u64().unwrap() as usize);
    for (r, want) in results.iter().zip(expect["predicted"].as_array().unwrap()) {
        assert_eq!(r["index"], *want);
        assert_eq!(r["top_k"].as_array().unwrap().len(), 3);
        assert_eq!(r["logits"].as_array().unwrap().len(), expect["timesteps"].as_u64().unwrap() as usize);
    }
}

#[test]
fn info_reports_architecture_and_costs() {
    let (ok, out, err) = spikestream(&["info", "--json", path(&common::data("parity").join("legacy_exact.safetensors"))]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["arch"], "vgg11_48_legacy");
    assert!(v["macs_per_timestep"].as_u64().unwrap() > 0);
    assert!(v["imp_values"].as_u64().unwrap() > 0);
    assert_eq!(v["layers"].as_array().unwrap().iter().filter(|l| l["op"] == "neuron").count(), 8);
}

#[test]
fn bench_json_reports_latency_percentiles() {
    let (ok, out, err) = spikestream(&["bench", "--arch", "vgg11_48_legacy", "--width-div", "16", "--timesteps", "4", "--steps", "8", "--warmup", "1", "--backend", "cpu", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["p50_ms_per_timestep", "p99_ms_per_timestep", "samples_per_s"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(v["backend"].as_str().unwrap().starts_with("cpu"));
    assert!(v["adapter"].is_string());
}

#[test]
fn a_broken_model_path_is_a_clear_error() {
    let (ok, _, err) = spikestream(&["info", "/nonexistent.safetensors"]);
    assert!(!ok && err.contains("/nonexistent.safetensors"), "{err}");
}

/// Without the `camera` feature (as CI builds), `devices --cameras` says how to build with cameras
/// instead of panicking (`stream --source camera` is covered in tests/stream_live.rs).
#[cfg(not(feature = "camera"))]
#[test]
fn devices_cameras_without_the_feature_says_how_to_build_it() {
    let (ok, _, stderr) = spikestream(&["devices", "--cameras"]);
    assert!(!ok, "devices --cameras should fail without the camera feature");
    assert!(stderr.contains("--features camera"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--backend auto` never picks a software rasterizer (issue 12: on a 2-core machine lavapipe made
/// `stream` 20-35× slower than the CPU backend): where every adapter is one (CI's lavapipe), the
/// default runs on the CPU backend and says why in one line; `devices` gives the same decision.
#[test]
fn the_default_backend_is_never_a_software_rasterizer() {
    let (ok, out, err) = spikestream(&["devices", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let adapters = v["adapters"].as_array().unwrap();
    let hardware = adapters.iter().any(|a| a["software"] == false);
    let (ok, out, err) = spikestream(&["bench", "--arch", "vgg11_48_legacy", "--width-div", "8", "--timesteps", "2", "--steps", "2", "--warmup", "1", "--profile-steps", "0"]);
    assert!(ok, "{err}");
    let backend = out.lines().find(|l| l.starts_with("backend")).unwrap_or_default().to_string();
    let notices: Vec<&str> = err.lines().filter(|l| l.starts_with("notice: running on")).collect();
    assert_eq!(notices.len(), 1, "one notice naming the choice: {err}");
    if hardware {
        assert!(backend.contains("gpu: ") && notices[0].contains("hardware GPU"), "{backend} / {err}");
    } else {
        assert_eq!(v["auto"], "cpu", "{out}");
        assert!(backend.contains("cpu"), "{backend}");
        assert!(notices[0].contains("CPU backend"), "{err}");
        if let Some(soft) = adapters.first() {
            assert!(notices[0].contains(soft["name"].as_str().unwrap()) && notices[0].contains("software rasterizer"), "the notice names it: {err}");
        }
    }
    // Asked for by name, a software adapter is used.
    if let Some(soft) = adapters.iter().find(|a| a["software"] == true) {
        let name = soft["name"].as_str().unwrap();
        let (ok, out, err) = spikestream(&["bench", "--arch", "vgg11_48_legacy", "--width-div", "8", "--timesteps", "2", "--steps", "2", "--warmup", "1", "--profile-steps", "0", "--adapter", name]);
        assert!(ok, "{err}");
        assert!(out.lines().any(|l| l.starts_with("backend") && l.contains(name)), "{out}");
    }
    // Probing makes no noise on a machine without a display (issue 12: "XDG_RUNTIME_DIR is
    // invalid" on every run).
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_spikestream"));
    let quiet = cmd.arg("devices").env_remove("XDG_RUNTIME_DIR").env_remove("WAYLAND_DISPLAY").output().unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("XDG_RUNTIME_DIR"), "{}", String::from_utf8_lossy(&quiet.stderr));
    // An adapter nobody has is an error that lists the ones there are.
    let (ok, _, err) = spikestream(&["bench", "--arch", "vgg11_48_legacy", "--width-div", "8", "--steps", "1", "--adapter", "no-such-gpu-xyz"]);
    assert!(!ok && err.contains("no-such-gpu-xyz"), "{err}");
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    // `spikestream info MODEL | head -1`, with the reader gone before the first write: the
    // write fails with a broken pipe, which ends the command with success and no panic.
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/sim10_vgg48_legacy.safetensors");
    for args in [vec!["info", path(&model)], vec!["info", "--json", path(&model)]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(&args).stdout(writer).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !err.contains("panicked"), "{args:?}: {:?} {err}", out.status);
    }
}
