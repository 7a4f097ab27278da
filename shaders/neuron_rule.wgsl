// The neuron rule, written once for every kernel that updates membranes: `NeuronKind::step`
// (src/model/neuron.rs) operation for operation, so spikes match the CPU backend bit for bit.
// Prepended by `gpu::kernel::Kernel::source` to neuron.wgsl and conv_fused.wgsl; valid WGSL by
// itself (functions only, no bindings).

struct NeuronRule {
    kind: u32,        // 0 legacy LIF, 1 SpikingJelly LIF, 2 IF
    hard_reset: bool, // false: soft (V = H − v_th), true: hard (V = v_reset)
    decay_input: bool,// LIF only: H = V + (X − (V − V_r)) / τ
    a: f32,           // legacy LIF: decay; LIF: τ; IF: unused
    v_th: f32,
    v_reset: f32,
    zero: u32,        // always 0; see `rounded`
}

// The product as a separately rounded f32. A shader compiler may fuse `a * b + c` into one fma (one
// rounding instead of two, so results could differ from the CPU's in the last bit); OR-ing the
// product's bits with a value it cannot know is 0 keeps the product a value of its own.
fn rounded(product: f32, zero: u32) -> f32 {
    return bitcast<f32>(bitcast<u32>(product) | zero);
}

// One step of one neuron: membrane `vi`, input current `xi` → (new membrane, spike 0.0 / 1.0).
fn neuron_step(r: NeuronRule, vi: f32, xi: f32) -> vec2<f32> {
    var spike = false;
    var v = vi;
    if r.kind == 0u {
        // Legacy LIF: mem = decay·mem + x; fire on mem − v_th > 0; mem = 0 after a spike.
        let mem = rounded(r.a * vi, r.zero) + xi;
        spike = mem - r.v_th > 0.0;
        v = select(mem, 0.0, spike);
    } else {
        var h: f32;
        if r.kind == 1u {
            // SpikingJelly LIF, τ = a, divided (not multiplied by 1/τ) as the reference does.
            if r.decay_input {
                if r.hard_reset { h = vi + (xi - (vi - r.v_reset)) / r.a; } else { h = vi + (xi - vi) / r.a; }
            } else {
                if r.hard_reset { h = vi - (vi - r.v_reset) / r.a + xi; } else { h = rounded(vi * (1.0 - 1.0 / r.a), r.zero) + xi; }
            }
        } else {
            h = vi + xi;
        }
        spike = h >= r.v_th;
        v = select(h, select(h - r.v_th, r.v_reset, r.hard_reset), spike);
    }
    return vec2<f32>(v, select(0.0, 1.0, spike));
}
