"""The reference PyTorch IMP-SNN models for scripts/bench_torch.py, with seeded random weights
scaled as spikestream's `model::synth` scales them, per-layer calibration of the spike rate, and
a writer for the spikestream model file.

The architectures, their multi-step `model(x_seq)` and single-step `model.step(x_t, t)` forms,
`set_mode` and `reset_state` come from scripts/reference_models.py (shared with the parity
fixtures and the demo-model trainer) and are re-exported here for bench_torch.py.
"""
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_models import (  # noqa: E402,F401  (re-exported for bench_torch.py)
    CBS, IF_HARD_META, LEGACY_META, LIF_META, SEWBlock, SEWResNet18, TEBNLayer, VGG11DVS, VGG11Legacy,
    neurons, reset_state, set_mode,
)


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
