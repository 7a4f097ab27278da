//! Our NIR exports, imported by the frameworks (fixtures of scripts/fixtures/nir_import_ours.py,
//! committed in tests/data/nir_import_ours/: the heavy peers never run in CI). The script exports
//! the dyadic framework fixtures with `spikestream export-nir` and runs each framework's own NIR
//! import on the result; `results.json` says, per file and importer, whether the framework's
//! outputs equal the original framework's bit for bit, or what its import raised.
//!
//! Here: every importer result marked equal must also equal what spikestream computes from the
//! committed export, bit for bit on the CPU backend (so the stored framework outputs and the
//! engine agree, and a change to the export or the engine that breaks that fails), and
//! SpikingJelly (its cnn) and Sinabs (its multi-spike IAF, LIF and ExpLeak, through NIRTorch)
//! must have imported our files exactly.

mod common;

use serde_json::Value;
use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::model::{MetaOverrides, Model};
use spikestream::nir::{DT_KEY, SEMANTICS_KEY};

fn json(path: &str) -> Value {
    let path = common::data(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (committed fixtures; rerun scripts/fixtures/nir_import_ours.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn frameworks_that_import_our_exports_exactly_agree_with_the_engine_bit_for_bit() {
    let results = json("nir_import_ours/results.json");
    let mut exact = 0;
    let mut importers = std::collections::BTreeSet::new();
    for case in results["cases"].as_array().unwrap() {
        if case["equal"] != Value::Bool(true) {
            continue;
        }
        let source = case["source"].as_str().unwrap().trim_end_matches(".nir");
        let folder = case["folder"].as_str().unwrap_or("nir_frameworks");
        let fixture = json(&format!("{folder}/{source}.json"));
        let mut o = MetaOverrides::default();
        o.set(SEMANTICS_KEY, fixture["semantics"].as_str().unwrap());
        if let Some(dt) = fixture["dt"].as_f64() {
            o.set(DT_KEY, dt.to_string());
        }
        o.set("timesteps", fixture["timesteps"].to_string());
        let file = case["nir"].as_str().unwrap();
        let model = Model::load(&common::data(&format!("nir_import_ours/{file}")), &o).unwrap_or_else(|e| panic!("{file}: {e}"));
        let input: Vec<Vec<f32>> = serde_json::from_value(fixture["input"].clone()).unwrap();
        let stored: Vec<Vec<f32>> = serde_json::from_value(case["outputs"].clone()).unwrap();
        let mut cpu = CpuBackend::new(&model.graph, 1);
        cpu.reset_all();
        for (t, (x, want)) in input.iter().zip(&stored).enumerate() {
            let got = cpu.step(x, &[t], true).unwrap().unwrap();
            let same = got.len() == want.len() && got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{file} imported by {}: step {t}: the engine gives {got:?}, the framework {want:?}", case["importer"]);
        }
        exact += 1;
        importers.insert(case["importer"].as_str().unwrap().to_string());
    }
    assert!(exact >= 1, "no framework imported one of our exports exactly (results.json)");
    // SpikingJelly's import_from_nir and Sinabs' from_nir (NIRTorch) run our files exactly.
    assert!(importers.contains("spikingjelly") && importers.contains("sinabs"), "exact importers: {importers:?}");
}
