//! The shipped static digits model (`models/digits/`, trained by `spikestream train`): `classify`
//! on its sample PNGs gives the predictions its card records (`predictions.json`), through the
//! CLI and through `Session::classify_image`.

use std::path::Path;
use std::process::Command;

use spikestream::{BackendChoice, Session, SessionOptions};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/digits");

fn recorded() -> Vec<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(Path::new(DIR).join("predictions.json")).unwrap()).unwrap()
}

#[test]
fn classify_on_the_samples_gives_the_cards_predictions() {
    let want = recorded();
    assert_eq!(want.len(), 20);
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["classify", "models/digits/digits16_sew_lts.safetensors", "models/digits/samples", "--labels-from-dirs", "--backend", "cpu", "--jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(got.len(), want.len());
    for w in &want {
        let g = got.iter().find(|g| g["file"] == w["file"]).unwrap_or_else(|| panic!("{} not classified", w["file"]));
        assert_eq!(g["class"], w["class"], "{}", w["file"]);
        assert_eq!(g["label"], w["label"], "{}", w["file"]);
        let (a, b) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-3, "{}: score {a} vs recorded {b}", w["file"]);
    }
    let right = want.iter().filter(|w| w["class"] == w["label"]).count();
    assert_eq!(right, 19, "the card says 19 of 20 samples are right");
}

#[test]
fn the_library_reads_the_same_pngs_the_same_way() {
    let model = Path::new(DIR).join("digits16_sew_lts.safetensors");
    let mut session = Session::open(&model, SessionOptions { backend: BackendChoice::Cpu, ..SessionOptions::default() }).unwrap();
    assert!(session.model().meta.input_kind.is_static());
    assert!(session.static_prefix_layers() > 0, "the first convolution runs once per image");
    for w in recorded() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(w["file"].as_str().unwrap());
        let image = spikestream::frames::image::read(&path).unwrap();
        let c = session.classify_image(&image).unwrap();
        assert_eq!(c.prediction.class, w["class"].as_str().unwrap(), "{}", path.display());
    }
}
