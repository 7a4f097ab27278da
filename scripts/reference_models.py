"""The reference PyTorch IMP-SNN architectures, written once for every script that needs them:
scripts/fixtures/make_parity_fixtures.py (the parity fixtures), scripts/bench_torch_models.py
(the PyTorch side of the latency benchmark) and scripts/train_demo.py (the shipped demo model).

Built as reference/imp-snn.md §1-§3 gives them:
- `vgg11_48_legacy`: the amazing-cls vgg_legacy.py modules `SeqToANNContainer`, `TEBN`,
  `LIFSpike` / `StateLIFSpike` (plain torch there, and here);
- `vgg11_dvs` and `sew_resnet18`: SpikingJelly 0.0.0.0.14 `layer.*` with its own `LIFNode` /
  `IFNode`, the IMP added to the initial `v` as the [IMP] speed benchmark's IFIMP does.

Every model runs two ways on the same modules and weights:
- `model(x_seq)` in multi-step mode, `[T,B,C,H,W]` -> logits `[T,B,K]` (the reference forward:
  conv/BN/pool on the merged T*B batch, the neurons looping over T inside);
- `model.step(x_t, t)` in single-step mode, `[B,C,H,W]` -> logits `[B,K]`, the membrane kept in
  the neuron modules between calls: what an online engine does.
`set_mode(model, "m" | "s")` switches, `reset_state(model)` puts every membrane back to its IMP.
`model.stages()` lists (conv, bn, te, neuron name) in forward order and `model.head()` the
classifier, for scripts that set or inspect weights layer by layer.
"""
import warnings

import torch
import torch.nn as nn

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")  # SpikingJelly's eval kernels
from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402

# The neuron metadata of the spikestream model file for each reference neuron.
LIF_META = {"kind": "lif", "tau": 2.0, "v_th": 1.0, "reset": "soft", "decay_input": True, "detach_reset": True}
IF_HARD_META = {"kind": "if", "v_th": 1.0, "reset": "hard", "v_reset": 0.0}
LEGACY_META = {"kind": "legacy_lif", "tau": 0.25, "v_th": 1.0}


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
    """StateVGG11R48x48Legacy (imp=True) / VGG11R48x48Legacy (imp=False), imp-snn.md §2.1.
    `imp_neuron(shape)` builds each IMP neuron (a training script passes its own, faster-to-train
    module with the same `mem` parameter); the construction order, and so the use of torch's global
    random generator, is the reference's: neurons as the layers are built, then Kaiming conv weights."""

    def __init__(self, T, K, widths=(64, 128, 256, 256, 512, 512, 512, 512), imp=True, hw=48, cin=2,
                 imp_neuron=StateLIFSpike):
        super().__init__()
        feats, w = [], iter(widths)
        for item in ["c", "c", "P", "c", "c", "P", "c", "c", "P", "c", "c", "P"]:
            if item == "P":
                feats.append(SeqToANNContainer(nn.AvgPool2d(2)))
                hw //= 2
                continue
            cout = next(w)
            feats += [TEBNLayer(cin, cout, T), imp_neuron((1, cout, hw, hw)) if imp else LIFSpike()]
            cin = cout
        self.features = nn.Sequential(*feats)
        self.classifier = SeqToANNContainer(nn.Dropout(0.25), nn.Linear(cin * hw * hw, K))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.classifier(self.features(x).flatten(2))

    def step(self, x, t):
        for m in self.features:
            x = m.step(x, t) if isinstance(m, TEBNLayer) else m(x) if isinstance(m, LIFSpike) else m.module(x)
        return self.classifier.module(x.flatten(1))

    def stages(self):
        return [dict(conv=self.features[i].conv.module, bn=self.features[i].bn.bn.module,
                     te=self.features[i].bn.te, neuron=f"features.{i + 1}")
                for i, m in enumerate(self.features) if isinstance(m, TEBNLayer)]

    def head(self):
        return self.classifier.module[1]


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


def lif(shape, imp=True):  # 128 VGG11: tau 2, soft reset, detach_reset, decay_input, Sigmoid surrogate
    kw = dict(tau=2.0, decay_input=True, v_threshold=1.0, v_reset=None, detach_reset=True,
              surrogate_function=surrogate.Sigmoid(), step_mode="m")
    return StateLIFNode(shape, 0.4, 0.6, **kw) if imp else neuron.LIFNode(**kw)


def if_node(shape, imp=True, reset="hard"):  # SEW-ResNet: IF, hard reset to 0 (ImageNet) or soft (CIFAR), ATan
    kw = dict(v_threshold=1.0, v_reset=0.0 if reset == "hard" else None, detach_reset=False,
              surrogate_function=surrogate.ATan(), step_mode="m")
    return StateIFNode(shape, -0.2, 0.2, **kw) if imp else neuron.IFNode(**kw)


# ---------------------------------------------------------------- VGG11 for 128-res DVS (amazing-cls vgg.py)
class _GapHead:
    """forward/step for models whose `body` ends in global average pooling, then `fc`."""

    def forward(self, x):
        return self.fc(self.body(x).flatten(2))

    def step(self, x, t):
        return self.fc(self.body(x).flatten(1))

    def head(self):
        return self.fc


