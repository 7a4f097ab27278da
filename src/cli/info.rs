//! `spikestream info MODEL [--json]`: what a model file holds and what one timestep costs.

use std::process::ExitCode;

use clap::Args;
use spikestream::model::graph::Op;

use super::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub json: bool,
}

fn stats(v: &[f32]) -> (f32, f32, f32, f32) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    let (lo, hi) = v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    (mean as f32, var.sqrt() as f32, lo, hi)
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let (m, g) = (&model.meta, &model.graph);
    let (params, imp) = g.parameter_count();
    let macs = g.macs_per_timestep();
    let layers: Vec<serde_json::Value> = g
        .nodes
        .iter()
        .map(|n| {
            let mut v = serde_json::json!({"name": n.name, "op": n.op.kind(), "shape": [n.shape.c, n.shape.h, n.shape.w]});
            if let Op::Neuron(nr) = &n.op {
                v["neuron"] = serde_json::json!(format!("{:?}", nr.kind));
                for (key, values) in &nr.arrays.params {
                    let (mean, std, min, max) = stats(values);
                    v["per_neuron"][key] = serde_json::json!({"tensor": format!("{}.neuron.{key}", n.name), "count": values.len(), "mean": mean, "std": std, "min": min, "max": max});
                }
                if let Some(p) = &nr.imp {
                    let (mean, std, min, max) = stats(p);
                    v["imp"] = serde_json::json!({"count": p.len(), "mean": mean, "std": std, "min": min, "max": max});
                }
            }
            if let Op::Conv(c) = &n.op {
                v["kernel"] = serde_json::json!(c.kernel);
                v["stride"] = serde_json::json!(c.stride);
                if let Some(te) = &c.time_scale {
                    v["tebn_scale"] = serde_json::json!(te);
                }
            }
            v
        })
        .collect();
    if args.json {
        let doc = serde_json::json!({
            "arch": m.arch, "format": m.format, "timesteps": m.timesteps, "num_classes": m.num_classes, "classes": m.classes,
            "input": m.input, "input_kind": m.input_kind, "decode": format!("{:?}", m.decode).to_lowercase(), "framing": m.framing,
            "parameters": params, "imp_values": imp, "macs_per_timestep": macs, "flops_per_timestep": 2 * macs, "layers": layers,
        });
        outln!("{doc}")?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("model        {}", args.model.model_file.display())?;
    outln!("arch         {} (format {})", m.arch, m.format)?;
    match &m.input_kind {
        spikestream::model::InputKind::Events => outln!("input        [{}, {}, {}] per timestep, {} timesteps, decode {:?}", m.input[0], m.input[1], m.input[2], m.timesteps, m.decode)?,
        spikestream::model::InputKind::Static { mean, std } => outln!(
            "input        static image [{}, {}, {}] fed at each of {} timesteps (direct encoding), normalised (x/255 - mean)/std with mean {mean:?} std {std:?}, decode {:?}",
            m.input[0], m.input[1], m.input[2], m.timesteps, m.decode
        )?,
    }
    outln!("classes      {} {:?}", m.num_classes, m.classes)?;
    if !m.input_kind.is_static() {
        outln!("framing      {}", m.framing.as_ref().map_or("default (split by number into T frames)".into(), |f| f.to_string()))?;
    }
    outln!("parameters   {params} weights (BN folded) + {imp} learned initial potentials")?;
    outln!("cost         {:.3} GFLOP per timestep per sample (dense; {macs} MAC)", 2.0 * macs as f64 / 1e9)?;
    outln!("layers:")?;
    for (n, l) in g.nodes.iter().zip(&layers) {
        let imp = l.get("imp").map(|i| format!("  IMP mean {:.4} std {:.4} [{:.3}, {:.3}]", i["mean"].as_f64().unwrap_or(0.0), i["std"].as_f64().unwrap_or(0.0), i["min"].as_f64().unwrap_or(0.0), i["max"].as_f64().unwrap_or(0.0))).unwrap_or_default();
        let per: String = l.get("per_neuron").and_then(|p| p.as_object()).map_or(String::new(), |p| p.iter().map(|(k, a)| format!("  per-neuron {k} [{:.4}, {:.4}]", a["min"].as_f64().unwrap_or(0.0), a["max"].as_f64().unwrap_or(0.0))).collect());
        let rule = match &n.op {
            Op::Neuron(nr) => format!("  {}", neuron_text(&nr.kind)),
            _ => String::new(),
        };
        outln!("  {:<28} {:<8} {}{rule}{imp}{per}", n.name, n.op.kind(), n.shape)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A neuron rule in one line, from its `neuron` JSON: `leaky beta=1 v_th=0.5 fire=multi reset=soft_floor`.
fn neuron_text(kind: &spikestream::model::NeuronKind) -> String {
    let json = kind.to_json();
    let fields = json.as_object().into_iter().flatten().filter(|(k, _)| k.as_str() != "kind").map(|(k, v)| match v {
        serde_json::Value::String(s) => format!(" {k}={s}"),
        other => format!(" {k}={other}"),
    });
    format!("{}{}", kind.name(), fields.collect::<String>())
}
