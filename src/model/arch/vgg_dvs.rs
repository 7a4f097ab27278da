//! `vgg11_dvs`: the 128-resolution VGG11 of IMP-SNN's CIFAR10-DVS / N-Caltech101 configs
//! (amazing-cls `VGG11`, `reference/imp-snn.md` §2.2): blocks `conv3x3 → BN → LIF` named
//! `layer{1..4}.{j}` with layers [1, 1, 2, 4], AvgPool 2 after layers 1–3, global average pool,
//! linear head `fc`. SpikingJelly LIF (τ = 2, soft reset); IMP `layerL.j.spike.init_state`.

use super::{Builder, ConvSpec};
use crate::model::ModelError;
use crate::model::neuron::{NeuronKind, Reset};

const BLOCKS: [usize; 4] = [1, 1, 2, 4];

pub(super) fn build(b: &mut Builder) -> Result<(), ModelError> {
    let lif = NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Soft, decay_input: true };
    let mut v = 0;
    for (l, &blocks) in BLOCKS.iter().enumerate() {
        for j in 0..blocks {
            let p = format!("layer{}.{j}", l + 1);
            v = b.conv(v, ConvSpec {
                name: &format!("{p}.conv"),
                weight: format!("{p}.conv.weight"),
                bias: Some(format!("{p}.conv.bias")),
                bn: Some(format!("{p}.bn")),
                time_scale: None,
                kernel: 3,
                stride: 1,
                padding: 1,
            })?;
            v = b.neuron(v, &format!("{p}.spike"), lif, &format!("{p}.spike.init_state"))?;
        }
        if l < 3 {
            v = b.avg_pool(v, &format!("pool{}", l + 1), 2, 2, 0)?;
        }
    }
    v = b.global_avg_pool(v, "neck.gap");
    b.linear(v, "fc")?;
    Ok(())
}