class CBS(nn.Module):
    def __init__(self, cin, cout, hw, imp=True):
        super().__init__()
        self.conv = layer.Conv2d(cin, cout, 3, padding=1, bias=True, step_mode="m")
        self.bn = layer.BatchNorm2d(cout, step_mode="m")
        self.spike = lif((1, cout, hw[0], hw[1]), imp)

    def forward(self, x):
        return self.spike(self.bn(self.conv(x)))


class VGG11DVS(_GapHead, nn.Module):
    """layers [1,1,2,4], AvgPool2d(2) between stages, GAP per timestep, head fc (imp-snn.md §2.2)."""

    def __init__(self, K, widths=(64, 128, 256, 512), hw=(128, 128), imp=True, cin=2):
        super().__init__()
        h, w = hw
        for i, (n, cout) in enumerate(zip((1, 1, 2, 4), widths)):
            if i:
                setattr(self, f"pool{i}", layer.AvgPool2d(2, 2, step_mode="m"))
                h, w = h // 2, w // 2
            blocks = []
            for _ in range(n):
                blocks.append(CBS(cin, cout, (h, w), imp))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.gap = layer.AdaptiveAvgPool2d((1, 1), step_mode="m")
        self.fc = nn.Linear(cin, K)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def body(self, x):
        x = self.layer1(x)
        for i in (2, 3, 4):
            x = getattr(self, f"layer{i}")(getattr(self, f"pool{i - 1}")(x))
        return self.gap(x)

    def stages(self):
        return [dict(conv=b.conv, bn=b.bn, te=None, neuron=f"layer{i}.{j}.spike")
                for i in (1, 2, 3, 4) for j, b in enumerate(getattr(self, f"layer{i}"))]


# ---------------------------------------------------------------- SEW-ResNet-18 (SpikingJelly sew_resnet, cnf ADD)
class SEWBlock(nn.Module):
    def __init__(self, cin, planes, stride, hw, sn):
        super().__init__()
        self.conv1 = layer.Conv2d(cin, planes, 3, stride, 1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(planes, step_mode="m")
        self.sn1 = sn(planes, hw)
        self.conv2 = layer.Conv2d(planes, planes, 3, 1, 1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(planes, step_mode="m")
        self.sn2 = sn(planes, hw)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(layer.Conv2d(cin, planes, 1, stride, bias=False, step_mode="m"),
                                            layer.BatchNorm2d(planes, step_mode="m"))
            self.downsample_sn = sn(planes, hw)

    def forward(self, x):
        out = self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x))))))
        identity = x if self.downsample is None else self.downsample_sn(self.downsample(x))
        return out + identity  # SEW ADD


class SEWResNet18(_GapHead, nn.Module):
    """ImageNet stem (7x7 s2 conv, BN, IF, AvgPool 3/2/1, count_include_pad) or the CIFAR stem
    (3x3 s1 conv, no pool); IF neurons with hard (ImageNet) or soft reset (imp-snn.md §2.3)."""

    def __init__(self, K, widths=(64, 128, 256, 512), hw=(224, 224), stem="imagenet", reset="hard", imp=True, cin=3):
        super().__init__()

        def sn(c, shape):
            return if_node((1, c, *shape), imp, reset)

        h, w = hw
        if stem == "imagenet":
            self.conv1 = layer.Conv2d(cin, widths[0], 7, 2, 3, bias=False, step_mode="m")
            h, w = (h + 1) // 2, (w + 1) // 2
        else:
            self.conv1 = layer.Conv2d(cin, widths[0], 3, 1, 1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(widths[0], step_mode="m")
        self.sn1 = sn(widths[0], (h, w))
        self.pool = None
        if stem == "imagenet":  # AvgPool instead of maxpool; count_include_pad=True (divide by 9)
            self.pool = layer.AvgPool2d(3, 2, 1, count_include_pad=True, step_mode="m")
            h, w = (h + 1) // 2, (w + 1) // 2
        c = widths[0]
        for i, (planes, stride) in enumerate(zip(widths, (1, 2, 2, 2))):
            if stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
            setattr(self, f"layer{i + 1}", nn.Sequential(SEWBlock(c, planes, stride, (h, w), sn),
                                                         SEWBlock(planes, planes, 1, (h, w), sn)))
            c = planes
        self.gap = layer.AdaptiveAvgPool2d((1, 1), step_mode="m")
        self.fc = nn.Linear(c, K)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def body(self, x):
        x = self.sn1(self.bn1(self.conv1(x)))
        if self.pool is not None:
            x = self.pool(x)
        for i in (1, 2, 3, 4):
            x = getattr(self, f"layer{i}")(x)
        return self.gap(x)

    def stages(self):
        st = [dict(conv=self.conv1, bn=self.bn1, te=None, neuron="sn1")]
        for i in (1, 2, 3, 4):
            for j, b in enumerate(getattr(self, f"layer{i}")):
                p = f"layer{i}.{j}"
                st += [dict(conv=b.conv1, bn=b.bn1, te=None, neuron=f"{p}.sn1"),
                       dict(conv=b.conv2, bn=b.bn2, te=None, neuron=f"{p}.sn2")]
                if b.downsample is not None:
                    st.append(dict(conv=b.downsample[0], bn=b.downsample[1], te=None, neuron=f"{p}.downsample_sn"))
        return st


# ---------------------------------------------------------------- modes and state
def neurons(model):
    """(name, module) of every spiking neuron, in forward order."""
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
