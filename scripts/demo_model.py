#!/usr/bin/env python3
"""Trains the shipped demo model, models/demo/sim10_vgg48_legacy.safetensors, with
`spikestream train` itself (burn's Flex CPU backend), checks it with `spikestream classify`, and
writes models/demo/{train_report.json, MODEL_CARD.md}. Needs only the release binary (built
with `--features train`) and Python's standard library: no torch.

1. `spikestream simulate`: the demo's 10-class dataset (64x64 sensor, seed 10, 800 train / 200
   test); the same data as the PyTorch cross-check (scripts/train_demo.py, models/demo/pytorch/).
2. `spikestream train` with the command in TRAIN below (run inside the work folder, so the card
   can quote it as it ran), timed (wall and CPU).
3. `spikestream eval --json` (accuracy at every timestep) and `spikestream classify --json
   --backend cpu` on the test split, the shipped samples and another simulated camera (seed 11);
   the PyTorch-trained cross-check model on the same test split, file by file.
4. The model goes to models/demo through a temporary file and a rename; the report and the card
   are written from the numbers above (tests/demo_model.rs reads the card's samples section).

Run: cargo build --release --features train && python3 scripts/demo_model.py
(about 15 minutes on the project's two-core machine; --reuse takes a finished run of TRAIN).
"""
import argparse, hashlib, json, os, platform, resource, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models/demo"
NAME = "sim10_vgg48_legacy"
SIM = ["--per-class", "100", "--seed", "10", "--size", "64x64", "--split", "0.8"]
OTHER = ["--per-class", "50", "--seed", "11", "--size", "64x64"]
TRAIN = ["train", "--arch", "vgg11_48_legacy", "--width-div", "8", "--data", "sim", "--timesteps", "8",
         "--size", "48x48", "--loss", "tet-s", "--epochs", "8", "--batch", "32", "--optimizer", "sgd",
         "--lr", "0.1", "--warmup-epochs", "0", "--crop-padding", "4",
         "--flip-swap", "bar_left=bar_right,rotate_cw=rotate_ccw",
         "--vflip-swap", "bar_up=bar_down,rotate_cw=rotate_ccw", "--seed", "1", "--device", "flex",
         "--out", f"{NAME}.safetensors"]


def binary(given):
    if given:
        return str(Path(given).resolve())
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str((target / "release/spikestream").resolve())


