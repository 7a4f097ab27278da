//! The shipped demo model (`models/demo`, trained by `spikestream train` through `scripts/demo_model.py`) on its shipped sample
//! recordings: the CPU backend must classify them exactly as `models/demo/MODEL_CARD.md` says
//! (count and per-sample classes, so the card cannot drift from the engine), and the GPU backend
//! must give the same classes. Without any GPU adapter the GPU part prints a note and passes,
//! except under CI (env `CI` set), where it fails.
//!
//! The ignored test re-creates the model's test split with `spikestream simulate` and checks the
//! card's test accuracy (`cargo test --release --test demo_model -- --ignored`, about a minute).

use std::path::{Path, PathBuf};
use std::process::Command;

use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::{GpuBackend, GpuContext};
use spikestream::engine::{Backend, RunOutput, run_frames};
use spikestream::events::read_file;
use spikestream::frames::framing::Framing;
use spikestream::model::{MetaOverrides, Model};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo");

fn model_path() -> PathBuf {
    Path::new(DEMO).join("sim10_vgg48_legacy.safetensors")
}

fn card() -> String {
    std::fs::read_to_string(Path::new(DEMO).join("MODEL_CARD.md")).expect("models/demo/MODEL_CARD.md")
}

/// `samples/<class>/<file>.aedat4`, sorted: (path, "class/file", class).
fn samples() -> Vec<(PathBuf, String, String)> {
    let root = Path::new(DEMO).join("samples");
    let mut out = Vec::new();
    for class in std::fs::read_dir(&root).expect("models/demo/samples") {
        let class = class.unwrap().path();
        for file in std::fs::read_dir(&class).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "aedat4") {
                let c = class.file_name().unwrap().to_string_lossy().into_owned();
                let name = format!("{c}/{}", file.file_name().unwrap().to_string_lossy());
                out.push((file, name, c));
            }
        }
    }
    out.sort();
    out
}

/// The card's "Shipped samples: N / M correct." line and its table rows
/// `| class/file.aedat4 | label | predicted | ... |`.
fn card_samples(card: &str) -> ((usize, usize), Vec<(String, String, String)>) {
    let line = card.lines().find_map(|l| l.strip_prefix("Shipped samples: ")).expect("card has a 'Shipped samples: N / M correct.' line");
    let (n, rest) = line.split_once(" / ").expect("N / M");
    let m = rest.split_whitespace().next().unwrap();
    let count = (n.trim().parse().expect("N"), m.parse().expect("M"));
    let rows = card
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').map(str::trim).collect();
            (cells.len() >= 3 && cells[0].ends_with(".aedat4")).then(|| (cells[0].to_string(), cells[1].to_string(), cells[2].to_string()))
        })
        .collect();
    (count, rows)
}

fn load_model() -> Model {
    Model::load(&model_path(), &MetaOverrides::default()).expect("the demo model loads")
}

