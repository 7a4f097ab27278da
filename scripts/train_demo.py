#!/usr/bin/env python3
"""The PyTorch cross-check of the shipped demo model: trains the demo's task with the reference
PyTorch code (models/demo/pytorch/: model, report, card) and checks it with spikestream itself.
The shipped model (models/demo/sim10_vgg48_legacy.safetensors) is trained by `spikestream train`
(scripts/demo_model.py); both trainers on the same data should land within noise of each other.

1. `spikestream simulate`: a labelled 10-class dataset (64x64 sensor, fixed seed, train/test split).
2. `spikestream frames FILE --frames T --split-by number --size 48x48 --out X.npy` for every
   recording, so the training frames are exactly the frames `spikestream classify` computes from
   the model's framing metadata at inference.
3. PyTorch: the reference `StateVGG11R48x48Legacy` (amazing-cls vgg_legacy.py; imp-snn.md §1.1,
   §2.1, §3) at reduced width: legacy LIF (tau 0.25 decay, v_th 1, strict >, hard reset not
   detached, triangle surrogate gamma 1) with a learnable initial membrane potential `mem` per
   neuron, TEBN (BN over T*B, one learnable scale `te` per timestep), AvgPool2d(2) after conv 2, 4,
   6 and 8, Dropout 0.25 + Linear per timestep. TET-S loss (label smoothing 0.01, mean over T*B),
   SGD momentum 0.9 + cosine schedule, no weight decay on `.mem`, `.te`, BN and biases (the
   reference's paramwise_cfg). Test accuracy (mean-over-time decoding) every epoch; the best epoch
   is kept, as the reference's CheckpointHook(save_best) does.
4. Export with the reference state-dict key names and spikestream metadata (incl. framing).
5. `spikestream classify MODEL DATA/test --labels-from-dirs --backend cpu --json` (and gpu when an
   adapter exists): accuracy and per-file agreement with PyTorch.
6. Sample recordings for models/demo/samples/<class>/NNNN.aedat4: the first test-split files of
   every class (no selection by outcome), re-simulated with zstd compression (same events).
7. models/demo/pytorch/{train_report.json, MODEL_CARD.md} from the numbers above.

Run: scripts/setup-reference.sh && .venv-reference/bin/python scripts/train_demo.py
(about 12 minutes on a busy two-core machine; torch runs on one thread, --threads).
"""
import argparse, copy, hashlib, json, os, platform, shutil, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_models import VGG11Legacy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "sim10_vgg48_legacy"
FULL_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
# Label-preserving flips: a mirrored scene is another class's scene (time and polarity unchanged).
HFLIP_SWAP = {"bar_left": "bar_right", "rotate_cw": "rotate_ccw"}  # mirror x
VFLIP_SWAP = {"bar_up": "bar_down", "rotate_cw": "rotate_ccw"}  # mirror y


def cj(obj):
    return json.dumps(obj, separators=(",", ":"))


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- spikestream
def spikestream_binary(given):
    if given:
        return Path(given).resolve()
    log("building spikestream (cargo build --release) ...")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return (target if target.is_absolute() else ROOT / target) / "release" / "spikestream"


def sh(binary, *args, capture=True):
    r = subprocess.run([str(binary), *map(str, args)], cwd=ROOT, check=True, text=True,
                       stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)
    return r.stdout


def simulate(binary, sim_dir, seed, per_class, size, split, threads):
    """The dataset, unless the folder already holds exactly this one. Returns True if reused."""
    want = dict(seed=seed, per_class=per_class, size=size, split=split)
    stamp = sim_dir / "train_demo_params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        log(f"dataset: reusing {sim_dir}")
        return True
    if sim_dir.exists():
        shutil.rmtree(sim_dir)
    cmd = ["simulate", "--out", sim_dir, "--per-class", per_class, "--seed", seed, "--size", size]
    cmd += ["--split", split] if split is not None else []
    log("dataset: spikestream " + " ".join(map(str, cmd + ["--threads", threads])))
    t0 = time.time()
    log(sh(binary, *cmd, "--threads", threads).strip())
    log(f"  {time.time() - t0:.1f} s")
    stamp.write_text(json.dumps(want))
    return False


def class_files(split_dir):
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    return classes, [(f, ci) for ci, c in enumerate(classes) for f in sorted((split_dir / c).glob("*.aedat4"))]


def frames_of(binary, files, cache, a):
    """[N, T, 2, 48, 48] float32, each sample exactly `spikestream frames` of its recording."""
    jobs = []
    for f, _ in files:
        out = cache / f.parent.parent.name / f.parent.name / (f.stem + ".npy")
        if not out.exists():
            jobs.append((f, out))

    def one(job):
        f, out = job
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.npy")
        args = ["frames", f, "--frames", a.timesteps, "--split-by", "number", "--out", tmp]
        if a.resize:
            args += ["--size", "48x48"]
        sh(binary, *args)
        tmp.rename(out)

    if jobs:
        t0 = time.time()
        with ThreadPoolExecutor(a.bin_threads) as pool:
            list(pool.map(one, jobs))
        log(f"  binned {len(jobs)} recordings in {time.time() - t0:.1f} s")
    x = np.stack([np.load(cache / f.parent.parent.name / f.parent.name / (f.stem + ".npy")) for f, _ in files])
    assert x.shape[1:] == (a.timesteps, 2, 48, 48) and x.dtype == np.float32, x.shape
    return x, np.array([c for _, c in files], dtype=np.int64)


