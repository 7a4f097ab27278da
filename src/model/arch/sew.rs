//! `sew_resnet18`: SEW-ResNet-18 with IF neurons and ADD connections (amazing-cls `SEWResNet`
//! and `SEWResNetCifar`, `reference/imp-snn.md` §2.3–2.5), torchvision names. Stem "imagenet":
//! `conv1` 7×7/2 → `bn1` → `sn1` → AvgPool(3, 2, 1) counting padding; stem "cifar": `conv1` 3×3/1
//! → `bn1` → `sn1`. Stages [2, 2, 2, 2] with strides [1, 2, 2, 2]; block output =
//! identity + sn2(bn2(conv2(sn1(bn1(conv1(x)))))), identity = `downsample_sn(downsample(x))`
//! when the shape changes. Global average pool and `fc`. IMP (optional): `….init_state`.

use super::{Builder, ConvSpec};
use crate::model::ModelError;
use crate::model::neuron::{NeuronKind, Reset};

pub(super) fn build(b: &mut Builder) -> Result<(), ModelError> {
    let reset = match b.meta.raw.get("reset").map(String::as_str) {
        Some("soft") => Reset::Soft,
        _ => Reset::Hard(0.0),
    };
    let neuron = NeuronKind::If { v_th: 1.0, reset };
    let stem_kernel = if b.store.contains("conv1.weight") { stem_kernel(b) } else { 7 };
    let imagenet = match b.meta.raw.get("stem").map(String::as_str) {
        Some("imagenet") => true,
        Some("cifar") => false,
        _ => stem_kernel == 7,
    };
    let (k, s, p) = if imagenet { (7, 2, 3) } else { (3, 1, 1) };
    let conv = |name: &str, k: usize, stride: usize, padding: usize| ConvSpec {
        name: "",
        weight: format!("{name}.weight"),
        bias: None,
        bn: None,
        time_scale: None,
        kernel: k,
        stride,
        padding,
    };
    let mut v = b.conv(0, ConvSpec { name: "conv1", bn: Some("bn1".into()), ..conv("conv1", k, s, p) })?;
    v = b.neuron(v, "sn1", neuron, "sn1.init_state")?;
    if imagenet {
        v = b.avg_pool(v, "avgpool_stem", 3, 2, 1)?;
    }
    for (l, stride) in [1usize, 2, 2, 2].into_iter().enumerate() {
        for blk in 0..2 {
            let p = format!("layer{}.{blk}", l + 1);
            let stride = if blk == 0 { stride } else { 1 };
            let input = v;
            let c1 = format!("{p}.conv1");
            let mut x = b.conv(input, ConvSpec { name: &c1, bn: Some(format!("{p}.bn1")), ..conv(&c1, 3, stride, 1) })?;
            x = b.neuron(x, &format!("{p}.sn1"), neuron, &format!("{p}.sn1.init_state"))?;
            let c2 = format!("{p}.conv2");
            x = b.conv(x, ConvSpec { name: &c2, bn: Some(format!("{p}.bn2")), ..conv(&c2, 3, 1, 1) })?;
            x = b.neuron(x, &format!("{p}.sn2"), neuron, &format!("{p}.sn2.init_state"))?;
            let ds = format!("{p}.downsample.0");
            let identity = if b.store.contains(&format!("{ds}.weight")) {
                let d = b.conv(input, ConvSpec { name: &ds, bn: Some(format!("{p}.downsample.1")), ..conv(&ds, 1, stride, 0) })?;
                b.neuron(d, &format!("{p}.downsample_sn"), neuron, &format!("{p}.downsample_sn.init_state"))?
            } else {
                input
            };
            v = b.add(identity, x, &format!("{p}.add"))?;
        }
    }
    v = b.global_avg_pool(v, "avgpool");
    b.linear(v, "fc")?;
    Ok(())
}

fn stem_kernel(b: &Builder) -> usize {
    b.store.optional("conv1.weight", &[crate::model::store::Dim::Any; 4]).ok().flatten().map_or(7, |t| t.shape[3])
}
