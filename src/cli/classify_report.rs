//! Printing `classify` results: one line (or JSON object) per input, then accuracy, per-step
//! accuracy and a confusion matrix when labels are known; and the `--jsonl` record of an input.

use std::io::Write;
use std::path::PathBuf;

use spikestream::engine::run::argmax;
use spikestream::{Classification, Decode};

use super::classify::{ClassifyArgs, SampleRef};

type Row = (SampleRef, Classification);

/// The JSON object of one classified sample (without its file).
fn item(c: &Classification, label: Option<usize>, classes: &[String], decode: Decode) -> serde_json::Value {
    let p = &c.prediction;
    let top: Vec<serde_json::Value> = p.top_k.iter().map(|r| serde_json::json!({"class": r.class, "index": r.index, "score": r.score})).collect();
    let mut v = serde_json::json!({
        "class": p.class,
        "index": p.index,
        "score": top[0]["score"],
        "top_k": top,
    });
    if let Some(l) = label {
        v["label"] = serde_json::json!(classes[l]);
    }
    if decode == Decode::PerStep {
        v["logits"] = serde_json::json!(c.logits);
    }
    v
}

/// The `--jsonl` line of one input: its sample's fields beside `file`, or with several samples
/// (`[T, B, C, H, W]` frames) a list of them under `samples`.
pub(super) fn record(sample: &SampleRef, done: &[Classification], classes: &[String], decode: Decode) -> serde_json::Value {
    let file = serde_json::json!(sample.path.display().to_string());
    match done {
        [one] => {
            let mut v = item(one, sample.label, classes, decode);
            v["file"] = file;
            v
        }
        many => serde_json::json!({"file": file, "samples": many.iter().map(|c| item(c, sample.label, classes, decode)).collect::<Vec<_>>()}),
    }
}

/// The confusion matrix `[label][predicted]` of the labelled results, how many they are, and
/// the accuracy at every step (with per-step decoding).
fn scores(classes: &[String], decode: Decode, results: &[Row]) -> (Vec<Vec<u64>>, usize, Vec<f64>) {
    let labelled: Vec<&Row> = results.iter().filter(|r| r.0.label.is_some()).collect();
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for r in &labelled {
        confusion[r.0.label.unwrap_or(0)][r.1.prediction.index] += 1;
    }
    let steps = results.first().map_or(0, |r| r.1.logits.len());
    let per_step_accuracy: Vec<f64> = if decode == Decode::PerStep && !labelled.is_empty() {
        (0..steps).map(|s| labelled.iter().filter(|r| Some(argmax(&r.1.logits[s])) == r.0.label).count() as f64 / labelled.len() as f64).collect()
    } else {
        Vec::new()
    };
    (confusion, labelled.len(), per_step_accuracy)
}

/// `--plot DIR`: the charts of what [`print`] reports.
pub(super) fn plot(dir: &std::path::Path, classes: &[String], decode: Decode, results: &[Row], spike_rates: &[(String, f64)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("--plot {}: cannot create the folder: {e}", dir.display()))?;
    let (confusion, labelled, per_step) = scores(classes, decode, results);
    let mut wrote = Vec::new();
    if labelled > 0 {
        let counts: Vec<Vec<usize>> = confusion.iter().map(|r| r.iter().map(|&c| c as usize).collect()).collect();
        spikestream::plot::confusion_matrix(&dir.join("confusion.png"), classes, &counts)?;
        wrote.push("confusion.png");
    }
    if !per_step.is_empty() {
        spikestream::plot::accuracy_per_step(&dir.join("accuracy_per_step.png"), &per_step)?;
        wrote.push("accuracy_per_step.png");
    }
    if !spike_rates.is_empty() {
        spikestream::plot::spike_rates(&dir.join("spike_rates.png"), spike_rates)?;
        wrote.push("spike_rates.png");
    }
    eprintln!("wrote {} to {}", wrote.join(", "), dir.display());
    Ok(())
}

/// The summary on stdout: `--json` adds the per-layer spike rates (`spike_rates`: the fraction
/// of each neuron layer's neurons that fired per timestep, over the inputs classified).
pub(super) fn print(args: &ClassifyArgs, classes: &[String], decode: Decode, results: &[Row], failed: &[(PathBuf, String)], compare: Option<f32>, spike_rates: &[(String, f64)]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (confusion, labelled, per_step_accuracy) = scores(classes, decode, results);
    let k = classes.len();
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let accuracy = (labelled > 0).then(|| correct as f64 / labelled as f64);
    if args.json {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|(s, c)| {
                let mut v = item(c, s.label, classes, decode);
                v["file"] = serde_json::json!(s.path.display().to_string());
                v
            })
            .collect();
        let mut doc = serde_json::json!({"model": args.model.model_file.display().to_string(), "decode": format!("{decode:?}").to_lowercase(), "results": items});
        if let Some(a) = accuracy {
            doc["accuracy"] = serde_json::json!(a);
            doc["confusion"] = serde_json::json!(confusion);
        }
        if !per_step_accuracy.is_empty() {
            doc["accuracy_per_step"] = serde_json::json!(per_step_accuracy);
        }
        if let Some(d) = compare {
            doc["compare_max_abs_diff"] = serde_json::json!(d);
        }
        doc["spike_rates"] = spike_rates.iter().map(|(layer, rate)| serde_json::json!({"layer": layer, "rate": rate})).collect();
        if !failed.is_empty() {
            doc["errors"] = failed.iter().map(|(f, e)| serde_json::json!({"file": f.display().to_string(), "error": e})).collect();
        }
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    for (s, c) in results {
        let shown: Vec<String> = c.prediction.top_k.iter().map(|r| format!("{} {:.3}", r.class, r.score)).collect();
        let label = s.label.map(|l| format!("  (label {})", classes[l])).unwrap_or_default();
        writeln!(out, "{}\t{}{label}", s.path.display(), shown.join("  "))?;
    }
    if let Some(a) = accuracy {
        writeln!(out, "accuracy {correct}/{labelled} = {a:.4}")?;
        if !per_step_accuracy.is_empty() {
            let text: Vec<String> = per_step_accuracy.iter().enumerate().map(|(t, a)| format!("t{t} {a:.3}")).collect();
            writeln!(out, "accuracy per step: {}", text.join(" "))?;
        }
        writeln!(out, "confusion (rows: label, columns: predicted):")?;
        let width = classes.iter().map(String::len).max().unwrap_or(1).max(5);
        writeln!(out, "{:>width$} {}", "", classes.iter().map(|c| format!("{c:>width$}")).collect::<Vec<_>>().join(" "))?;
        for (i, row) in confusion.iter().enumerate() {
            writeln!(out, "{:>width$} {}", classes[i], row.iter().map(|n| format!("{n:>width$}")).collect::<Vec<_>>().join(" "))?;
        }
    }
    if let Some(d) = compare {
        writeln!(out, "compare: largest |GPU − CPU| logit difference {d:e}")?;
    }
    Ok(())
}
