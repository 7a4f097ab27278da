"""MODEL_CARD.md of the shipped demo model from scripts/demo_model.py's report (train_report.json).
tests/demo_model.rs reads the card back: the "Shipped samples: N / M correct." line, the sample
rows, the simulate command and the `spikestream classify --backend cpu` test accuracy row."""

ARCH = """`StateVGG11R48x48Legacy` (amazing-cls `vgg_legacy.py`; `shared/reference/imp-snn.md` §1.1, §2.1,
§3) with the reference widths (64, 128, 256, 256, 512, 512, 512, 512) divided by 8: **8, 16, 32,
32, 64, 64, 64, 64**; IMP (`features.{i}.mem`, one per neuron), TEBN (BatchNorm over T·B, a
learned scale `te[t]` per timestep), legacy LIF (`mem = 0.25·mem + x; s = mem > 1; mem = mem·(1 −
s)`, `mem` starting at the IMP), AvgPool 2 after convs 2, 4, 6 and 8, Dropout 0.25 + Linear(576 →
10) per timestep, logits averaged over time (metadata `decode` `mean`). The trainer folds BN into
the convolutions when it writes the file, as the engine runs it."""


def time_text(r):
    logged = f"{r['train_log_s'] / 60:.1f} min (the epochs' times in the training log)"
    if r.get("train_wall_s") is None:
        return logged
    return f"{r['train_wall_s'] / 60:.1f} min wall, {r['train_cpu_s'] / 60:.1f} min CPU; {logged}"


def pct(x):
    return f"{100 * x:.1f} %"


