//! Architecture presets: each maps the reference PyTorch state-dict names of one model family
//! onto a [`Graph`]. Channel widths come from the file (so reduced-width test models load with
//! the same code); every width is checked against its neighbours.

mod custom;
mod sew;
mod vgg_dvs;
mod vgg_legacy;

use super::fold::fold_bn;
use super::graph::{Conv, Graph, Neuron, Op, Shape, Sources, out_size};
use super::meta::ModelMeta;
use super::neuron::{NeuronArrays, NeuronKind};
use super::store::{Dim, TensorStore};
use super::ModelError;

pub fn build(meta: &ModelMeta, store: &TensorStore) -> Result<Graph, ModelError> {
    store.set_arch(&meta.arch);
    let [c, h, w] = meta.input;
    let mut b = Builder { store, meta, graph: Graph::new(Shape::new(c, h, w), meta.timesteps) };
    match meta.arch.as_str() {
        "vgg11_48_legacy" => vgg_legacy::build(&mut b)?,
        "vgg11_dvs" => vgg_dvs::build(&mut b)?,
        "sew_resnet18" => sew::build(&mut b)?,
        "graph" => custom::build(&mut b)?,
        other => return Err(ModelError::UnknownArch { file: store.file().into(), arch: other.into() }),
    }
    let mut graph = b.graph;
    if graph.num_classes() != meta.num_classes {
        return Err(ModelError::Inconsistent {
            file: store.file().into(),
            reason: format!("the network has {} outputs but num_classes is {}", graph.num_classes(), meta.num_classes),
        });
    }
    for node in &graph.nodes {
        let sh = node.shape;
        if sh.c == 0 || sh.h == 0 || sh.w == 0 {
            return Err(ModelError::Inconsistent { file: store.file().into(), reason: format!("layer '{}' has an empty output {sh} (a tensor with a 0 dimension?)", node.name) });
        }
        crate::limits::tensor(|| format!("layer '{}' output", node.name), &[sh.c, sh.h, sh.w], 4)
            .map_err(|e| ModelError::Inconsistent { file: store.file().into(), reason: format!("{e} (model input {})", graph.input) })?;
    }
    graph.finish();
    Ok(graph)
}

/// The per-sample input an architecture fixes by itself, `CxHxW`, where the file's tensors give
/// the rest: `vgg11_48_legacy` is 48x48 (its classifier reads a 3x3 map after four 2x2 pools)
/// with as many channels as its first convolution takes.
pub fn inferred_input(arch: &str, store: &TensorStore) -> Option<String> {
    match arch {
        "vgg11_48_legacy" => store.shape_of("features.0.conv.module.weight").and_then(|s| s.get(1).copied()).map(|c| format!("{c}x48x48")),
        _ => None,
    }
}

/// The largest kernel or stride a layer may have.
pub const MAX_WINDOW: usize = 1 << 12;

/// Shared construction steps.
pub(crate) struct Builder<'s, 'a> {
    pub store: &'s TensorStore<'a>,
    pub meta: &'s ModelMeta,
    pub graph: Graph,
}

