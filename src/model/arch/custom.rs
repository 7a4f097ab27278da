//! `graph`: a custom network described in the metadata key `graph`, a JSON list of layers run in
//! order, for sequential and residual nets built from the engine's layers:
//!
//! ```json
//! [{"op":"conv","name":"c1","kernel":3,"stride":1,"padding":1,"bias":true,"bn":"b1","tebn":false},
//!  {"op":"neuron","name":"n1"},            // kind from the `neuron` metadata; IMP "n1.init_state" if present
//!  {"op":"avgpool","kernel":2,"stride":2,"padding":0},
//!  {"op":"save","as":"skip"},              // remember the current value
//!  {"op":"add","from":"skip"},             // current + remembered value
//!  {"op":"gap"}, {"op":"flatten"}, {"op":"linear","name":"fc"}]
//! ```
//! Tensors: `{name}.weight`, `{name}.bias`, BN `{bn}.weight|bias|running_mean|running_var`,
//! TEBN `{name}.te`. Any layer may say `"input":"skip"` to read a saved value instead of the
//! current one, and a neuron may carry its own rule, `"neuron":{"kind":"if",…}` (the `neuron`
//! metadata's JSON), instead of the file-wide one: NIR imports (`src/nir/`) use both.

use std::collections::HashMap;

use super::{Builder, ConvSpec};
use crate::model::ModelError;
use crate::model::neuron::{NeuronKind, Reset};

pub(super) fn build(b: &mut Builder) -> Result<(), ModelError> {
    let file = b.store.file().to_string();
    let text = b.meta.raw.get("graph").ok_or_else(|| ModelError::MissingMeta { file: file.clone(), key: "graph".into(), flag: "graph".into() })?;
    let layers: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| ModelError::BadMeta { file: file.clone(), key: "graph".into(), value: text.chars().take(80).collect(), reason: e.to_string() })?;
    let bad = |i: usize, reason: String| ModelError::BadMeta { file: file.clone(), key: "graph".into(), value: format!("layer {i}"), reason };
    let default = NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Soft, decay_input: true };
    let mut saved: HashMap<String, usize> = HashMap::new();
    let mut v = 0;
    for (i, layer) in layers.iter().enumerate() {
        let s = |k: &str| layer.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let n = |k: &str, d: usize| layer.get(k).and_then(|x| x.as_u64()).map_or(d, |x| x as usize);
        let name = s("name").unwrap_or_else(|| format!("layer{i}"));
        if let Some(input) = s("input") {
            v = *saved.get(&input).ok_or_else(|| bad(i, format!("input: no saved value '{input}'")))?;
        }
        v = match s("op").as_deref() {
            Some("conv") => b.conv(v, ConvSpec {
                name: &name,
                weight: format!("{name}.weight"),
                bias: layer.get("bias").and_then(|x| x.as_bool()).unwrap_or(true).then(|| format!("{name}.bias")),
                bn: s("bn"),
                time_scale: layer.get("tebn").and_then(|x| x.as_bool()).unwrap_or(false).then(|| format!("{name}.te")),
                kernel: n("kernel", 3),
                stride: n("stride", 1),
                padding: n("padding", 0),
            })?,
            Some("neuron") => match layer.get("neuron") {
                None => b.neuron(v, &name, default, &format!("{name}.init_state"))?,
                Some(rule) => {
                    let kind = NeuronKind::from_json(&rule.to_string()).map_err(|e| bad(i, format!("neuron: {e}")))?;
                    b.neuron_with(v, &name, kind, &format!("{name}.init_state"))?
                }
            },
            Some("avgpool") => b.avg_pool(v, &name, n("kernel", 2), n("stride", n("kernel", 2)), n("padding", 0))?,
            Some("gap") => b.global_avg_pool(v, &name),
            Some("flatten") => b.flatten(v, &name),
            Some("linear") => b.linear(v, &name)?,
            Some("save") => {
                saved.insert(s("as").ok_or_else(|| bad(i, "save needs \"as\"".into()))?, v);
                v
            }
            Some("add") => {
                let from = s("from").ok_or_else(|| bad(i, "add needs \"from\"".into()))?;
                let other = *saved.get(&from).ok_or_else(|| bad(i, format!("no saved value '{from}'")))?;
                b.add(other, v, &name)?
            }
            other => return Err(bad(i, format!("unknown op {other:?}"))),
        };
    }
    Ok(())
}
