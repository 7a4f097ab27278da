// The neuron rule's parameters and the rounding helper, for every kernel that updates membranes.
// `gpu::kernel::Kernel::source` prepends this file and then the functions generated from the one
// rule in src/model/neuron/rule.rs (`neuron_charge`, `neuron_fire`, `neuron_reset`,
// `neuron_step`; src/model/neuron/wgsl.rs), so spikes match the CPU backend bit for bit. Valid
// WGSL by itself (no bindings).

struct NeuronRule {
    form: u32,    // the charge form (`Charge::code` in src/model/neuron/rule.rs)
    reset: u32,   // 0 soft (V = H − v_th), 1 hard (V = v_reset), 2 none (V = H)
    fire: u32,  // 1: fire on H − v_th > 0, 0: on H ≥ v_th
    zero: u32,    // always 0; see `rounded`
    p0: f32,      // the charge's first parameter (decay, τ or k)
    p1: f32,      // its second (V_r of the charge, or v_leak)
    v_th: f32,
    v_reset: f32,
}

// The product as a separately rounded f32. A shader compiler may fuse `a * b + c` into one fma (one
// rounding instead of two, so results could differ from the CPU's in the last bit); OR-ing the
// product's bits with a value it cannot know is 0 keeps the product a value of its own.
fn rounded(product: f32, zero: u32) -> f32 {
    return bitcast<f32>(bitcast<u32>(product) | zero);
}
