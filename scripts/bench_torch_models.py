"""The reference PyTorch IMP-SNN models for scripts/bench_torch.py, with seeded random weights
scaled as spikestream's `model::synth` scales them, and a writer for the spikestream model file.

The module definitions are copied from scripts/fixtures/make_parity_fixtures.py (which builds them
as reference/imp-snn.md §1-§2 gives them): SpikingJelly 0.0.0.0.14 `LIFNode` / `IFNode` and
`layer.*` for vgg11_dvs and sew_resnet18, the IMP as the initial `v`; the amazing-cls legacy
`LIFSpike` / `StateLIFSpike` / `TEBN` as plain torch code for vgg11_48_legacy. Copied, not
imported, so the benchmark does not depend on the fixture script's other helpers.

Each model runs two ways on the same modules and weights:
- `model(x_seq)` in multi-step mode, `[T,B,C,H,W]` -> logits `[T,B,K]`: how SpikingJelly users
  run it (conv/BN/pool on the merged T*B batch, the neurons looping over T inside);
- `model.step(x_t, t)` in single-step mode, `[B,C,H,W]` -> logits `[B,K]`, the membrane kept in
  the neuron modules between calls: what an online engine does.
`set_mode(model, "m" | "s")` switches, `reset_state(model)` puts every membrane back to its IMP.
"""
import json
import warnings

import torch
import torch.nn as nn
from safetensors.torch import save_file

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")  # SpikingJelly's eval kernels
from spikingjelly.activation_based import functional, layer, neuron, surrogate


# ---------------------------------------------------------------- legacy 48x48 VGG (amazing-cls vgg_legacy.py)
class SeqToANNContainer(nn.Module):
    """[T,B,...] -> merge T*B -> module -> split; `self.module` gives the `.module.` in the key names."""

    def __init__(self, *mods):
        super().__init__()
        self.module = mods[0] if len(mods) == 1 else nn.Sequential(*mods)

    def forward(self, x):
        y = self.module(x.flatten(0, 1).contiguous())
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class TEBN(nn.Module):
    """y_t = te[t] * BN(x)_t, BN over the merged T*B batch, te one scalar per timestep."""

    def __init__(self, c, T):
        super().__init__()
        self.bn = SeqToANNContainer(nn.BatchNorm2d(c))
        self.te = nn.Parameter(torch.ones(T, 1, 1, 1, 1))

    def forward(self, x):
        return self.bn(x) * self.te


class TEBNLayer(nn.Module):
    def __init__(self, cin, cout, T):
        super().__init__()
        self.conv = SeqToANNContainer(nn.Conv2d(cin, cout, 3, 1, 1, bias=True))
        self.bn = TEBN(cout, T)

    def forward(self, x):
        return self.bn(self.conv(x))

    def step(self, x, t):  # one timestep: the same conv, BN and te[t]
        return self.bn.bn.module(self.conv.module(x)) * self.bn.te[t]


class LIFSpike(nn.Module):
    """Legacy LIF: mem = 0.25*mem + x; spike = (mem - 1 > 0); mem = mem*(1-spike); mem starts at 0.
    `mode` "m": x is [T,B,...] and the loop over T is inside (the reference forward); "s": one
    timestep, mem kept in `self.state` until `clear()`."""
    tau, thresh = 0.25, 1.0

    def __init__(self):
        super().__init__()
        self.mode, self.state = "m", None

    def initial(self, x0):
        return torch.zeros_like(x0)

    def charge_fire(self, mem, x):
        mem = mem * self.tau + x
        spike = (mem - self.thresh > 0).to(x)  # ZIF forward: strict >
        return spike, (1 - spike) * mem

    def forward(self, x):
        if self.mode == "s":
            spike, self.state = self.charge_fire(self.initial(x) if self.state is None else self.state, x)
            return spike
        mem, out = self.initial(x[0]), []
        for t in range(x.shape[0]):
            spike, mem = self.charge_fire(mem, x[t])
            out.append(spike)
        return torch.stack(out)

    def clear(self):
        self.state = None


class StateLIFSpike(LIFSpike):
    """LIFSpike whose mem starts at the learned IMP `mem` [1,C,H,W] (broadcast over the batch)."""

    def __init__(self, shape):
        super().__init__()
        self.mem = nn.Parameter(torch.empty(shape).uniform_(-0.2, 0.2))

    def initial(self, x0):
        return self.mem