/// All samples as one batch `[T, B, C, H, W]`, framed by the model's own framing metadata.
fn batch_frames(model: &Model, files: &[PathBuf]) -> Vec<f32> {
    let t = model.meta.timesteps;
    let framing = Framing::from_json(model.meta.framing.as_ref(), t).expect("framing metadata");
    let per_sample: Vec<Vec<f32>> = files
        .iter()
        .map(|f| {
            let rec = read_file(f, Default::default()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let frames = framing.frames(&rec, model.meta.input).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(frames.frames, t, "{}", f.display());
            frames.data
        })
        .collect();
    let per = per_sample[0].len() / t;
    let mut out = Vec::with_capacity(per * t * files.len());
    for s in 0..t {
        for sample in &per_sample {
            out.extend_from_slice(&sample[s * per..(s + 1) * per]);
        }
    }
    out
}

fn classify(backend: &mut dyn Backend, model: &Model, frames: &[f32]) -> RunOutput {
    run_frames(backend, frames, model.meta.timesteps, model.meta.num_classes, model.meta.decode).expect("engine run")
}

#[test]
fn demo_model_is_small_and_described() {
    let bytes = std::fs::metadata(model_path()).expect("models/demo/sim10_vgg48_legacy.safetensors").len();
    assert!(bytes < 3 << 20, "the demo model is {bytes} bytes; keep it under 3 MiB");
    let model = load_model();
    let m = &model.meta;
    assert_eq!(m.arch, "vgg11_48_legacy");
    assert_eq!(m.input, [2, 48, 48]);
    assert!(m.framing.is_some(), "the demo model must carry its framing");
    let mut sorted = m.classes.clone();
    sorted.sort();
    assert_eq!(m.classes, sorted, "classes are the simulator's sorted folder names");
    for (_, name, class) in samples() {
        assert!(m.classes.contains(&class), "sample {name}: folder is not a model class");
    }
}

#[test]
fn demo_samples_match_the_model_card() {
    let model = load_model();
    let samples = samples();
    assert!(!samples.is_empty(), "no samples in models/demo/samples");
    let files: Vec<PathBuf> = samples.iter().map(|s| s.0.clone()).collect();
    let frames = batch_frames(&model, &files);
    let mut cpu = CpuBackend::new(&model.graph, samples.len());
    let pred = classify(&mut cpu, &model, &frames);
    let classes = &model.meta.classes;
    let got: Vec<&str> = (0..samples.len()).map(|b| classes[pred.argmax(b)].as_str()).collect();
    let correct = samples.iter().zip(&got).filter(|((_, _, label), p)| label == *p).count();

    let ((n, m), rows) = card_samples(&card());
    assert_eq!(m, samples.len(), "MODEL_CARD.md lists {m} samples, models/demo/samples has {}", samples.len());
    assert_eq!(n, correct, "MODEL_CARD.md says {n} / {m} correct, the CPU backend gets {correct} / {m}: regenerate the card (scripts/demo_model.py)");
    assert_eq!(rows.len(), samples.len(), "sample table rows in MODEL_CARD.md");
    for ((_, name, label), p) in samples.iter().zip(&got) {
        let row = rows.iter().find(|r| &r.0 == name).unwrap_or_else(|| panic!("MODEL_CARD.md has no row for {name}"));
        assert_eq!(&row.1, label, "{name}: label in the card");
        assert_eq!(row.2, *p, "{name}: the card says {}, the CPU backend predicts {p}", row.2);
    }
    eprintln!("demo samples, CPU backend: {correct} / {} correct", samples.len());

    // The GPU backend: the same classes (lavapipe in CI).
    let ctx = match GpuContext::new() {
        Ok(ctx) => ctx,
        Err(e @ spikestream::gpu::GpuError::NoAdapter) if std::env::var_os("CI").is_none() => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "skipped the GPU part: no GPU adapter ({e})");
            return;
        }
        Err(e) => panic!("GPU backend needs an adapter (CI installs lavapipe with scripts/setup-lavapipe.sh): {e}"),
    };
    let mut gpu = GpuBackend::with_context(ctx, &model.graph, samples.len(), Default::default()).expect("GPU backend");
    let gpred = classify(&mut gpu, &model, &frames);
    let mut largest = 0f32;
    for b in 0..samples.len() {
        assert_eq!(classes[gpred.argmax(b)], got[b], "{}: GPU and CPU backends disagree", samples[b].1);
        for (a, c) in gpred.scores[b].iter().zip(&pred.scores[b]) {
            largest = largest.max((a - c).abs());
        }
    }
    eprintln!("demo samples, GPU backend ({}): same classes, largest logit difference {largest:e}", gpu.describe());
}

/// The card's `spikestream classify --backend cpu` test accuracy, on the test split re-created
/// with the simulator (the command and seed the card gives).
#[test]
#[ignore = "simulates the 1000-recording dataset (about a minute in release)"]
fn demo_test_split_accuracy_matches_the_model_card() {
    let card = card();
    let sim = card.lines().find_map(|l| l.trim().strip_prefix("`spikestream simulate --out DIR ")).expect("card gives the simulate command");
    let sim: Vec<&str> = sim.trim_end_matches('`').split_whitespace().collect();
    let stated: f64 = card
        .lines()
        .find_map(|l| l.strip_prefix("| `spikestream classify --backend cpu` | | **"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("card gives the spikestream test accuracy");
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_spikestream");
    let out = Command::new(bin).arg("simulate").arg("--out").arg(dir.path()).args(&sim).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(bin)
        .arg("classify")
        .arg(model_path())
        .arg(dir.path().join("test"))
        .args(["--labels-from-dirs", "--backend", "cpu", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let acc = doc["accuracy"].as_f64().unwrap() * 100.0;
    assert!((acc - stated).abs() < 0.05, "test accuracy {acc:.1} %, the card says {stated} %");
}