/// A convolution to add.
pub(crate) struct ConvSpec<'n> {
    pub name: &'n str,
    pub weight: String,
    pub bias: Option<String>,
    pub bn: Option<String>,
    pub time_scale: Option<String>,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Builder<'_, '_> {
    /// Records the file tensors of the node just pushed.
    fn sources(&mut self, sources: Sources) {
        if let Some(node) = self.graph.nodes.last_mut() {
            node.sources = sources;
        }
    }

    fn file(&self) -> String {
        self.store.file().to_string()
    }

    /// Adds a convolution (BN folded, optional TEBN scale) reading `input`.
    pub fn conv(&mut self, input: usize, spec: ConvSpec) -> Result<usize, ModelError> {
        let s = self.graph.value_shape(input);
        let k = spec.kernel;
        self.window(spec.name, "conv", k, spec.stride, spec.padding)?;
        let w = self.store.get(&spec.weight, &[Dim::Any, Dim::Is(s.c), Dim::Is(k), Dim::Is(k)])?;
        let out_ch = w.shape[0];
        if out_ch == 0 {
            return Err(ModelError::Inconsistent { file: self.file(), reason: format!("conv '{}': '{}' has 0 output channels, an empty output", spec.name, spec.weight) });
        }
        let mut weight = w.data;
        let mut bias = match &spec.bias {
            Some(name) => self.store.get(name, &[Dim::Is(out_ch)])?.data,
            None => vec![0.0; out_ch],
        };
        if let Some(bn) = &spec.bn {
            fold_bn(self.store, bn, &mut weight, &mut bias)?;
        }
        let time_scale = match &spec.time_scale {
            Some(name) => Some(self.store.get(name, &[Dim::Is(self.meta.timesteps), Dim::Is(1), Dim::Is(1), Dim::Is(1), Dim::Is(1)])?.data),
            None => None,
        };
        if s.h + 2 * spec.padding < k || s.w + 2 * spec.padding < k {
            return Err(ModelError::Inconsistent { file: self.file(), reason: format!("{}: a {k}x{k} kernel does not fit the {s} input", spec.name) });
        }
        let shape = Shape::new(out_ch, out_size(s.h, k, spec.stride, spec.padding), out_size(s.w, k, spec.stride, spec.padding));
        let conv = Conv { in_ch: s.c, out_ch, kernel: k, stride: spec.stride, padding: spec.padding, weight, bias, time_scale };
        let v = self.graph.push(spec.name, Op::Conv(conv), vec![input], shape);
        self.sources(Sources { weight: Some(spec.weight), bias: spec.bias, bn: spec.bn, time_scale: spec.time_scale, imp: None });
        Ok(v)
    }

    /// Adds a neuron layer; its IMP is `imp_tensor` when the file has it.
    pub fn neuron(&mut self, input: usize, name: &str, default: NeuronKind, imp_tensor: &str) -> Result<usize, ModelError> {
        self.neuron_with(input, name, self.meta.neuron.unwrap_or(default), imp_tensor)
    }

    /// Adds a neuron layer with its own rule `kind` (not the file-wide `neuron` metadata).
    pub fn neuron_with(&mut self, input: usize, name: &str, kind: NeuronKind, imp_tensor: &str) -> Result<usize, ModelError> {
        let s = self.graph.value_shape(input);
        // A vector's IMP is `[1, C]`; a 1×1 feature map's (a small input through a deep net) is
        // `[1, C, 1, 1]` in the reference's files, which is the same C values.
        let vector = s.is_vector() && self.store.rank(imp_tensor) != Some(4);
        let dims = if vector { vec![Dim::Is(1), Dim::Is(s.c)] } else { vec![Dim::Is(1), Dim::Is(s.c), Dim::Is(s.h), Dim::Is(s.w)] };
        let imp = self.store.optional(imp_tensor, &dims)?.map(|t| t.data);
        let arrays = self.neuron_arrays(name, kind, s)?;
        let v = self.graph.push(name, Op::Neuron(Neuron { kind, imp, arrays }), vec![input], s);
        self.sources(Sources { imp: Some(imp_tensor.to_string()), ..Sources::default() });
        Ok(v)
    }

    /// The per-neuron parameters of layer `name`: tensors `{name}.neuron.{key}` of the layer's
    /// shape (`[C, H, W]`, or `[N]` for a vector), for the keys `kind` takes. Shapes are checked
    /// before the data is read; every neuron's values are checked as the JSON's are.
    fn neuron_arrays(&mut self, name: &str, kind: NeuronKind, s: Shape) -> Result<NeuronArrays, ModelError> {
        let dims = if s.is_vector() { vec![Dim::Is(s.c)] } else { vec![Dim::Is(s.c), Dim::Is(s.h), Dim::Is(s.w)] };
        let mut arrays = NeuronArrays::default();
        for key in kind.keys() {
            let tensor = format!("{name}.neuron.{key}");
            if let Some(t) = self.store.optional(&tensor, &dims)? {
                let single = NeuronArrays { params: vec![(key, t.data)] };
                single.kinds(kind, s.len()).map_err(|e| ModelError::Inconsistent { file: self.file(), reason: format!("tensor '{tensor}': {e}") })?;
                arrays.params.extend(single.params);
            }
        }
        if !arrays.is_empty() {
            arrays.kinds(kind, s.len()).map_err(|e| ModelError::Inconsistent { file: self.file(), reason: format!("layer '{name}' (tensors {name}.neuron.*): {e}") })?;
        }
        Ok(arrays)
    }

    pub fn avg_pool(&mut self, input: usize, name: &str, kernel: usize, stride: usize, padding: usize) -> Result<usize, ModelError> {
        let s = self.graph.value_shape(input);
        self.window(name, "avgpool", kernel, stride, padding)?;
        if s.h + 2 * padding < kernel || s.w + 2 * padding < kernel {
            return Err(ModelError::Inconsistent { file: self.file(), reason: format!("{name}: pooling {kernel}x{kernel} does not fit {s}") });
        }
        let pool = super::graph::Pool { kernel, stride, padding, count_include_pad: true };
        let shape = Shape::new(s.c, out_size(s.h, kernel, stride, padding), out_size(s.w, kernel, stride, padding));
        Ok(self.graph.push(name, Op::AvgPool(pool), vec![input], shape))
    }

    /// A convolution or pooling window must have a kernel and a stride of at least 1 (0 would
    /// divide by zero or read nothing), none above [`MAX_WINDOW`], and a padding of at most the
    /// kernel (a pool: half of it, as PyTorch requires).
    fn window(&self, name: &str, op: &str, kernel: usize, stride: usize, padding: usize) -> Result<(), ModelError> {
        let most_padding = if op == "avgpool" { kernel / 2 } else { kernel };
        let reason = if kernel == 0 {
            "kernel 0".to_string()
        } else if stride == 0 {
            "stride 0".to_string()
        } else if kernel > MAX_WINDOW || stride > MAX_WINDOW {
            format!("kernel or stride above {MAX_WINDOW}")
        } else if padding > most_padding {
            format!("padding above {most_padding}")
        } else {
            return Ok(());
        };
        Err(ModelError::Inconsistent { file: self.file(), reason: format!("{op} '{name}': {reason} (kernel {kernel}, stride {stride}, padding {padding})") })
    }

    pub fn global_avg_pool(&mut self, input: usize, name: &str) -> usize {
        let s = self.graph.value_shape(input);
        self.graph.push(name, Op::GlobalAvgPool, vec![input], Shape::new(s.c, 1, 1))
    }

    pub fn flatten(&mut self, input: usize, name: &str) -> usize {
        let s = self.graph.value_shape(input);
        self.graph.push(name, Op::Flatten, vec![input], Shape::new(s.len(), 1, 1))
    }

    pub fn linear(&mut self, input: usize, name: &str) -> Result<usize, ModelError> {
        let n = self.graph.value_shape(input).len();
        let w = self.store.get(&format!("{name}.weight"), &[Dim::Any, Dim::Is(n)])?;
        let outputs = w.shape[0];
        if outputs == 0 {
            return Err(ModelError::Inconsistent { file: self.file(), reason: format!("linear '{name}': '{name}.weight' has 0 outputs, an empty output") });
        }
        let bias = self.store.optional(&format!("{name}.bias"), &[Dim::Is(outputs)])?.map_or(vec![0.0; outputs], |b| b.data);
        let has_bias = self.store.contains(&format!("{name}.bias"));
        let lin = super::graph::Linear { inputs: n, outputs, weight: w.data, bias };
        let v = self.graph.push(name, Op::Linear(lin), vec![input], Shape::new(outputs, 1, 1));
        self.sources(Sources { weight: Some(format!("{name}.weight")), bias: has_bias.then(|| format!("{name}.bias")), ..Sources::default() });
        Ok(v)
    }

    pub fn add(&mut self, a: usize, b: usize, name: &str) -> Result<usize, ModelError> {
        let (sa, sb) = (self.graph.value_shape(a), self.graph.value_shape(b));
        if sa != sb {
            return Err(ModelError::Inconsistent { file: self.file(), reason: format!("{name}: cannot add {sa} and {sb}") });
        }
        Ok(self.graph.push(name, Op::Add, vec![a, b], sa))
    }
}