class VGG11Legacy(nn.Module):
    """StateVGG11R48x48Legacy (imp=True) / VGG11R48x48Legacy (imp=False), imp-snn.md §2.1."""

    def __init__(self, T, K, widths=(64, 128, 256, 256, 512, 512, 512, 512), imp=True, hw=48, cin=2):
        super().__init__()
        feats, w = [], iter(widths)
        for item in ["c", "c", "P", "c", "c", "P", "c", "c", "P", "c", "c", "P"]:
            if item == "P":
                feats.append(SeqToANNContainer(nn.AvgPool2d(2)))
                hw //= 2
                continue
            cout = next(w)
            feats += [TEBNLayer(cin, cout, T), StateLIFSpike((1, cout, hw, hw)) if imp else LIFSpike()]
            cin = cout
        self.features = nn.Sequential(*feats)
        self.classifier = SeqToANNContainer(nn.Dropout(0.25), nn.Linear(cin * hw * hw, K))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(2))

    def step(self, x, t):
        for m in self.features:
            x = m.step(x, t) if isinstance(m, TEBNLayer) else m(x) if isinstance(m, LIFSpike) else m.module(x)
        return self.classifier.module(x.flatten(1))


# ---------------------------------------------------------------- SpikingJelly neurons with IMP
class _IMP:
    """V[0] = v_reset (0 for soft reset) + init_state, broadcast over the batch ([IMP] IFIMP)."""

    def _imp_v(self, x):
        if isinstance(self.v, float):
            self.v = torch.broadcast_to(self.v + self.init_state, x.shape).to(x)

    def multi_step_forward(self, x_seq):
        self._imp_v(x_seq[0])
        return super().multi_step_forward(x_seq)

    def single_step_forward(self, x):
        self._imp_v(x)
        return super().single_step_forward(x)


class StateLIFNode(_IMP, neuron.LIFNode):
    def __init__(self, shape, lo, hi, **kw):
        super().__init__(**kw)
        self.init_state = nn.Parameter(torch.empty(shape).uniform_(lo, hi))


class StateIFNode(_IMP, neuron.IFNode):
    def __init__(self, shape, lo, hi, **kw):
        super().__init__(**kw)
        self.init_state = nn.Parameter(torch.empty(shape).uniform_(lo, hi))


LIF_META = {"kind": "lif", "tau": 2.0, "v_th": 1.0, "reset": "soft", "decay_input": True, "detach_reset": True}
IF_HARD_META = {"kind": "if", "v_th": 1.0, "reset": "hard", "v_reset": 0.0}
LEGACY_META = {"kind": "legacy_lif", "tau": 0.25, "v_th": 1.0}


def lif(shape):  # 128 VGG11: tau 2, soft reset, detach_reset, decay_input, Sigmoid surrogate
    return StateLIFNode(shape, 0.4, 0.6, tau=2.0, decay_input=True, v_threshold=1.0, v_reset=None,
                        detach_reset=True, surrogate_function=surrogate.Sigmoid(), step_mode="m")


def if_node(shape):  # SEW-ResNet ImageNet: IF, hard reset to 0, ATan
    return StateIFNode(shape, -0.2, 0.2, v_threshold=1.0, v_reset=0.0, detach_reset=False,
                       surrogate_function=surrogate.ATan(), step_mode="m")


# ---------------------------------------------------------------- VGG11 for 128-res DVS (amazing-cls vgg.py)
class CBS(nn.Module):
    def __init__(self, cin, cout, hw):
        super().__init__()
        self.conv = layer.Conv2d(cin, cout, 3, padding=1, bias=True, step_mode="m")
        self.bn = layer.BatchNorm2d(cout, step_mode="m")
        self.spike = lif((1, cout, hw[0], hw[1]))

    def forward(self, x):
        return self.spike(self.bn(self.conv(x)))


class VGG11DVS(nn.Module):
    """layers [1,1,2,4], AvgPool2d(2) between stages, GAP per timestep, head fc (imp-snn.md §2.2)."""

    def __init__(self, K, widths=(64, 128, 256, 512), hw=(128, 128), cin=2):
        super().__init__()
        h, w = hw
        for i, (n, cout) in enumerate(zip((1, 1, 2, 4), widths)):
            if i:
                setattr(self, f"pool{i}", layer.AvgPool2d(2, 2, step_mode="m"))
                h, w = h // 2, w // 2
            blocks = []
            for _ in range(n):
                blocks.append(CBS(cin, cout, (h, w)))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.gap = layer.AdaptiveAvgPool2d((1, 1), step_mode="m")
        self.fc = nn.Linear(cin, K)

    def body(self, x):
        x = self.layer1(x)
        for i in (2, 3, 4):
            x = getattr(self, f"layer{i}")(getattr(self, f"pool{i - 1}")(x))
        return self.gap(x)

    def forward(self, x):
        return self.fc(self.body(x).flatten(2))

    def step(self, x, t):
        return self.fc(self.body(x).flatten(1))


