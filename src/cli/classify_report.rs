//! Printing `classify` results: one line (or JSON object) per input, then accuracy, per-step
//! accuracy and a confusion matrix when labels are known.

use std::io::Write;

use spikestream::engine::Decoded;
use spikestream::engine::run::argmax;
use spikestream::model::Model;

use super::classify::{ClassifyArgs, predicted, top_k};

type Row = (super::classify::SampleRef, Vec<f32>, Vec<Vec<f32>>);

pub fn print(args: &ClassifyArgs, model: &Model, decode: Decoded, results: &[Row], compare: Option<f32>) -> anyhow::Result<()> {
    let classes = &model.meta.classes;
    let mut out = std::io::stdout().lock();
    let labelled: Vec<&Row> = results.iter().filter(|r| r.0.label.is_some()).collect();
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for r in &labelled {
        confusion[r.0.label.unwrap_or(0)][predicted(&r.1)] += 1;
    }
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let accuracy = (!labelled.is_empty()).then(|| correct as f64 / labelled.len() as f64);
    let steps = results.first().map_or(0, |r| r.2.len());
    let per_step_accuracy: Vec<f64> = if decode == Decoded::PerStep && !labelled.is_empty() {
        (0..steps).map(|s| labelled.iter().filter(|r| Some(argmax(&r.2[s])) == r.0.label).count() as f64 / labelled.len() as f64).collect()
    } else {
        Vec::new()
    };
    if args.json {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|(s, scores, steps)| {
                let top: Vec<serde_json::Value> = top_k(scores, args.top_k).into_iter().map(|(i, p)| serde_json::json!({"class": classes[i], "index": i, "score": p})).collect();
                let mut v = serde_json::json!({
                    "file": s.path.display().to_string(),
                    "class": classes[predicted(scores)],
                    "index": predicted(scores),
                    "score": top[0]["score"],
                    "top_k": top,
                });
                if let Some(l) = s.label {
                    v["label"] = serde_json::json!(classes[l]);
                }
                if decode == Decoded::PerStep {
                    v["logits"] = serde_json::json!(steps);
                }
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
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    for (s, scores, _) in results {
        let top = top_k(scores, args.top_k);
        let shown: Vec<String> = top.iter().map(|(i, p)| format!("{} {:.3}", classes[*i], p)).collect();
        let label = s.label.map(|l| format!("  (label {})", classes[l])).unwrap_or_default();
        writeln!(out, "{}\t{}{label}", s.path.display(), shown.join("  "))?;
    }
    if let Some(a) = accuracy {
        writeln!(out, "accuracy {correct}/{} = {a:.4}", labelled.len())?;
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