# ---------------------------------------------------------------- model (amazing-cls vgg_legacy.py)
class ZIF(torch.autograd.Function):
    """Heaviside forward (strict >), triangle surrogate (1/g)^2 * max(0, g - |u|) backward."""

    @staticmethod
    def forward(ctx, u, gamma):
        ctx.save_for_backward(u)
        ctx.gamma = gamma
        return (u > 0).to(u)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        g = ctx.gamma
        return grad * (1 / g) ** 2 * (g - u.abs()).clamp(min=0), None


class LegacyLIFSeq(torch.autograd.Function):
    """The whole legacy LIF sequence as one autograd op, with the gradient the reference's
    per-step autograd graph gives (StateLIFSpike + ZIF, reset not detached), in far fewer tensor
    ops (checked against `reference_lif` by `check_lif`). x [T,B,C,H,W], imp [1,C,H,W]."""

    @staticmethod
    def forward(ctx, x, imp, tau, vth, gamma):
        m = torch.empty_like(x)  # membrane after charging, before the reset
        v = imp
        for t in range(x.shape[0]):
            torch.add(x[t], v, alpha=tau, out=m[t])  # x + tau*mem (tau = 0.25: the product is exact)
            v = m[t].masked_fill(m[t] > vth, 0.0)  # hard reset to 0
        ctx.save_for_backward(m)
        ctx.tau, ctx.vth, ctx.gamma, ctx.imp_shape = tau, vth, gamma, imp.shape
        return (m > vth).to(x.dtype)

    @staticmethod
    def backward(ctx, gs):
        (m,) = ctx.saved_tensors
        tau, g = ctx.tau, ctx.gamma
        u = m - ctx.vth
        sg = (g - u.abs()).clamp_(min=0).mul_(1 / g ** 2)  # ZIF triangle dS/du
        # dL/dm[t] = gs[t]*sg[t] + dL/dm[t+1] * tau * ((1 - s[t]) - m[t]*sg[t])  (reset not detached)
        carry = (u <= 0).to(m.dtype).sub_(m * sg).mul_(tau)
        dm = gs * sg
        for t in reversed(range(m.shape[0] - 1)):
            dm[t].addcmul_(dm[t + 1], carry[t])
        dimp = (dm[0] * tau).sum_to_size(ctx.imp_shape)
        return dm, dimp, None, None, None


class StateLIFSpike(nn.Module):
    """mem = 0.25*mem + x; s = H(mem - 1); mem = (1 - s)*mem (not detached); mem starts at the IMP."""
    tau, thresh, gamma = 0.25, 1.0, 1.0

    def __init__(self, shape):
        super().__init__()
        self.mem = nn.Parameter(torch.empty(shape).uniform_(-0.2, 0.2))

    def forward(self, x):
        return LegacyLIFSeq.apply(x, self.mem, self.tau, self.thresh, self.gamma)


def reference_lif(x, imp, tau=0.25, vth=1.0, gamma=1.0):
    """amazing-cls StateLIFSpike.forward, step by step through autograd (the specification)."""
    mem, out = imp, []
    for t in range(x.shape[0]):
        mem = mem * tau + x[t]
        spike = ZIF.apply(mem - vth, gamma)
        mem = (1 - spike) * mem
        out.append(spike)
    return torch.stack(out)


def check_lif():
    """The fused LIF equals the reference in spikes and in the gradients of x and IMP (float64)."""
    gen = torch.Generator().manual_seed(123)
    x = (torch.randn(6, 3, 4, 5, 5, generator=gen, dtype=torch.float64) * 0.8 + 0.5).requires_grad_()
    imp = (torch.rand(1, 4, 5, 5, generator=gen, dtype=torch.float64) * 0.4 - 0.2).requires_grad_()
    w = torch.randn(6, 3, 4, 5, 5, generator=gen, dtype=torch.float64)
    got = LegacyLIFSeq.apply(x, imp, 0.25, 1.0, 1.0)
    gx, gi = torch.autograd.grad((got * w).sum(), (x, imp))
    ref = reference_lif(x, imp)
    rx, ri = torch.autograd.grad((ref * w).sum(), (x, imp))
    assert torch.equal(got, ref) and 0.1 < ref.mean() < 0.9
    assert torch.allclose(gx, rx, atol=1e-12) and torch.allclose(gi, ri, atol=1e-12), "fused LIF gradient differs"


def StateVGG11R48x48Legacy(T, K, widths, hw=48, cin=2):
    """The reference network (scripts/reference_models.py, shared with the parity fixtures and the
    benchmark) with this script's fused, faster-to-train `StateLIFSpike` as its IMP neuron."""
    return VGG11Legacy(T, K, widths, imp=True, hw=hw, cin=cin, imp_neuron=StateLIFSpike)