# ---------------------------------------------------------------- SEW-ResNet-18 (SpikingJelly sew_resnet, cnf ADD)
class SEWBlock(nn.Module):
    def __init__(self, cin, planes, stride, hw):
        super().__init__()
        self.conv1 = layer.Conv2d(cin, planes, 3, stride, 1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(planes, step_mode="m")
        self.sn1 = if_node((1, planes, *hw))
        self.conv2 = layer.Conv2d(planes, planes, 3, 1, 1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(planes, step_mode="m")
        self.sn2 = if_node((1, planes, *hw))
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(layer.Conv2d(cin, planes, 1, stride, bias=False, step_mode="m"),
                                            layer.BatchNorm2d(planes, step_mode="m"))
            self.downsample_sn = if_node((1, planes, *hw))

    def forward(self, x):
        out = self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x))))))
        identity = x if self.downsample is None else self.downsample_sn(self.downsample(x))
        return out + identity  # SEW ADD


class SEWResNet18(nn.Module):
    """ImageNet stem (7x7 s2 conv, BN, IF, AvgPool 3/2/1), hard-reset IF (imp-snn.md §2.3)."""

    def __init__(self, K, widths=(64, 128, 256, 512), hw=(224, 224), cin=3):
        super().__init__()
        h, w = hw
        self.conv1 = layer.Conv2d(cin, widths[0], 7, 2, 3, bias=False, step_mode="m")
        h, w = (h + 1) // 2, (w + 1) // 2
        self.bn1 = layer.BatchNorm2d(widths[0], step_mode="m")
        self.sn1 = if_node((1, widths[0], h, w))
        self.pool = layer.AvgPool2d(3, 2, 1, count_include_pad=True, step_mode="m")
        h, w = (h + 1) // 2, (w + 1) // 2
        c = widths[0]
        for i, (planes, stride) in enumerate(zip(widths, (1, 2, 2, 2))):
            if stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
            setattr(self, f"layer{i + 1}", nn.Sequential(SEWBlock(c, planes, stride, (h, w)),
                                                         SEWBlock(planes, planes, 1, (h, w))))
            c = planes
        self.gap = layer.AdaptiveAvgPool2d((1, 1), step_mode="m")
        self.fc = nn.Linear(c, K)

    def body(self, x):
        x = self.pool(self.sn1(self.bn1(self.conv1(x))))
        for i in (1, 2, 3, 4):
            x = getattr(self, f"layer{i}")(x)
        return self.gap(x)

    def forward(self, x):
        return self.fc(self.body(x).flatten(2))

    def step(self, x, t):
        return self.fc(self.body(x).flatten(1))


# ---------------------------------------------------------------- modes, state, weights, file
def neurons(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (LIFSpike, neuron.BaseNode))]


def set_mode(model, mode):
    functional.set_step_mode(model, mode)  # SpikingJelly layers and neurons
    for m in model.modules():
        if isinstance(m, LIFSpike):
            m.mode = mode


def reset_state(model):
    functional.reset_net(model)  # SpikingJelly: v back to v_reset (float); the IMP is added on the next call
    for m in model.modules():
        if isinstance(m, LIFSpike):
            m.clear()


