#!/usr/bin/env python3
"""Turns an amazing-cls / mmengine checkpoint (.pth) into a spikestream model file (.safetensors).

The tensors keep their reference names (`backbone.features.0.conv.module.weight`,
`backbone.layer1.0.spike.init_state`, `head.fc.weight`, ...; spikestream strips the `backbone.` /
`head.` prefixes itself), `num_batches_tracked` is dropped, half-precision tensors become float32,
and the run settings the file cannot show go into the safetensors `__metadata__` (all strings).

Example (CIFAR10-DVS 48x48, T=10, IMP):
  .venv-reference/bin/python scripts/export_mmengine_checkpoint.py epoch_200.pth model.safetensors \\
      --arch vgg11_48_legacy --timesteps 10 --input 2x48x48 \\
      --classes airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck \\
      --neuron '{"kind":"legacy_lif","tau":0.25,"v_th":1.0}' \\
      --framing '{"split_by":"number","frames":10,"sensor":[128,128],"resize":[48,48]}'

Also accepts the ImageNet-1k LTS scripts' checkpoints (weights under 'model') and bare state dicts.
Needs torch and safetensors (scripts/setup-reference.sh makes such a venv).
"""
import argparse
import json
import re
import sys

import torch
from safetensors.torch import save_file

ARCHS = ("vgg11_48_legacy", "vgg11_dvs", "sew_resnet18", "graph")
# Classifier weights by arch, to infer or check the number of classes.
HEAD_KEYS = (r"(^|\.)classifier\.module\.1\.weight$", r"(^|\.)fc\.weight$")


def json_arg(text, flag):
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except json.JSONDecodeError as e:
        sys.exit(f"error: {flag} is not valid JSON ({e}): {text!r}")


def parse_classes(text):
    if text.lstrip().startswith("["):
        names = json.loads(text)
    else:
        names = [c.strip() for c in text.split(",") if c.strip()]
    if not names or not all(isinstance(n, str) for n in names):
        sys.exit("error: --classes wants a JSON list of strings or a comma-separated list")
    return names


def state_dict_of(ckpt, key):
    if key:
        if key not in ckpt:
            sys.exit(f"error: checkpoint has no '{key}' (top-level keys: {sorted(ckpt)})")
        return ckpt[key]
    if isinstance(ckpt, dict):
        for k in ("state_dict", "model"):
            if k in ckpt and isinstance(ckpt[k], dict):
                return ckpt[k]
        if all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return ckpt
    sys.exit("error: no state dict found (looked for 'state_dict', 'model', or a bare dict of tensors); "
             "name it with --state-dict-key")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="mmengine .pth (dict with 'state_dict' and 'meta')")
    ap.add_argument("output", help="spikestream model file to write (.safetensors)")
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--timesteps", type=int, help="T the model was trained with (inferred from TEBN '.te' if absent)")
    ap.add_argument("--classes", help="class names: JSON list or comma-separated, in label-index order")
    ap.add_argument("--num-classes", type=int, help="number of classes (inferred from the classifier if absent)")
    ap.add_argument("--input", help="input frame shape CxHxW, e.g. 2x48x48")
    ap.add_argument("--decode", choices=("mean", "last"), help="mean over time (SDT/TET) or last timestep (LTS)")
    ap.add_argument("--neuron", help='neuron parameters as JSON, e.g. {"kind":"lif","tau":2.0,"v_th":1.0,"reset":"soft"}')
    ap.add_argument("--framing", help='how events become frames, as JSON, e.g. {"split_by":"number","frames":10}')
    ap.add_argument("--stem", choices=("imagenet", "cifar"), help="sew_resnet18 only (inferred from conv1 if absent)")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="any further metadata string")
    ap.add_argument("--state-dict-key", help="where the weights are in the checkpoint (default: auto)")
    a = ap.parse_args(argv)

    ckpt = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    sd = state_dict_of(ckpt, a.state_dict_key)

    tensors, dropped = {}, 0
    for name, t in sd.items():
        if name.endswith("num_batches_tracked"):
            dropped += 1
            continue
        if not isinstance(t, torch.Tensor):
            sys.exit(f"error: state-dict entry {name} is a {type(t).__name__}, not a tensor")
        t = t.detach()
        if t.is_floating_point():
            t = t.float()
        tensors[name] = t.contiguous().clone()  # clone: safetensors refuses shared storage

    meta = {"format": "1", "arch": a.arch}
    te = sorted({tuple(t.shape) for n, t in tensors.items() if n.endswith(".te")})
    if a.timesteps is not None:
        if te and any(s[0] != a.timesteps for s in te):
            sys.exit(f"error: --timesteps {a.timesteps} contradicts the TEBN scales ('.te' shapes {te})")
        meta["timesteps"] = str(a.timesteps)
    elif te:
        meta["timesteps"] = str(te[0][0])

    heads = [t for n, t in tensors.items() if any(re.search(p, n) for p in HEAD_KEYS) and t.dim() == 2]
    k_file = heads[-1].shape[0] if heads else None
    classes = parse_classes(a.classes) if a.classes else None
    k = a.num_classes if a.num_classes is not None else (len(classes) if classes else k_file)
    if classes and len(classes) != k:
        sys.exit(f"error: --classes names {len(classes)} classes but --num-classes is {k}")
    if k is not None and k_file is not None and k != k_file:
        sys.exit(f"error: {k} classes asked, but the classifier weight has {k_file} rows")
    if k is not None:
        meta["num_classes"] = str(k)
    if classes:
        meta["classes"] = json.dumps(classes, separators=(",", ":"))
    if a.input:
        if not re.fullmatch(r"\d+x\d+x\d+", a.input):
            sys.exit(f"error: --input wants CxHxW, e.g. 2x48x48, got {a.input!r}")
        meta["input"] = a.input
    if a.decode:
        meta["decode"] = a.decode
    if a.neuron:
        meta["neuron"] = json_arg(a.neuron, "--neuron")
    if a.framing:
        meta["framing"] = json_arg(a.framing, "--framing")
    if a.stem and a.arch != "sew_resnet18":
        sys.exit("error: --stem only applies to --arch sew_resnet18")
    if a.arch == "sew_resnet18":
        stems = [t.shape[-1] for n, t in tensors.items() if n in ("conv1.weight", "backbone.conv1.weight")]
        found = {7: "imagenet", 3: "cifar"}.get(stems[0]) if stems else None
        if a.stem and found and a.stem != found:
            sys.exit(f"error: --stem {a.stem} contradicts conv1 ({stems[0]}x{stems[0]} kernel: {found} stem)")
        if a.stem or found:
            meta["stem"] = a.stem or found
    for kv in a.meta:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            sys.exit(f"error: --meta wants KEY=VALUE, got {kv!r}")
        meta[key] = value

    save_file(tensors, a.output, metadata=meta)
    imp = [n for n in tensors if n.endswith((".mem", ".init_state"))]
    print(f"wrote {a.output}: {len(tensors)} tensors ({dropped} num_batches_tracked dropped, "
          f"{len(imp)} IMP tensors), metadata {json.dumps(meta)}")


if __name__ == "__main__":
    main()