def tet_s_loss(z, y, eps=0.01):
    """(1/(T*B)) sum_t sum_b soft-CE(z[t,b], (1-eps)*onehot(y_b) + eps/K)."""
    T, B, K = z.shape
    target = torch.full((B, K), eps / K, dtype=z.dtype)
    target.scatter_(1, y[:, None], 1 - eps + eps / K)
    return -(target[None] * F.log_softmax(z, -1)).sum(-1).mean()


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        skip = name.endswith(".mem") or name.endswith(".te") or ".bn." in name or name.endswith(".bias")
        (no_decay if skip else decay).append(p)
    return [dict(params=decay, weight_decay=wd), dict(params=no_decay, weight_decay=0.0)]


# ---------------------------------------------------------------- data augmentation (train only)
def augment(x, y, classes, gen, pad, flip=True):
    """x [B, T, 2, H, W]. Flips swap the labels of mirror-image classes; random crop of the
    zero-padded frames (one offset per sample, all timesteps), as RandomCropDVS(48, padding)."""
    idx = {c: i for i, c in enumerate(classes)}
    hmap = torch.arange(len(classes))
    vmap = torch.arange(len(classes))
    for table, m in ((HFLIP_SWAP, hmap), (VFLIP_SWAP, vmap)):
        for a_, b_ in table.items():
            m[idx[a_]], m[idx[b_]] = idx[b_], idx[a_]
    B = x.shape[0]
    hf = torch.rand(B, generator=gen) < (0.5 if flip else 0.0)
    vf = torch.rand(B, generator=gen) < (0.5 if flip else 0.0)
    x = torch.where(hf[:, None, None, None, None], x.flip(-1), x)
    x = torch.where(vf[:, None, None, None, None], x.flip(-2), x)
    y = torch.where(hf, hmap[y], y)
    y = torch.where(vf, vmap[y], y)
    if pad:
        H, W = x.shape[-2:]
        xp = F.pad(x, (pad, pad, pad, pad))
        off = torch.randint(0, 2 * pad + 1, (B, 2), generator=gen)
        x = torch.stack([xp[b, ..., off[b, 0]:off[b, 0] + H, off[b, 1]:off[b, 1] + W] for b in range(B)])
    return x, y


@torch.no_grad()
def predict(model, x, batch=64):
    """Mean-over-time logits [N, K] and per-timestep logits [N, T, K] (eval mode)."""
    model.eval()
    outs = []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i:i + batch]).transpose(0, 1)
        outs.append(model(xb).transpose(0, 1))
    z = torch.cat(outs)
    return z.mean(1), z


def confusion(y, p, k):
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (y, p), 1)
    return m


# ---------------------------------------------------------------- checks with spikestream
def classify(binary, model_path, inputs, backend):
    out = sh(binary, "classify", model_path, *inputs, "--labels-from-dirs", "--backend", backend, "--json")
    doc = json.loads(out)
    return doc


def gpu_available(binary):
    try:
        out = sh(binary, "devices")
    except subprocess.CalledProcessError:
        return False, "spikestream devices failed"
    return True, out.strip()


