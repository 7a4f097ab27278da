//! The neuron rule as WGSL text, generated from [`super::rule`] by evaluating it on an
//! arithmetic that writes expressions instead of computing them.
//!
//! [`functions`] returns `neuron_charge`, `neuron_fire`, `neuron_reset` and `neuron_step`; the
//! kernels that update neurons get it after `shaders/neuron_rule.wgsl` (the `NeuronRule` struct
//! and `rounded`), see `gpu::kernel::Kernel::source`. Every operation is parenthesised in the
//! rule's order, and every product goes through `rounded`, so that a shader compiler neither
//! reorders nor fuses what the CPU rounds separately. The rule's parameters are the fields of
//! `r: NeuronRule`, chosen at run time (one `switch` case per charge form and reset).

use std::cell::RefCell;
use std::fmt::Write;

use super::rule::{Arith, Charge, Fire, Reset, Rule, Slot, Spiking};

/// Writes WGSL expressions; `bind` appends `let` statements to `body`. With `calls`, a step's
/// charge, fire and reset are calls of the generated functions.
#[derive(Default)]
struct Emit {
    body: RefCell<String>,
    lets: RefCell<usize>,
    calls: bool,
}

impl Emit {
    fn bind_text(&self, expr: String, ty: &str) -> String {
        let mut n = self.lets.borrow_mut();
        *n += 1;
        let name = format!("t{n}");
        let _ = writeln!(self.body.borrow_mut(), "    let {name}: {ty} = {expr};");
        name
    }
}

impl Arith for Emit {
    type V = String;
    type P = &'static str;
    fn param(&self, slot: Slot, _: f32) -> &'static str {
        match slot {
            Slot::P0 => "r.p0",
            Slot::P1 => "r.p1",
            Slot::Threshold => "r.v_th",
            Slot::ResetValue => "r.v_reset",
            Slot::One => "1.0",
        }
    }
    fn add(&self, a: String, b: String) -> String {
        format!("({a} + {b})")
    }
    fn sub(&self, a: String, b: String) -> String {
        format!("({a} - {b})")
    }
    fn mul_p(&self, a: String, p: &'static str) -> String {
        format!("rounded({a} * {p}, r.zero)")
    }
    fn div_p(&self, a: String, p: &'static str) -> String {
        format!("({a} / {p})")
    }
    fn add_p(&self, a: String, p: &'static str) -> String {
        format!("({a} + {p})")
    }
    fn sub_p(&self, a: String, p: &'static str) -> String {
        format!("({a} - {p})")
    }
    fn rsub_p(&self, a: String, p: &'static str) -> String {
        format!("({p} - {a})")
    }
    fn bind(&self, v: String) -> String {
        self.bind_text(v, "f32")
    }
}

impl Spiking for Emit {
    type S = String;
    fn above(&self, h: String, th: &'static str) -> String {
        format!("({h} - {th} > 0.0)")
    }
    fn at_least(&self, h: String, th: &'static str) -> String {
        format!("({h} >= {th})")
    }
    fn never(&self, _: String) -> String {
        "false".into()
    }
    fn subtract(&self, h: String, s: String, th: &'static str) -> String {
        format!("select({h}, {h} - {th}, {s})")
    }
    fn set(&self, h: String, s: String, v_r: &'static str) -> String {
        format!("select({h}, {v_r}, {s})")
    }
    fn relu(&self, v: String) -> String {
        format!("max({v}, 0.0)")
    }
    fn count(&self, h: String, th: &'static str) -> String {
        // A non-positive H gives a zero with its sign (as the CPU's, see `plain::F32::count`).
        format!("select(bitcast<f32>(bitcast<u32>({h}) & 0x80000000u), trunc({h} / {th}), {h} > 0.0)")
    }
    fn settle(&self, m: String, s: String, p: String, th: &'static str) -> String {
        format!("select(select({m}, {m} + {th}, {p}), select({m} - {th}, {m}, {p}), {s})")
    }
    fn bind_s(&self, s: String) -> String {
        self.bind_text(s, "bool")
    }
    fn charge(&self, c: &Charge, v: String, x: String) -> String {
        if self.calls { format!("neuron_charge(r, {v}, {x})") } else { c.apply(self, v, x) }
    }
    fn fire(&self, f: Fire, h: String, th: &'static str) -> String {
        if self.calls { format!("neuron_fire(r, {h})") } else { f.apply(self, h, th) }
    }
    fn reset(&self, reset: Reset, h: String, s: String, th: &'static str) -> String {
        if self.calls { format!("neuron_reset(r, {h}, {s})") } else { reset.apply(self, h, s, th) }
    }
}

/// One `switch` over a code field, one `return` per case (the last case is the default).
fn switch(out: &mut String, field: &str, cases: &[(u32, String)]) {
    let _ = writeln!(out, "    switch {field} {{");
    for (i, (code, expr)) in cases.iter().enumerate() {
        let label = if i + 1 == cases.len() { "default".to_string() } else { format!("case {code}u") };
        let _ = writeln!(out, "        {label}: {{ return {expr}; }}");
    }
    let _ = writeln!(out, "    }}");
}