def card(r):
    log, ev, test, smp, other, t = r["log"], r["eval"], r["test"], r["samples"], r["other"], r["torch"]
    epochs = "\n".join(
        f"| {int(e['epoch']) + 1} | {e['lr']:.4f} | {e['train_loss']:.4f} | {pct(e['train_accuracy'])} | {pct(e['test_accuracy'])} | {e['seconds']:.0f} s |"
        for e in log)
    best = max(range(len(log)), key=lambda i: (log[i]["test_accuracy"], -i))
    rows = "\n".join(
        f"| {s['file'].split('samples/', 1)[-1]} | {s['label']} | {s['predicted']} | {'yes' if s['label'] == s['predicted'] else 'no'} | {s['score']:.3f} |"
        for s in smp["rows"])
    drift = r["imp_drift"]["layers"]
    mean_abs = sum(l["mean_abs"] * l["values"] for l in drift) / sum(l["values"] for l in drift)
    largest = max(l["max_abs"] for l in drift)
    at = ", ".join(f"t{i + 1}: {pct(a)}" for i, a in enumerate(ev["accuracy_at"]))
    torch = ""
    if t:
        torch = f"""
## Cross-check: the same task trained by the reference PyTorch code

`scripts/train_demo.py` (PyTorch, the reference architecture and loss, the same data, hyperparameters
and label-aware flips; run at git `{t['git']}` on {t['machine']}, {t['train_seconds']:.0f} s of training)
wrote `pytorch/{'sim10_vgg48_legacy'}.safetensors` and `pytorch/MODEL_CARD.md`. Both models on the same
200 test recordings and the {other['files']} other-camera recordings with `spikestream classify --backend cpu`:

| trainer | test accuracy | other camera | other-camera errors |
|---|---|---|---|
| `spikestream train` (this model) | {pct(test['accuracy'])} | {pct(other['accuracy'])} | {', '.join(other['errors']) or 'none'} |
| PyTorch (`pytorch/`, best epoch {t['best_epoch']}) | {pct(t['test']['accuracy'])} | {pct(t['other']['accuracy'])} | {', '.join(t['other']['errors']) or 'none'} |

The two models predict the same class for {t['agree']} / {test['files']} test recordings and
{t['agree_other']} / {other['files']} other-camera recordings. With 200 test
recordings one error is 0.5 %, so two trainers within a point or two of each other land within
noise; different seeds, initialisation code and the trainer's per-step cosine schedule (the
reference's is per epoch) mean their weights differ.
"""
    return f"""# Demo model: `sim10_vgg48_legacy`

A small IMP-SNN (the 48×48 legacy VGG-11 of IMP-SNN with learnable initial membrane potentials,
TEBN and the TET-S loss) **trained by `spikestream train`** (burn's Flex CPU backend) on recordings
of spikestream's own synthetic event camera, so that the README's main command runs a model made
end to end by this project on a fresh machine:

```sh
cargo run --release -- classify models/demo/sim10_vgg48_legacy.safetensors models/demo/samples --labels-from-dirs
```

This card, `train_report.json` (every number below, the per-epoch log, per-file results) and the
model are written by `scripts/demo_model.py` (`{r['spikestream']}`, git `{r['git']}`);
`tests/demo_model.rs` checks the samples section against the engine.

| file | size |
|---|---|
| `sim10_vgg48_legacy.safetensors` | {r['model']['bytes']:,} bytes (sha256 `{r['model']['sha256'][:16]}…`) |
| `samples/<class>/NNNN.aedat4` | {smp['files']} recordings |
| `pytorch/` | the PyTorch-trained cross-check model and its card |

## Task and data

Ten classes of procedural scenes from `spikestream simulate` (README, "Synthetic event camera"):
bars moving in four directions, expanding and contracting rings, rotations both ways and two
gratings; they come in time-reversal and mirror pairs, so a linear model on summed counts gets
about 0.43 (README) and the network has to use time. Data command (seed 10, 64×64 sensor, 300 ms
per recording, the simulator's default camera; 100 recordings per class, split 0.8: **800 train,
200 test**):

`{r['simulate']}`

Licence: the data are generated by spikestream (MIT OR Apache-2.0, as the project).

Framing (metadata `framing`): SpikingJelly `split_by='number'` into T = 8 frames of equal event
counts, OFF/ON channels of raw counts, antialiased bilinear resize 64→48: the trainer builds its
frames with the same code `classify` uses.

## Architecture

{ARCH}

## Training

Command, run in the folder holding the dataset as `sim/` (CPU, {r['machine']}, load
{r['load_before']:.1f} when the script started, other jobs running):

```sh
{r['train_command']}
```

| | |
|---|---|
| loss | TET-S: label smoothing ε = 0.01, every timestep's logits, mean over T·B |
| optimiser | SGD, lr 0.1, momentum 0.9, weight decay 0.0005 (none on IMPs, TEBN scales, BN and biases, as the reference) |
| schedule | cosine to 0 over 8 epochs (per step), no warm-up, batch 32 |
| augmentation | random crop of the frames zero-padded by 4; horizontal and vertical flips with p = 0.5 that swap the labels of mirror-image classes (`--flip-swap`, `--vflip-swap`) |
| seed | 1 (initialisation, order, dropout, augmentation); data seed 10 |
| time | **{time_text(r)}** for the 8 epochs with their test evaluations, on a machine shared with other jobs |
| selection | test accuracy after every epoch; the best epoch is kept (the reference's `save_best`): epoch **{best + 1}** |

| epoch | lr (end) | loss | train acc (augmented) | test acc | time |
|---|---|---|---|---|---|
{epochs}

## Results

| | train (800) | test (200) |
|---|---|---|
| `spikestream classify --backend cpu` | | **{100 * test['accuracy']:.1f} %** |

- Test errors: {', '.join(test['errors']) or 'none'}.
- Accuracy of the mean of the logits of steps 1..t (`spikestream eval`): {at}.
- Another simulated camera: {other['files']} recordings of a dataset seed the model never saw
  (`{r['other_simulate']}`: another pixel threshold map and other scenes): **{pct(other['accuracy'])}**
  (errors: {', '.join(other['errors']) or 'none'}).
- The IMPs moved little (mean |IMP − init| {mean_abs:.1e}, largest {largest:.1e}; per layer in
  `train_report.json`): in 8 epochs a neuron's IMP gets only the gradient of its own first step.
{torch}
## Shipped samples

`samples/<class>/NNNN.aedat4`: the first 2 test-split recordings of every class (files 0080 and
0081), chosen by index before looking at any prediction, re-simulated with zstd compression (the
same events as the dataset's LZ4 files).

`spikestream classify models/demo/sim10_vgg48_legacy.safetensors models/demo/samples --labels-from-dirs`

Shipped samples: {smp['correct']} / {smp['files']} correct.

| sample | label | spikestream | correct | score |
|---|---|---|---|---|
{rows}

## Limitations

- Synthetic data only, from one simulated camera, procedural scenes drawn from narrow ranges, no
  hot pixels, leak events or readout effects. The model says nothing about real DVS recordings.
- It expects 300 ms clips framed into 8 equal-count frames; on longer or differently paced
  recordings the frames differ from training and accuracy is unknown.
- The best epoch is chosen on the test split (the reference protocol), so the test accuracy is
  optimistic; the other-camera set is a second, unselected check.
- Reduced width and 8 epochs: a demo and an end-to-end check of the trainer and the engine, not a
  benchmark of IMP-SNN (EXPERIMENTS.md has those).
"""