def run(bin_, *args, cwd=None):
    print("+ spikestream", " ".join(map(str, args)), flush=True)
    out = subprocess.run([bin_, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"spikestream {' '.join(map(str, args))} failed:\n{out.stderr}")
    return out.stdout


def simulate(bin_, out, args):
    if (out / "simulate.json").exists():
        return True
    run(bin_, "simulate", "--out", out, *args)
    return False


def classify(bin_, model, data):
    return json.loads(run(bin_, "classify", model, data, "--labels-from-dirs", "--backend", "cpu", "--json"))


def rel(p):
    return os.path.relpath(p, ROOT)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spikestream", help="the binary (default: target/release/spikestream)")
    p.add_argument("--work", default=str(ROOT / "target/demo-train"), help="dataset and training folder")
    p.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from train_report.json")
    p.add_argument("--reuse", action="store_true",
                   help="take the finished run of exactly TRAIN in --work (its model and log) instead of training again")
    a = p.parse_args()
    if a.card_only:
        write_card(json.loads((DEMO / "train_report.json").read_text()))
        return
    bin_, work = binary(a.spikestream), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    reused = simulate(bin_, work / "sim", SIM)
    model = work / f"{NAME}.safetensors"
    if a.reuse and model.exists():
        check_reused(model)
        train_out, wall, cpu = "(reused a finished run in --work)", None, None
    else:
        for f in work.glob(f"{NAME}.*"):
            f.unlink()
        before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
        train_out = run(bin_, *TRAIN, cwd=work)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.time() - t0
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log = read_log(work / f"{NAME}.log.csv")
    if len(log) != int(TRAIN[TRAIN.index("--epochs") + 1]):
        sys.exit(f"{work / (NAME + '.log.csv')}: {len(log)} epochs logged, TRAIN asks for {TRAIN[TRAIN.index('--epochs') + 1]}")
    drift = json.loads((work / f"{NAME}.imp_drift.json").read_text())
    ev = json.loads(run(bin_, "eval", model, work / "sim", "--json", "--device", "flex"))
    test = classify(bin_, model, work / "sim/test")
    samples = classify(bin_, model, DEMO / "samples")
    simulate(bin_, work / "other", OTHER)
    other = classify(bin_, model, work / "other")
    torch_model = DEMO / "pytorch" / f"{NAME}.safetensors"
    torch_test = classify(bin_, torch_model, work / "sim/test") if torch_model.exists() else None
    torch_other = classify(bin_, torch_model, work / "other") if torch_model.exists() else None
    torch_report = json.loads((DEMO / "pytorch/train_report.json").read_text()) if torch_model.exists() else None

    tmp = DEMO / f".{NAME}.safetensors.partial"
    shutil.copyfile(model, tmp)
    os.replace(tmp, DEMO / f"{NAME}.safetensors")
    data = (DEMO / f"{NAME}.safetensors").read_bytes()
    report = dict(
        spikestream=run(bin_, "--version").strip(),
        git=subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        machine=f"{platform.machine()}, {os.cpu_count()} logical CPUs",
        load_before=os.getloadavg()[0],
        simulate="spikestream simulate --out DIR " + " ".join(SIM), dataset_reused=reused,
        other_simulate="spikestream simulate --out DIR " + " ".join(OTHER),
        train_command="spikestream " + " ".join(TRAIN), train_stdout=train_out.strip().splitlines(),
        train_wall_s=None if wall is None else round(wall, 1), train_cpu_s=None if cpu is None else round(cpu, 1),
        train_log_s=round(sum(e["seconds"] for e in log), 1),
        log=log, imp_drift=drift[-1] if isinstance(drift, list) else drift,
        model=dict(bytes=len(data), sha256=hashlib.sha256(data).hexdigest()),
        eval=dict(accuracy=ev["accuracy"], accuracy_at=ev["accuracy_at"], samples=ev["samples"]),
        test=summary(test), samples=summary(samples), other=summary(other),
        torch=None if torch_test is None else dict(
            test=summary(torch_test), other=summary(torch_other),
            agree=sum(a["class"] == b["class"] for a, b in zip(test["results"], torch_test["results"])),
            agree_other=sum(a["class"] == b["class"] for a, b in zip(other["results"], torch_other["results"])),
            best_epoch=torch_report["best_epoch"], train_seconds=round(torch_report["train_seconds"], 1),
            machine=torch_report["machine"], git=torch_report["git"]),
    )
    tmp = DEMO / ".train_report.json.partial"
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, DEMO / "train_report.json")
    write_card(report)


def check_reused(model):
    """The reused model must be what TRAIN makes: its architecture, timesteps and flips."""
    import struct
    data = model.read_bytes()
    meta = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])["__metadata__"]
    flag = lambda name: TRAIN[TRAIN.index(name) + 1]
    flips = json.loads(meta.get("train_flips", "{}"))
    want_h = [p.split("=") for p in flag("--flip-swap").split(",")]
    want_v = [p.split("=") for p in flag("--vflip-swap").split(",")]
    if (meta.get("arch"), meta.get("timesteps")) != (flag("--arch"), flag("--timesteps")) or flips.get("h_swap") != want_h or flips.get("v_swap") != want_v:
        sys.exit(f"--reuse: {model} was not made by TRAIN (arch {meta.get('arch')}, timesteps {meta.get('timesteps')}, flips {flips})")


def read_log(path):
    lines = path.read_text().strip().splitlines()
    head = lines[0].split(",")
    return [{k: float(v) for k, v in zip(head, l.split(","))} for l in lines[1:]]


def summary(doc):
    rows = [dict(file=rel(r["file"]) if r["file"].startswith(str(ROOT)) else r["file"], label=r["label"], predicted=r["class"],
                 score=round(r["score"], 4)) for r in doc["results"]]
    return dict(accuracy=doc["accuracy"], files=len(rows), correct=sum(r["label"] == r["predicted"] for r in rows),
                errors=[f"{r['label']} -> {r['predicted']}" for r in rows if r["label"] != r["predicted"]], rows=rows)


def write_card(r):
    from demo_card import card  # the card's text, beside this script
    tmp = DEMO / ".MODEL_CARD.md.partial"
    tmp.write_text(card(r))
    os.replace(tmp, DEMO / "MODEL_CARD.md")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
