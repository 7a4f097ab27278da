"""One timestep of a reference IMP-SNN as a pure function, for scripts/bench_peers.py: the
membranes are explicit inputs and outputs, so that ONNX Runtime, OpenVINO and torch.compile run
the same per-timestep work as spikestream's online loop, and its ONNX export.

`StepNet(model)` wraps a model built by scripts/bench_torch_models.py (sharing its modules and
weights): `net(x, t, *mems) -> (logits, *mems')`, or with `probe=True` `(logits, rates, *mems')`
where `rates[l]` is the spike rate of neuron layer l at this step (layers in forward order, named as
spikestream names them: `net.names`). `t` is an int64 tensor of shape [1]: TEBN's per-timestep
scale is read with `index_select`, since a 0-d tensor index makes inductor fall back to eager, and a
Python int recompiles per timestep. `net.init_mems(B)` gives the membranes a sequence starts from
(each neuron's IMP broadcast over the batch). The neuron updates are the reference's
(scripts/reference_models.py): the legacy LIF calls `LIFSpike.charge_fire`, SpikingJelly's LIF
(tau 2, decay_input, soft reset) and IF (hard reset to 0) are written out as SpikingJelly's
single-step kernels compute them.
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_models as M  # noqa: E402


def _conv_bn(conv, bn, x):  # SpikingJelly layers in single-step mode are their nn base classes
    return nn.BatchNorm2d.forward(bn, nn.Conv2d.forward(conv, x))


class StepNet(nn.Module):
    def __init__(self, model, probe=False):
        super().__init__()
        self.model, self.probe = model, probe
        self.names = [n for n, _ in M.neurons(model)]
        if isinstance(model, M.VGG11Legacy):
            self.arch = "vgg11_48_legacy"
            self.T = model.features[0].bn.te.shape[0]
        elif isinstance(model, M.VGG11DVS):
            self.arch = "vgg11_dvs"
        elif isinstance(model, M.SEWResNet18):
            self.arch = "sew_resnet18"
        else:
            raise ValueError(f"StepNet: unsupported model {type(model).__name__}")

    def init_mems(self, batch):
        """Each neuron's membrane at a sequence start: its IMP, broadcast over the batch."""
        out = []
        for _, m in M.neurons(self.model):
            imp = m.mem if isinstance(m, M.LIFSpike) else m.init_state  # SpikingJelly: v_reset (0) + init_state
            out.append(imp.detach().expand(batch, *imp.shape[1:]).contiguous().clone())
        return out

    def _fire(self, nrn, v, x):
        if isinstance(nrn, M.LIFSpike):
            return nrn.charge_fire(v, x)
        if isinstance(nrn, M.StateLIFNode):  # decay_input, v_reset None: soft reset by v_threshold
            v = v + (x - v) / nrn.tau
            s = (v - nrn.v_threshold >= 0).to(x)
            return s, v - s * nrn.v_threshold
        if isinstance(nrn, M.StateIFNode):  # hard reset to v_reset
            v = v + x
            s = (v - nrn.v_threshold >= 0).to(x)
            return s, (1.0 - s) * v + s * nrn.v_reset
        raise ValueError(f"StepNet: unsupported neuron {type(nrn).__name__}")

    def forward(self, x, t, *mems):
        mems, new, rates = list(mems), [], []

        def fire(nrn, y):
            s, v = self._fire(nrn, mems[len(new)], y)
            new.append(v)
            if self.probe:
                rates.append(s.mean())
            return s

        m = self.model
        if self.arch == "vgg11_48_legacy":
            for mod in m.features:
                if isinstance(mod, M.TEBNLayer):
                    te = torch.index_select(mod.bn.te.view(self.T, 1, 1, 1), 0, t)
                    x = mod.bn.bn.module(mod.conv.module(x)) * te
                elif isinstance(mod, M.LIFSpike):
                    x = fire(mod, x)
                else:
                    x = mod.module(x)
            logits = m.classifier.module(x.flatten(1))
        elif self.arch == "vgg11_dvs":
            for i in (1, 2, 3, 4):
                if i > 1:
                    x = F.avg_pool2d(x, 2, 2)
                for b in getattr(m, f"layer{i}"):
                    x = fire(b.spike, _conv_bn(b.conv, b.bn, x))
            logits = m.fc(x.mean((2, 3)))
        else:
            x = fire(m.sn1, _conv_bn(m.conv1, m.bn1, x))
            if m.pool is not None:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)
            for i in (1, 2, 3, 4):
                for b in getattr(m, f"layer{i}"):
                    out = fire(b.sn1, _conv_bn(b.conv1, b.bn1, x))
                    out = fire(b.sn2, _conv_bn(b.conv2, b.bn2, out))
                    ident = x if b.downsample is None else fire(b.downsample_sn, _conv_bn(*b.downsample, x))
                    x = out + ident
            logits = m.fc(x.mean((2, 3)))
        assert len(new) == len(self.names), (len(new), self.names)
        return (logits, torch.stack(rates), *new) if self.probe else (logits, *new)


def io_names(net):
    ins = ["x", "t"] + [f"mem{i}" for i in range(len(net.names))]
    outs = ["logits"] + (["rates"] if net.probe else []) + [f"mem{i}_out" for i in range(len(net.names))]
    return ins, outs


@torch.no_grad()
def export_onnx(net, batch, chw, path):
    """`net` for one static batch size as ONNX (one timestep, membranes in and out)."""
    x = torch.zeros(batch, *chw)
    args = (x, torch.tensor([0], dtype=torch.int64), *net.init_mems(batch))
    ins, outs = io_names(net)
    try:  # the dynamo exporter (onnxscript), torch's default
        torch.onnx.export(net, args, str(path), input_names=ins, output_names=outs, dynamo=True,
                          external_data=False, verbose=False)
    except Exception as e:  # noqa: BLE001  the TorchScript exporter where the dynamo one fails
        print(f"   dynamo ONNX export failed ({type(e).__name__}: {str(e)[:200]}); TorchScript exporter",
              file=sys.stderr)
        torch.onnx.export(net, args, str(path), input_names=ins, output_names=outs, dynamo=False, opset_version=17)
    return path


def step_sequence(fn, x, T, mems0, convert=lambda o: o):
    """Run `fn(x, t, *mems)` over one sequence from `mems0`: per-step logits [T,B,K] and, for a
    probe function, rates [T,L] (as numpy)."""
    import numpy as np
    mems, logits, rates = mems0, [], []
    for t in range(T):
        out = list(fn(x, t, mems))
        logits.append(np.asarray(convert(out[0]), np.float32))
        if len(out) > len(mems) + 1:
            rates.append(np.asarray(convert(out[1]), np.float64))
        mems = out[len(out) - len(mems):]
    return np.stack(logits), (np.stack(rates) if rates else None)
