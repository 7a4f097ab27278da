//! Synthetic model files: an architecture preset with seeded random weights, written as the
//! same safetensors bytes a trained model would be (reference names, metadata). For `bench
//! --arch`, tests and demos where no trained model exists. Weights are scaled so that sparse
//! binary inputs give pre-activations of about unit variance, which keeps spike rates in the
//! 5–40 % range a trained network shows, instead of dying out or saturating.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};

use super::ModelError;

#[derive(Clone, Debug)]
pub struct SynthSpec {
    pub arch: String,
    pub num_classes: usize,
    pub timesteps: usize,
    /// Per-timestep input `[C, H, W]`.
    pub input: [usize; 3],
    /// Divide every channel width by this (1 = the paper's widths).
    pub width_div: usize,
    pub imp: bool,
    pub seed: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        crate::rng::splitmix64(&mut self.0)
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-7), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

struct Writer {
    rng: Rng,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Writer {
    fn put(&mut self, name: String, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors.push((name, shape, data));
    }
    fn normal(&mut self, name: String, shape: Vec<usize>, std: f32) {
        let n = shape.iter().product();
        let data = (0..n).map(|_| self.rng.normal() * std).collect();
        self.put(name, shape, data);
    }
    fn conv(&mut self, w: &str, b: Option<&str>, out: usize, inp: usize, k: usize, input_rate: f32) {
        let fan_in = (inp * k * k) as f32;
        self.normal(w.into(), vec![out, inp, k, k], 1.0 / (fan_in * input_rate).sqrt());
        if let Some(b) = b {
            self.put(b.into(), vec![out], vec![0.3; out]);
        }
    }
    fn bn(&mut self, prefix: &str, c: usize, beta: f32) {
        self.put(format!("{prefix}.weight"), vec![c], vec![1.0; c]);
        self.put(format!("{prefix}.bias"), vec![c], vec![beta; c]);
        self.put(format!("{prefix}.running_mean"), vec![c], vec![0.0; c]);
        self.put(format!("{prefix}.running_var"), vec![c], vec![1.0; c]);
    }
    fn imp(&mut self, name: String, c: usize, h: usize, w: usize, lo: f32, hi: f32) {
        let data = (0..c * h * w).map(|_| lo + (hi - lo) * self.rng.uniform()).collect();
        self.put(name, vec![1, c, h, w], data);
    }
}

/// The safetensors bytes of a random model of `spec.arch`.
pub fn synth_model_bytes(spec: &SynthSpec) -> Result<Vec<u8>, ModelError> {
    let mut w = Writer { rng: Rng(spec.seed), tensors: Vec::new() };
    let d = spec.width_div.max(1);
    let [c0, h0, w0] = spec.input;
    let mut meta: HashMap<String, String> = HashMap::new();
    match spec.arch.as_str() {
        "vgg11_48_legacy" => {
            let widths = [64, 128, 256, 256, 512, 512, 512, 512].map(|c| (c / d).max(1));
            let (mut c, mut h, mut wd) = (c0, h0, w0);
            for (n, &i) in [0usize, 2, 5, 7, 10, 12, 15, 17].iter().enumerate() {
                let rate = if n == 0 { 0.3 } else { 0.15 };
                w.conv(&format!("features.{i}.conv.module.weight"), Some(&format!("features.{i}.conv.module.bias")), widths[n], c, 3, rate);
                w.put(format!("features.{i}.bn.te"), vec![spec.timesteps, 1, 1, 1, 1], vec![1.0; spec.timesteps]);
                w.bn(&format!("features.{i}.bn.bn.module"), widths[n], 0.0);
                c = widths[n];
                if spec.imp {
                    w.imp(format!("features.{}.mem", i + 1), c, h, wd, -0.2, 0.2);
                }
                if [2, 7, 12, 17].contains(&i) {
                    (h, wd) = (h / 2, wd / 2);
                }
            }
            w.normal("classifier.module.1.weight".into(), vec![spec.num_classes, c * h * wd], 1.0 / ((c * h * wd) as f32 * 0.15).sqrt());
            w.put("classifier.module.1.bias".into(), vec![spec.num_classes], vec![0.0; spec.num_classes]);
            meta.insert("neuron".into(), r#"{"kind":"legacy_lif","tau":0.25,"v_th":1.0}"#.into());
        }
        "vgg11_dvs" => {
            let (mut c, mut h, mut wd) = (c0, h0, w0);
            for (l, (blocks, width)) in [(1, 64), (1, 128), (2, 256), (4, 512)].into_iter().enumerate() {
                for j in 0..blocks {
                    let p = format!("layer{}.{j}", l + 1);
                    let out = (width / d).max(1);
                    w.conv(&format!("{p}.conv.weight"), Some(&format!("{p}.conv.bias")), out, c, 3, if c == c0 { 0.3 } else { 0.15 });
                    w.bn(&format!("{p}.bn"), out, 0.0);
                    c = out;
                    if spec.imp {
                        w.imp(format!("{p}.spike.init_state"), c, h, wd, 0.4, 0.6);
                    }
                }
                if l < 3 {
                    (h, wd) = (h / 2, wd / 2);
                }
            }
            w.normal("fc.weight".into(), vec![spec.num_classes, c], 0.1);
            w.put("fc.bias".into(), vec![spec.num_classes], vec![0.0; spec.num_classes]);
        }
        "sew_resnet18" => {
            let imagenet = h0 >= 96;
            let (k, s) = if imagenet { (7, 2) } else { (3, 1) };
            let c1 = (64 / d).max(1);
            w.conv("conv1.weight", None, c1, c0, k, 0.3);
            w.bn("bn1", c1, 0.3);
            let mut h = (h0 + 2 * (k / 2) - k) / s + 1;
            let mut wd = (w0 + 2 * (k / 2) - k) / s + 1;
            if spec.imp {
                w.imp("sn1.init_state".into(), c1, h, wd, -0.2, 0.2);
            }
            if imagenet {
                (h, wd) = ((h - 1) / 2 + 1, (wd - 1) / 2 + 1);
            }
            let mut c = c1;
            for (l, (width, stride)) in [(64, 1), (128, 2), (256, 2), (512, 2)].into_iter().enumerate() {
                let out = (width / d).max(1);
                for blk in 0..2 {
                    let p = format!("layer{}.{blk}", l + 1);
                    let st = if blk == 0 { stride } else { 1 };
                    let (ho, wo) = ((h - 1) / st + 1, (wd - 1) / st + 1);
                    w.conv(&format!("{p}.conv1.weight"), None, out, c, 3, 0.2);
                    w.bn(&format!("{p}.bn1"), out, 0.3);
                    w.conv(&format!("{p}.conv2.weight"), None, out, out, 3, 0.2);
                    w.bn(&format!("{p}.bn2"), out, 0.3);
                    if spec.imp {
                        w.imp(format!("{p}.sn1.init_state"), out, ho, wo, -0.2, 0.2);
                        w.imp(format!("{p}.sn2.init_state"), out, ho, wo, -0.2, 0.2);
                    }
                    if st != 1 || c != out {
                        w.conv(&format!("{p}.downsample.0.weight"), None, out, c, 1, 0.2);
                        w.bn(&format!("{p}.downsample.1"), out, 0.3);
                        if spec.imp {
                            w.imp(format!("{p}.downsample_sn.init_state"), out, ho, wo, -0.2, 0.2);
                        }
                    }
                    (c, h, wd) = (out, ho, wo);
                }
            }
            w.normal("fc.weight".into(), vec![spec.num_classes, c], 0.1);
            w.put("fc.bias".into(), vec![spec.num_classes], vec![0.0; spec.num_classes]);
            meta.insert("stem".into(), if imagenet { "imagenet" } else { "cifar" }.into());
        }
        other => return Err(ModelError::UnknownArch { file: "(synthetic)".into(), arch: other.into() }),
    }
    meta.insert("format".into(), "1".into());
    meta.insert("arch".into(), spec.arch.clone());
    meta.insert("timesteps".into(), spec.timesteps.to_string());
    meta.insert("num_classes".into(), spec.num_classes.to_string());
    meta.insert("input".into(), format!("{c0}x{h0}x{w0}"));
    meta.insert("decode".into(), "mean".into());
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        w.tensors.into_iter().map(|(n, s, d)| (n, s, d.iter().flat_map(|v| v.to_le_bytes()).collect())).collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).expect("shape matches data")))
        .collect();
    safetensors::serialize(views, Some(meta)).map_err(|e| ModelError::Parse { file: "(synthetic)".into(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sew_resnet_whose_last_stage_is_one_pixel_loads_with_its_imps() {
        // 8×8 in, four stride-2 stages: the last feature maps are 1×1 and their IMPs
        // `[1, C, 1, 1]`, which the loader takes for the vector shape it sees there.
        let spec = SynthSpec { arch: "sew_resnet18".into(), num_classes: 10, timesteps: 2, input: [1, 8, 8], width_div: 8, imp: true, seed: 3 };
        let model = super::super::Model::from_bytes(&synth_model_bytes(&spec).unwrap(), "sew8", &Default::default()).unwrap();
        let with_imp: Vec<_> = model.graph.nodes.iter().filter(|n| matches!(&n.op, super::super::graph::Op::Neuron(x) if x.imp.is_some())).collect();
        assert!(with_imp.len() > 10, "{} neuron layers with IMP", with_imp.len());
        assert!(with_imp.iter().any(|n| n.shape.is_vector()), "no 1×1 layer: the case is not exercised");
    }
}
