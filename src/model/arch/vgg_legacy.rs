//! `vgg11_48_legacy`: the 48×48 VGGSNN of IMP-SNN's DVS configs (amazing-cls
//! `StateVGG11R48x48Legacy` / `VGG11R48x48Legacy`, `reference/imp-snn.md` §2.1, §9).
//! Eight `conv3x3 → TEBN → LIF` blocks at `features.{0,2,5,7,10,12,15,17}`, AvgPool 2 at
//! features 4, 9, 14, 19, then `classifier.module.1` per timestep. IMP: `features.{i+1}.mem`.

use super::{Builder, ConvSpec};
use crate::model::ModelError;
use crate::model::neuron::NeuronKind;

const CONVS: [usize; 8] = [0, 2, 5, 7, 10, 12, 15, 17];
const POOLS_AFTER: [usize; 4] = [2, 7, 12, 17];

pub(super) fn build(b: &mut Builder) -> Result<(), ModelError> {
    let lif = NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 };
    let mut v = 0;
    for &i in &CONVS {
        let p = format!("features.{i}");
        v = b.conv(v, ConvSpec {
            name: &format!("{p}.conv"),
            weight: format!("{p}.conv.module.weight"),
            bias: Some(format!("{p}.conv.module.bias")),
            bn: Some(format!("{p}.bn.bn.module")),
            time_scale: Some(format!("{p}.bn.te")),
            kernel: 3,
            stride: 1,
            padding: 1,
        })?;
        v = b.neuron(v, &format!("features.{}", i + 1), lif, &format!("features.{}.mem", i + 1))?;
        if POOLS_AFTER.contains(&i) {
            v = b.avg_pool(v, &format!("features.{}", i + 2), 2, 2, 0)?;
        }
    }
    v = b.flatten(v, "classifier.flatten");
    b.linear(v, "classifier.module.1")?;
    Ok(())
}
