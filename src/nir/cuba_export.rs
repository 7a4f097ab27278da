//! Writing a current-based neuron back as one NIR node: the two engine layers that
//! [`super::cuba`] makes of a CubaLIF / CubaLI (the synapse `<node>.synapse`, a readout, read
//! only by the membrane `<node>`) become the CubaLIF / CubaLI their import reads back:
//! - snnTorch's `Synaptic` (`exp_leak` α into `leaky` β, `>`, reset to 0) as snnTorch's export
//!   writes it: `τ_syn = dt/(1 − α)`, `τ_mem = dt/(1 − β)`, `r = τ_mem/dt`, `w_in = τ_syn/dt`;
//! - Norse's chain (`li` k_s into `lif_box` k, `>`, reset to 0, or into `li`): `τ_syn = dt/k_s`,
//!   `τ_mem = dt/k`, `r = w_in = 1`, `v_leak` as the layers'.
//!
//! Per-neuron values are not merged (the two layers are written as they are).

use super::export::{filled, node};
use super::hdf5::RawNode;
use crate::model::graph::{Graph, Op};
use crate::model::neuron::{Fire, NeuronKind, Reset};

/// The CubaLIF / CubaLI node of the synapse at node `i` and the membrane at `i + 1`, when they
/// are such a pair; `None` when they are not (each is then written on its own).
pub fn merged(graph: &Graph, i: usize, dt: f64) -> Option<RawNode> {
    let (syn, mem) = (graph.nodes.get(i)?, graph.nodes.get(i + 1)?);
    let (Op::Neuron(s), Op::Neuron(m)) = (&syn.op, &mem.op) else { return None };
    let readers = graph.nodes.iter().filter(|n| n.inputs.contains(&(i + 1))).count();
    let paired = syn.name == format!("{}.synapse", mem.name) && mem.inputs == [i + 1] && readers == 1 && s.arrays.is_empty() && m.arrays.is_empty() && s.imp.is_none() && m.imp.is_none();
    if !paired {
        return None;
    }
    let shape: Vec<usize> = if mem.shape.is_vector() { vec![mem.shape.c] } else { vec![mem.shape.c, mem.shape.h, mem.shape.w] };
    let f = |v: f64| filled(&shape, v as f32);
    let spike = |v_th: f32| vec![("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, 0.0))];
    let hard_zero = |fire: Fire, reset: Reset| fire == Fire::Above && reset == Reset::Hard(0.0);
    let (kind, mut params) = match (s.kind, m.kind) {
        (NeuronKind::ExpLeak { alpha }, NeuronKind::Leaky { beta, v_th, fire, reset }) if hard_zero(fire, reset) && alpha < 1.0 && beta < 1.0 => {
            let (tau_syn, tau_mem) = (dt / (1.0 - f64::from(alpha)), dt / (1.0 - f64::from(beta)));
            let mut p = vec![("tau_syn", f(tau_syn)), ("tau_mem", f(tau_mem)), ("r", f(tau_mem / dt)), ("w_in", f(tau_syn / dt)), ("v_leak", f(0.0))];
            p.extend(spike(v_th));
            ("CubaLIF", p)
        }
        (NeuronKind::Li { k: ks, v_leak }, membrane) => {
            let common = |k: f32| vec![("tau_syn", f(dt / f64::from(ks))), ("tau_mem", f(dt / f64::from(k))), ("r", f(1.0)), ("w_in", f(1.0)), ("v_leak", filled(&shape, v_leak))];
            match membrane {
                NeuronKind::LifBox { k, v_leak: vm, v_th, fire, reset } if hard_zero(fire, reset) && vm.to_bits() == v_leak.to_bits() => {
                    let mut p = common(k);
                    p.extend(spike(v_th));
                    ("CubaLIF", p)
                }
                NeuronKind::Li { k, v_leak: vm } if vm.to_bits() == v_leak.to_bits() => ("CubaLI", common(k)),
                _ => return None,
            }
        }
        _ => return None,
    };
    params.sort_by_key(|(k, _)| *k);
    Some(node(kind, params))
}