def build(arch, T, K, input_chw, width_div=1, seed=7):
    """The reference model of `arch` with spikestream-synth-like random weights (src/model/synth.rs:
    conv std 1/sqrt(fan_in * expected input rate), BN identity plus a shift, IMP uniform), eval mode.
    Returns (model, metadata for the spikestream file)."""
    g = torch.Generator().manual_seed(seed)
    d = max(1, width_div)
    c0, h0, w0 = input_chw
    meta = {"format": "1", "arch": arch, "timesteps": str(T), "num_classes": str(K), "input": f"{c0}x{h0}x{w0}",
            "decode": "mean"}
    if arch == "vgg11_48_legacy":
        assert h0 == w0, "vgg11_48_legacy needs a square input"
        model = VGG11Legacy(T, K, widths=tuple(max(1, c // d) for c in (64, 128, 256, 256, 512, 512, 512, 512)),
                            hw=h0, cin=c0)
        convs = [(m.conv.module, m.bn.bn.module, 0.3 if n == 0 else 0.15, 0.3, 0.0)
                 for n, m in enumerate(x for x in model.features if isinstance(x, TEBNLayer))]
        imp_range, head, head_std = (-0.2, 0.2), model.classifier.module[1], None
        meta["neuron"] = json.dumps(LEGACY_META, separators=(",", ":"))
    elif arch == "vgg11_dvs":
        model = VGG11DVS(K, widths=tuple(max(1, c // d) for c in (64, 128, 256, 512)), hw=(h0, w0), cin=c0)
        convs = [(m.conv, m.bn, 0.3 if m.conv.in_channels == c0 else 0.15, 0.3, 0.0)  # as synth.rs
                 for m in model.modules() if isinstance(m, CBS)]
        imp_range, head, head_std = (0.4, 0.6), model.fc, 0.1
        meta["neuron"] = json.dumps(LIF_META, separators=(",", ":"))
    elif arch == "sew_resnet18":
        assert h0 >= 96, "this benchmark builds the ImageNet stem (input >= 96 px)"
        model = SEWResNet18(K, widths=tuple(max(1, c // d) for c in (64, 128, 256, 512)), hw=(h0, w0), cin=c0)
        convs = [(model.conv1, model.bn1, 0.3, None, 0.3)]
        for blk in (b for b in model.modules() if isinstance(b, SEWBlock)):
            convs += [(blk.conv1, blk.bn1, 0.2, None, 0.3), (blk.conv2, blk.bn2, 0.2, None, 0.3)]
            if blk.downsample is not None:
                convs.append((blk.downsample[0], blk.downsample[1], 0.2, None, 0.3))
        imp_range, head, head_std = (-0.2, 0.2), model.fc, 0.1
        meta["neuron"] = json.dumps(IF_HARD_META, separators=(",", ":"))
        meta["stem"] = "imagenet"
    else:
        raise ValueError(f"unknown arch {arch}")
    with torch.no_grad():
        for conv, bn, rate, bias, beta in convs:
            fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
            conv.weight.normal_(0.0, 1.0 / (fan_in * rate) ** 0.5, generator=g)
            if conv.bias is not None:
                conv.bias.fill_(bias)
            bn.weight.fill_(1.0)
            bn.bias.fill_(beta)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
        for name, p in model.named_parameters():
            if name.endswith(".te"):
                p.fill_(1.0)
            elif name.endswith(".mem") or name.endswith(".init_state"):
                p.uniform_(*imp_range, generator=g)
        std = head_std if head_std is not None else 1.0 / (head.in_features * 0.15) ** 0.5
        head.weight.normal_(0.0, std, generator=g)
        head.bias.zero_()
    return model.eval(), meta


def stages(model):
    """(neuron module, the BatchNorm2d that feeds it) in forward order."""
    if isinstance(model, VGG11Legacy):
        f = model.features
        return [(f[i + 1], f[i].bn.bn.module) for i in range(len(f)) if isinstance(f[i], TEBNLayer)]
    if isinstance(model, VGG11DVS):
        return [(m.spike, m.bn) for m in model.modules() if isinstance(m, CBS)]
    out = [(model.sn1, model.bn1)]
    for b in (m for m in model.modules() if isinstance(m, SEWBlock)):
        out += [(b.sn1, b.bn1), (b.sn2, b.bn2)] + ([(b.downsample_sn, b.downsample[1])] if b.downsample is not None else [])
    return out


class _Stop(Exception):
    pass


@torch.inference_mode()
def calibrate(model, x_seq, target):
    """Shift each layer's BN bias, in forward order, so that the layer fires at about `target` on
    `x_seq` (a trained network fires 10-30 %; random weights alone can die out or saturate). The
    shift is found by bisection on the captured neuron input, one (partial) forward pass per layer."""
    set_mode(model, "m")
    rates = {}
    names = {m: n for n, m in neurons(model)}
    for nrn, bn in stages(model):
        got = {}

        def grab(m, i):
            got["x"] = i[0].clone()
            raise _Stop  # the layers after this one are not needed yet

        h = nrn.register_forward_pre_hook(grab)
        reset_state(model)
        try:
            model(x_seq)
        except _Stop:
            pass
        finally:
            h.remove()

        def rate(shift):
            reset_state(nrn)
            return nrn(got["x"] + shift).mean().item()

        lo, hi = -4.0, 4.0
        for _ in range(18):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if rate(mid) < target else (lo, mid)
        bn.bias += (lo + hi) / 2
        rates[names[nrn]] = rate((lo + hi) / 2)
        reset_state(nrn)
    reset_state(model)
    return rates


def save_model_file(model, meta, path):
    """The spikestream model file: the state dict under the reference key names, plus metadata."""
    sd = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(sd, str(path), metadata=meta)
