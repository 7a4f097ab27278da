//! Classifies event recordings with a model, the library way:
//! `cargo run --release --example classify -- [MODEL [RECORDING...]]`
//! (by default the shipped demo model and one of its samples).

use spikestream::{ReadOptions, Session, SessionOptions, read_file};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo");
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| format!("{demo}/sim10_vgg48_legacy.safetensors"));
    let mut inputs: Vec<String> = args.collect();
    if inputs.is_empty() {
        inputs.push(format!("{demo}/samples/expand/0080.aedat4"));
    }
    // `auto` runs on a hardware GPU when there is one, else on the CPU.
    let mut session = Session::open(&model, SessionOptions { top_k: 3, ..Default::default() })?;
    if let Some(notice) = session.backend_notice() {
        eprintln!("{notice}");
    }
    for path in &inputs {
        let recording = read_file(path.as_ref(), ReadOptions::default())?;
        let result = session.classify(&recording)?;
        let top: Vec<String> = result.prediction.top_k.iter().map(|r| format!("{} {:.3}", r.class, r.score)).collect();
        println!("{path}\t{}\t({} steps of logits)", top.join("  "), result.logits.len());
    }
    Ok(())
}