/// The statements and result of [`Rule::step`] with `reset`, as WGSL over `vi`, `xi`.
fn step_text(reset: Reset) -> (String, String) {
    let e = Emit { calls: true, ..Emit::default() };
    let rule = Rule { charge: Charge::Integrate, v_th: 0.0, fire: Fire::Above, reset };
    let (v, s) = rule.step(&e, "vi".into(), "xi".into());
    (e.body.into_inner(), format!("vec2<f32>({v}, select(0.0, 1.0, {s}))"))
}

/// The same for [`Rule::count_step`] (a [`Fire::Count`] neuron): the result carries the count.
fn count_text(reset: Reset) -> (String, String) {
    let e = Emit { calls: true, ..Emit::default() };
    let rule = Rule { charge: Charge::Integrate, v_th: 0.0, fire: Fire::Count, reset };
    let (v, n) = rule.count_step(&e, "vi".into(), "xi".into());
    (e.body.into_inner(), format!("vec2<f32>({v}, {n})"))
}

/// `if {cond} {{ body; return result; }}`, indented inside a function.
fn early_return(out: &mut String, cond: String, (body, result): (String, String)) {
    let _ = writeln!(out, "    if {cond} {{\n{}        return {result};\n    }}", body.replace("\n    ", "\n        ").replacen("    ", "        ", 1));
}

/// The generated WGSL functions (see the module doc).
pub fn functions() -> String {
    let e = Emit::default();
    let th = e.param(Slot::Threshold, 0.0);
    let mut out = String::from("// Generated from src/model/neuron/rule.rs by src/model/neuron/wgsl.rs; do not edit.\n\n");
    out.push_str("// H from the membrane v and the input current x, by the rule's charge form r.form.\nfn neuron_charge(r: NeuronRule, v: f32, x: f32) -> f32 {\n");
    let charges: Vec<(u32, String)> = Charge::FORMS.iter().map(|c| (c.code().0, c.apply(&e, "v".into(), "x".into()))).collect();
    switch(&mut out, "r.form", &charges);
    out.push_str("}\n\n// The spike of h, by the comparison r.fire.\nfn neuron_fire(r: NeuronRule, h: f32) -> bool {\n");
    let fires: Vec<(u32, String)> = [Fire::AtLeast, Fire::Above, Fire::Never].iter().map(|f| (f.code(), f.apply(&e, "h".into(), th))).collect();
    switch(&mut out, "r.fire", &fires);
    out.push_str("}\n\n// The membrane after the spike s, by the reset r.reset.\nfn neuron_reset(r: NeuronRule, h: f32, s: bool) -> f32 {\n");
    let resets: Vec<(u32, String)> = [Reset::Soft, Reset::Hard(0.0), Reset::SoftFloor, Reset::None].iter().map(|r| (r.code().0, r.apply(&e, "h".into(), "s".into(), th))).collect();
    switch(&mut out, "r.reset", &resets);
    out.push_str("}\n\n// One step of one neuron: membrane `vi`, input current `xi` -> (new membrane, spike 0.0 / 1.0,\n// or the spike count of a counting neuron).\n");
    out.push_str("fn neuron_step(r: NeuronRule, vi: f32, xi: f32) -> vec2<f32> {\n");
    let (count, floor) = (Fire::Count.code(), Reset::SoftFloor.code().0);
    early_return(&mut out, format!("r.fire == {count}u && r.reset == {floor}u"), count_text(Reset::SoftFloor));
    early_return(&mut out, format!("r.fire == {count}u"), count_text(Reset::Soft));
    early_return(&mut out, format!("r.reset == {}u", Reset::SoftSnntorch.code().0), step_text(Reset::SoftSnntorch));
    let (body, result) = step_text(Reset::Soft);
    let _ = write!(out, "{body}    return {result};\n}}\n");
    let _ = write!(
        out,
        "\n// What the layer outputs from a step's (membrane, spike): the spike, or the membrane of a\n// non-spiking readout.\nfn neuron_out(r: NeuronRule, vs: vec2<f32>) -> f32 {{\n    return select(vs.y, vs.x, r.fire == {}u);\n}}\n",
        Fire::Never.code()
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn products_are_rounded_and_every_form_has_a_case() {
        let text = super::functions();
        assert!(text.contains("rounded(v * r.p0, r.zero)"), "{text}");
        assert!(text.contains("(v + ((x - v) / r.p0))"), "{text}");
        for code in 0..super::Charge::FORMS.len() - 1 {
            assert!(text.contains(&format!("case {code}u")), "{text}");
        }
        assert!(text.contains("let t1: f32 = neuron_charge(r, vi, xi);"), "{text}");
    }
}