def tensor_digest(path):
    """sha256 of every tensor (name, shape, float32 bytes) in name order. The file's own bytes vary
    between runs (safetensors writes the metadata map in hash order); this does not."""
    h = hashlib.sha256()
    for k, v in sorted(load_file(str(path)).items()):
        h.update(f"{k}{list(v.shape)}".encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def pct(x):
    return f"{100 * x:.1f} %"


def write_card(r, path):
    """MODEL_CARD.md from the report (tests/demo_model.rs reads the samples section back)."""
    classes, K = r["dataset"]["classes"], len(r["dataset"]["classes"])
    sim = r["dataset"]["simulate_json"]
    cam = sim["config"]["camera"]
    m, h, t = r["model"], r["hyper"], r["torch"]
    T = int(m["metadata"]["timesteps"])
    cpu, gpu, smp = r["spikestream_cpu"], r["spikestream_gpu"], r["samples"]
    w = m["widths"]
    conf_head = "| label \\ predicted | " + " | ".join(f"`{c}`" for c in classes) + " | recall |"
    conf_rows = "\n".join(f"| `{c}` | " + " | ".join(str(v) for v in row) + f" | {pct(row[i] / sum(row))} |"
                          for i, (c, row) in enumerate(zip(classes, cpu["confusion"])))
    hist = "\n".join(f"| {e['epoch']} | {e['lr']:.4f} | {e['loss']:.4f} | {pct(e['train_acc_augmented'])} | {pct(e['test_acc'])} |"
                     for e in r["history"])
    rows = "\n".join(f"| {Path(x['file']).parent.name}/{Path(x['file']).name} | {x['label']} | {x['spikestream']} | "
                     f"{'yes' if x['spikestream'] == x['label'] else 'no'} | {x['bytes'] // 1024} KiB |" for x in smp["rows"])
    gpu_line = ("not run (no GPU adapter when the script ran)" if gpu is None else
                f"{pct(gpu['accuracy'])}, the same class as the CPU backend for {gpu['same_as_cpu']} / {cpu['files']} "
                f"recordings (adapter: {gpu['adapter']})")
    sample_gpu = "" if smp["gpu_same"] is None else f" The GPU backend gives the same class for {smp['gpu_same']} / {smp['total']}."
    def errors(cm):
        e = [f"{cm[i][j]} × `{classes[i]}` → `{classes[j]}`" for i in range(K) for j in range(K) if i != j and cm[i][j]]
        return f" (errors: {', '.join(e)})" if e else " (no errors)"

    ln = r.get("learned")
    imp_line = "" if not ln else (
        f"- The IMPs barely moved in {h['epochs']} epochs (mean |change| {ln['imp_mean_abs_change']:.1e}, largest "
        f"{ln['imp_max_abs_change']:.1e}; values still in [{ln['imp_range'][0]:.3f}, {ln['imp_range'][1]:.3f}]): a neuron's IMP only gets "
        f"the gradient of its own first step, times τ = 0.25. They are in effect the random U(-0.2, 0.2) initial "
        f"state, which the engine still has to apply; the TEBN scales did learn (first-step `te` "
        f"{', '.join(f'{v[0]:.2f}' for v in ln['te'].values())} across the eight layers, from 1).\n")
    reuse_note = (" (dataset and frames cached from an earlier run; simulating and framing them takes about a minute more)"
                  if r.get("dataset_reused") else "")
    o = r.get("other_camera")
    other_line = "" if not o else (
        f"- Another simulated camera: {o['files']} recordings of a dataset seed the model never saw (seed {o['seed']}, so "
        f"another pixel threshold map and other scenes; `{o['command']}`): **{pct(o['accuracy'])}** with "
        f"`spikestream classify --backend cpu`" + errors(o["confusion"]) + ".\n")
    layers = [("0 / 1", f"TEBNLayer(2→{w[0]}) / LIF", f"{w[0]}×48×48"), ("2 / 3", f"TEBNLayer({w[0]}→{w[1]}) / LIF", f"{w[1]}×48×48"),
              ("4", "AvgPool 2", f"{w[1]}×24×24"), ("5 / 6", f"TEBNLayer({w[1]}→{w[2]}) / LIF", f"{w[2]}×24×24"),
              ("7 / 8", f"TEBNLayer({w[2]}→{w[3]}) / LIF", f"{w[3]}×24×24"), ("9", "AvgPool 2", f"{w[3]}×12×12"),
              ("10 / 11", f"TEBNLayer({w[3]}→{w[4]}) / LIF", f"{w[4]}×12×12"), ("12 / 13", f"TEBNLayer({w[4]}→{w[5]}) / LIF", f"{w[5]}×12×12"),
              ("14", "AvgPool 2", f"{w[5]}×6×6"), ("15 / 16", f"TEBNLayer({w[5]}→{w[6]}) / LIF", f"{w[6]}×6×6"),
              ("17 / 18", f"TEBNLayer({w[6]}→{w[7]}) / LIF", f"{w[7]}×6×6"), ("19", "AvgPool 2", f"{w[7]}×3×3"),
              ("classifier", f"flatten → Dropout(0.25) → Linear({w[7] * 9}→{K}), per timestep", f"[T, B, {K}] logits")]
    layer_rows = "\n".join(f"| {a_} | {b_} | {c_} |" for a_, b_, c_ in layers)
    text = f"""# PyTorch cross-check of the demo model: `sim10_vgg48_legacy`

**The PyTorch cross-check.** The shipped demo model (`../sim10_vgg48_legacy.safetensors`,
`../MODEL_CARD.md`) is trained by `spikestream train`; this one is the same task trained by the
reference PyTorch code, kept to show that both trainers land within noise of each other. It was
the shipped model until `spikestream train` retrained it (its paths below are from that time):

```sh
cargo run --release -- classify models/demo/pytorch/sim10_vgg48_legacy.safetensors models/demo/samples --labels-from-dirs
```

This file, `train_report.json` (every number below, per-epoch log, per-file sample results) and
the model are written by `scripts/train_demo.py`.

| file | size |
|---|---|
| `sim10_vgg48_legacy.safetensors` | {m['bytes']:,} bytes (tensor digest `{m['tensors_sha256'][:16]}…`, see `train_report.json`) |
| `samples/<class>/NNNN.aedat4` | {smp['total']} recordings, {smp['bytes']:,} bytes in all |

## Task and data

Ten classes of procedural scenes from `spikestream simulate` (README, "Synthetic event camera"),
in the order of the sorted folder names (the model's `classes` metadata):
{", ".join(f"`{c}`" for c in classes)}. The classes come in time-reversal pairs and gratings,
so a linear model on summed counts gets about 0.43 (README); the network has to use time.

- Generator: `{r['spikestream']}` (git `{r['git']}`), seed {sim['seed']}:
  `{r['dataset']['command']}`
- Sensor {sim['config']['resolution']['width']}x{sim['config']['resolution']['height']}, {sim['config']['duration_us'] // 1000} ms per
  recording, render step {sim['config']['step_us']:g} µs, contrast threshold {cam['threshold_on']:g} (σ {cam['threshold_sigma']:g}),
  refractory {cam['refractory_us']:g} µs, jitter {cam['jitter_us']:g} µs, noise {cam['noise_hz']:g} Hz per pixel (the simulator's defaults).
- {sim['per_class']} recordings per class, split {sim['split']}: **{r['dataset']['train']} train, {r['dataset']['test']} test**
  (files 0000–{int(sim['per_class'] * sim['split']) - 1:04d} and {int(sim['per_class'] * sim['split']):04d}–{sim['per_class'] - 1:04d} of each class).
- Licence: the data are generated by spikestream (MIT OR Apache-2.0, as the project); no
  third-party data or weights are involved.

**Framing** (metadata `framing`): `{m['metadata']['framing']}`. SpikingJelly `split_by='number'`
into T = {T} frames of equal event counts, OFF/ON channels of raw counts, antialiased bilinear
resize 64→48, no normalisation. The training frames were produced by
`{r['frames']}` for every recording, so training saw exactly the tensors `spikestream classify` builds.

## Architecture

`StateVGG11R48x48Legacy` (amazing-cls `vgg_legacy.py`; `shared/reference/imp-snn.md` §1.1, §2.1,
§3) with the reference widths (64, 128, 256, 256, 512, 512, 512, 512) divided by
{FULL_WIDTHS[0] // w[0]}: **{", ".join(map(str, w))}**. {m['parameters']:,} parameters, of which {m['imp_parameters']:,}
are IMP (`features.{{i}}.mem`, one per neuron) and {8 * T} TEBN scales (`features.{{i}}.bn.te`).

| idx | op | out per t |
|---|---|---|
{layer_rows}

- TEBNLayer: Conv 3×3 (bias) → BatchNorm2d over the merged T·B batch → × `te[t]`.
- Neuron (metadata `neuron` `{m['metadata']['neuron']}`): `mem = 0.25·mem + x; s = mem > 1;
  mem = mem·(1 - s)`, `mem` starting at the learned IMP. Training used the triangle surrogate
  (γ = 1) and a reset that is not detached.
- Decoding: mean of the per-timestep logits (metadata `decode` `mean`).

## Training

```sh
scripts/setup-reference.sh && .venv-reference/bin/python scripts/train_demo.py
```

(exact command of this run: `{r['command']}`; {r['torch_version']}, Python {r['python']}, {r['machine']}).

| | |
|---|---|
| loss | TET-S: label smoothing ε = 0.01, soft cross-entropy of every timestep's logits, mean over T·B |
| optimiser | SGD, lr {h['lr']:g}, momentum {h['momentum']:g}, weight decay {h['weight_decay']:g} (none on `.mem`, `.te`, BN and biases) |
| schedule | cosine per epoch to 0, {h['epochs']} epochs, batch {h['batch']} |
| augmentation | random crop of the frames zero-padded by {h['crop_pad']} (one offset per sample); horizontal / vertical flips with p = 0.5 each that swap the labels of mirror-image classes (`bar_left`↔`bar_right`, `bar_up`↔`bar_down`, `rotate_cw`↔`rotate_ccw`) |
| seed | torch {h['seed']} (init, order, dropout, augmentation); data seed {sim['seed']} |
| selection | test accuracy after every epoch, best epoch kept (as the reference's `save_best`): epoch **{r['best_epoch']}** |
| time | {r['train_seconds'] / 60:.1f} min training, {r['total_seconds'] / 60:.1f} min for the whole script{reuse_note} |

| epoch | lr | loss | train acc (augmented, train mode) | test acc |
|---|---|---|---|---|
{hist}

## Results

| | train ({r['dataset']['train']}) | test ({r['dataset']['test']}) |
|---|---|---|
| PyTorch (exported weights, eval mode) | {pct(t['train_acc'])} | {pct(t['test_acc'])} |
| `spikestream classify --backend cpu` | | **{pct(cpu['test_acc'])}** |

- spikestream's CPU backend predicts the same class as PyTorch for {cpu['agree_with_torch']} / {cpu['files']} test recordings.
- GPU backend (`--backend gpu`): {gpu_line}.
- Command (after the script has made the dataset under `target/demo-data`):
  `{r['classify_test']}`
{other_line}- Accuracy of each timestep's logits alone (PyTorch, test): {", ".join(f"t{i}: {pct(v)}" for i, v in enumerate(t['test_acc_per_step']))}.

Confusion matrix of `spikestream classify` on the test split (rows: label):

{conf_head}
|{"---|" * (K + 2)}
{conf_rows}

## Shipped samples

`samples/<class>/NNNN.aedat4`: the first {smp['total'] // K} test-split recordings of every class (files
{int(sim['per_class'] * sim['split']):04d} and up), chosen by index before looking at any prediction, re-simulated with
`spikestream simulate --class C --seed {sim['seed']} --index N --size {sim['config']['resolution']['width']}x{sim['config']['resolution']['height']} --compression zstd`
(the same events as the dataset's LZ4 file, compared event by event; zstd only makes the files smaller).

`{r['classify_samples']}`

Samples: {smp['correct']} / {smp['total']} correct.{sample_gpu} (PyTorch: {smp['torch_correct']} / {smp['total']}.)

| sample | label | spikestream | correct | size |
|---|---|---|---|---|
{rows}

## Limitations

- Synthetic data only, trained on one simulated camera (one fixed-pattern threshold map per dataset),
  procedural scenes drawn from narrow ranges, no hot pixels, leak events or readout effects. The
  model says nothing about real DVS recordings and has not been tested on any.
- The model expects 300 ms clips framed into {T} equal-count frames; on longer or differently
  paced recordings the frames differ from training and accuracy is unknown.
- The best epoch is chosen on the test split (the reference protocol), so the test accuracy is
  optimistic; with {r['dataset']['test']} test recordings one error is {100 / r['dataset']['test']:.1f} %. A test split this
  easy cannot rank models that are all near 100 %; the other-camera set is a second, unselected
  check.
{imp_line}- Reduced width and only {h['epochs']} epochs: a demo and an end-to-end check of the engine, not a
  benchmark of IMP-SNN.
"""
    path.write_text(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spikestream", help="the spikestream binary (default: cargo build --release)")
    p.add_argument("--data", default=str(ROOT / "target/demo-data"), help="dataset and frame cache folder")
    p.add_argument("--out-dir", default=str(ROOT / "models/demo/pytorch"))
    p.add_argument("--samples-dir", default=str(ROOT / "models/demo/samples"))
    p.add_argument("--sim-seed", type=int, default=10)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--split", type=float, default=0.8)
    p.add_argument("--size", default="64x64")
    p.add_argument("--timesteps", type=int, default=8)
    p.add_argument("--width-div", type=int, default=8, help="channel widths = reference widths / this")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--crop-pad", type=int, default=4)
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--seed", type=int, default=0, help="torch seed (init, shuffling, dropout, augmentation)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--bin-threads", type=int, default=2, help="parallel spikestream simulate/frames processes")
    p.add_argument("--samples-per-class", type=int, default=2)
    p.add_argument("--other-seed", type=int, default=11, help="seed of the extra evaluation set (another camera)")
    p.add_argument("--other-per-class", type=int, default=50, help="its recordings per class (0: skip)")
    p.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from train_report.json and exit")
    p.add_argument("--max-batches", type=int, default=0, help="debug: stop each epoch after this many batches")
    a = p.parse_args()
    a.resize = a.size != "48x48"
    if a.card_only:
        out_dir = Path(a.out_dir)
        write_card(json.loads((out_dir / "train_report.json").read_text()), out_dir / "MODEL_CARD.md")
        return
    torch.set_num_threads(a.threads)
    check_lif()
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    t_start = time.time()

    binary = spikestream_binary(a.spikestream)
    version = sh(binary, "--version").strip()
    data = Path(a.data)
    sim_dir = data / f"sim_{a.size}_s{a.sim_seed}_n{a.per_class}"
    reused = simulate(binary, sim_dir, a.sim_seed, a.per_class, a.size, a.split, a.bin_threads)
    classes, train_files = class_files(sim_dir / "train")
    classes_t, test_files = class_files(sim_dir / "test")
    assert classes == classes_t, (classes, classes_t)
    K = len(classes)
    cache = data / f"frames_{sim_dir.name}_T{a.timesteps}"
    log(f"frames: spikestream frames FILE --frames {a.timesteps} --split-by number" + (" --size 48x48" if a.resize else ""))
    xtr, ytr = frames_of(binary, train_files, cache, a)
    xte, yte = frames_of(binary, test_files, cache, a)
    log(f"train {xtr.shape}, test {xte.shape}, classes {classes}")

    widths = tuple(w // a.width_div for w in FULL_WIDTHS)
    model = StateVGG11R48x48Legacy(a.timesteps, K, widths)
    n_params = sum(p.numel() for p in model.parameters())
    n_imp = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".mem"))
    log(f"model: widths {widths}, {n_params:,} parameters ({n_imp:,} IMP)")
    init_state = copy.deepcopy(model.state_dict())
    opt = torch.optim.SGD(param_groups(model, a.wd), lr=a.lr, momentum=a.momentum)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs, eta_min=0.0)

    history, best, best_state = [], -1.0, None
    t_train = time.time()
    for epoch in range(a.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=gen)
        tot, correct, seen = 0.0, 0, 0
        for bi, i in enumerate(range(0, len(perm), a.batch)):
            if a.max_batches and bi >= a.max_batches:
                break
            idx = perm[i:i + a.batch]
            xb, yb = torch.from_numpy(xtr[idx.numpy()]), torch.from_numpy(ytr[idx.numpy()])
            xb, yb = augment(xb, yb, classes, gen, a.crop_pad, flip=not a.no_flip)
            z = model(xb.transpose(0, 1).contiguous())
            loss = tet_s_loss(z, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += (z.detach().mean(0).argmax(1) == yb).sum().item()
            seen += len(idx)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        zte, _ = predict(model, xte)
        acc = (zte.argmax(1).numpy() == yte).mean()
        history.append(dict(epoch=epoch + 1, lr=lr, loss=tot / seen, train_acc_augmented=correct / seen,
                            test_acc=float(acc), seconds=time.time() - t0))
        mark = ""
        if acc > best:
            best, best_state, mark = acc, copy.deepcopy(model.state_dict()), "  *"
        log(f"epoch {epoch + 1:3d}  lr {lr:.4f}  loss {tot / seen:.4f}  train(aug) {correct / seen:.3f}  test {acc:.3f}  {time.time() - t0:.0f} s{mark}")
    train_seconds = time.time() - t_train
    best_epoch = max(history, key=lambda h: (h["test_acc"], -h["epoch"]))["epoch"]

    # ---- export
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / f"{MODEL_NAME}.safetensors"
    tensors = {k: v.detach().contiguous().clone() for k, v in best_state.items() if not k.endswith("num_batches_tracked")}
    framing = {"split_by": "number", "frames": a.timesteps}
    if a.resize:
        framing["resize"] = "48x48"
    framing["polarity"] = "split"
    meta = {"format": "1", "arch": "vgg11_48_legacy", "timesteps": str(a.timesteps), "num_classes": str(K),
            "classes": cj(classes), "input": "2x48x48", "decode": "mean",
            "neuron": cj({"kind": "legacy_lif", "tau": 0.25, "v_th": 1.0}), "framing": cj(framing)}
    save_file(tensors, str(model_path), metadata=meta)
    model_path.chmod(0o644)
    log(f"wrote {model_path} ({model_path.stat().st_size:,} bytes), best epoch {best_epoch}")

    # ---- PyTorch numbers of the exported weights
    missing, unexpected = model.load_state_dict(load_file(str(model_path)), strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    zte, zte_t = predict(model, xte)
    ztr, _ = predict(model, xtr)
    pte, ptr = zte.argmax(1).numpy(), ztr.argmax(1).numpy()
    torch_test, torch_train = float((pte == yte).mean()), float((ptr == ytr).mean())
    per_step = [float((zte_t[:, t].argmax(1).numpy() == yte).mean()) for t in range(a.timesteps)]
    conf = confusion(yte, pte, K)
    imp_delta = torch.cat([(tensors[k] - init_state[k]).abs().flatten() for k in tensors if k.endswith(".mem")])
    learned = dict(imp_mean_abs_change=float(imp_delta.mean()), imp_max_abs_change=float(imp_delta.max()),
                   imp_range=[float(min(tensors[k].min() for k in tensors if k.endswith(".mem"))),
                              float(max(tensors[k].max() for k in tensors if k.endswith(".mem")))],
                   te={k: [round(float(v), 4) for v in tensors[k].flatten()] for k in tensors if k.endswith(".te")})
    log(f"PyTorch: train {torch_train:.4f}, test {torch_test:.4f}")

    # ---- spikestream on the test split
    rel = lambda p_: os.path.relpath(p_, ROOT)
    sample_dir = Path(a.samples_dir)
    test_dir = sim_dir / "test"
    t0 = time.time()
    cpu = classify(binary, model_path, [test_dir], "cpu")
    cpu_seconds = time.time() - t0
    torch_pred = {str(f.resolve()): classes[pi] for (f, _), pi in zip(test_files, pte)}
    cpu_pred = {str(Path(r["file"]).resolve()): r["class"] for r in cpu["results"]}
    agree = sum(torch_pred[f] == cpu_pred[f] for f in torch_pred)
    log(f"spikestream cpu: test {cpu['accuracy']:.4f}, agrees with PyTorch on {agree}/{len(torch_pred)} files ({cpu_seconds:.1f} s)")
    gpu = None
    try:
        t0 = time.time()
        g = classify(binary, model_path, [test_dir], "gpu")
        g_pred = {str(Path(r["file"]).resolve()): r["class"] for r in g["results"]}
        gpu = dict(accuracy=g["accuracy"], same_as_cpu=sum(g_pred[f] == cpu_pred[f] for f in cpu_pred),
                   seconds=time.time() - t0, adapter=sh(binary, "devices").strip().splitlines()[-1].split("uses: ")[-1])
        log(f"spikestream gpu: test {g['accuracy']:.4f}, same prediction as cpu on {gpu['same_as_cpu']}/{len(cpu_pred)} files")
    except subprocess.CalledProcessError as e:
        log(f"spikestream gpu: not run ({(e.stderr or '').strip()[:200]})")

    # ---- another simulated camera: a dataset seed never seen in training (other threshold map)
    other = None
    if a.other_per_class:
        other_dir = data / f"sim_{a.size}_s{a.other_seed}_n{a.other_per_class}_all"
        simulate(binary, other_dir, a.other_seed, a.other_per_class, a.size, None, a.bin_threads)
        o = classify(binary, model_path, [other_dir / c for c in classes], "cpu")
        other = dict(seed=a.other_seed, per_class=a.other_per_class, files=len(o["results"]), accuracy=o["accuracy"],
                     confusion=o["confusion"],
                     command=f"spikestream simulate --out DIR --per-class {a.other_per_class} --seed {a.other_seed} --size {a.size}",
                     classify=f"spikestream classify {rel(model_path)} {rel(other_dir)}/* --labels-from-dirs --backend cpu --json")
        log(f"spikestream cpu on another camera (seed {a.other_seed}, {len(o['results'])} recordings): {o['accuracy']:.4f}")

    # ---- samples: the first files of every class's test split, re-simulated with zstd
    if sample_dir.exists():
        shutil.rmtree(sample_dir)
    samples = []
    for ci, c in enumerate(classes):
        for f in sorted((test_dir / c).glob("*.aedat4"))[:a.samples_per_class]:
            dst = sample_dir / c / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            sh(binary, "simulate", "--class", c, "--seed", a.sim_seed, "--index", int(f.stem), "--size", a.size,
               "--compression", "zstd", "--out", dst)
            ev = []
            for src in (f, dst):  # the same events as the dataset's file: compare them all
                sh(binary, "convert", src, data / "sample_check.npy")
                ev.append(np.load(data / "sample_check.npy"))
            assert ev[0].shape == ev[1].shape and np.array_equal(ev[0], ev[1]), f"{dst}: events differ from {f}"
            samples.append((dst, ci, f))
    xs = np.stack([np.load(cache / "test" / classes[ci] / (f.stem + ".npy")) for _, ci, f in samples])
    ps = predict(model, xs)[0].argmax(1).numpy()
    s_cpu = classify(binary, model_path, [sample_dir], "cpu")
    s_pred = {str(Path(r["file"]).resolve()): r["class"] for r in s_cpu["results"]}
    sample_rows = [dict(file=rel(d), label=classes[ci], torch=classes[pi], spikestream=s_pred[str(d.resolve())],
                        bytes=d.stat().st_size) for (d, ci, _), pi in zip(samples, ps)]
    s_correct = sum(r["spikestream"] == r["label"] for r in sample_rows)
    s_gpu_same = None
    if gpu is not None:
        g = classify(binary, model_path, [sample_dir], "gpu")
        s_gpu_same = sum(r_["class"] == s_pred[str(Path(r_["file"]).resolve())] for r_ in g["results"])
    log(f"samples: spikestream {s_correct}/{len(sample_rows)} correct, PyTorch {int((ps == [ci for _, ci, _ in samples]).sum())}/{len(samples)}")

    report = dict(
        spikestream=version, git=git_commit(), torch_version=torch.__version__, python=platform.python_version(),
        machine=f"{platform.machine()}, {os.cpu_count()} logical CPUs, torch threads {a.threads}",
        command=" ".join([".venv-reference/bin/python", "scripts/train_demo.py", *sys.argv[1:]]),
        classify_test=f"spikestream classify {rel(model_path)} {rel(test_dir)} --labels-from-dirs --backend cpu --json",
        classify_samples=f"spikestream classify {rel(model_path)} {rel(sample_dir)} --labels-from-dirs",
        dataset=dict(command=f"spikestream simulate --out DIR --per-class {a.per_class} --seed {a.sim_seed} --size {a.size} --split {a.split}",
                     classes=classes, train=len(train_files), test=len(test_files),
                     simulate_json=json.loads((sim_dir / "simulate.json").read_text())),
        frames=f"spikestream frames FILE --frames {a.timesteps} --split-by number" + (" --size 48x48" if a.resize else "") + " --out X.npy",
        model=dict(file=rel(model_path), bytes=model_path.stat().st_size,
                   tensors_sha256=tensor_digest(model_path), widths=widths, parameters=n_params,
                   imp_parameters=n_imp, metadata=meta),
        hyper=dict(epochs=a.epochs, batch=a.batch, optimizer="SGD", lr=a.lr, momentum=a.momentum, weight_decay=a.wd,
                   schedule="cosine per epoch, eta_min 0", loss="TET-S (label smoothing 0.01)", crop_pad=a.crop_pad,
                   flips=not a.no_flip, seed=a.seed, threads=a.threads),
        learned=learned, history=history, best_epoch=best_epoch, train_seconds=train_seconds, total_seconds=time.time() - t_start,
        torch=dict(train_acc=torch_train, test_acc=torch_test, test_acc_per_step=per_step, confusion=conf.tolist(),
                   per_class=[float(conf[i, i] / conf[i].sum()) for i in range(K)]),
        spikestream_cpu=dict(test_acc=cpu["accuracy"], confusion=cpu["confusion"], agree_with_torch=agree,
                             files=len(torch_pred), seconds=cpu_seconds),
        spikestream_gpu=gpu,
        other_camera=other,
        dataset_reused=reused,
        samples=dict(correct=s_correct, total=len(sample_rows), rows=sample_rows, torch_correct=int(sum(r["torch"] == r["label"] for r in sample_rows)),
                     gpu_same=s_gpu_same, bytes=sum(r["bytes"] for r in sample_rows)),
    )
    (out_dir / "train_report.json").write_text(json.dumps(report, indent=1) + "\n")
    write_card(report, out_dir / "MODEL_CARD.md")
    log(f"wrote {out_dir / 'train_report.json'} and MODEL_CARD.md; total {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
