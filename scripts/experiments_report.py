#!/usr/bin/env python3
"""Tables and plots from the results.json that scripts/experiments.py writes (EXPERIMENTS.md).

Per configuration: mean ± std over seeds of the kept epoch's test accuracy, of the accuracy at
every timestep (step t alone, and the mean of the logits of steps 1..t), of the test accuracy per
epoch and of the IMP drift. Per comparison A − B: the paired difference over the seeds both have
(same seed = same initialisation draw and data order), its mean and 95% t-interval, and in how
many seeds A > B, = B, < B.

Usage: .venv-plots/bin/python scripts/experiments_report.py [--out experiments]
writes OUT/results.md, OUT/comparisons.json and OUT/*.png.
"""
import argparse
import json
import math
import os
import statistics as st

# Two-sided 95% quantiles of Student's t (t_{0.975, df}), df = 1..30; above 30 the normal 1.96
# is within 2%. (scipy.stats.t.ppf(0.975, df) gives the same to 3 decimals.)
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df):
    return T975[df - 1] if df <= 30 else 1.96


def mstd(xs):
    return (st.mean(xs), st.stdev(xs) if len(xs) > 1 else float("nan"))


def paired(a, b):
    """Paired difference a − b over the common seeds: n, mean, 95% CI, wins/ties/losses."""
    seeds = sorted(set(a) & set(b), key=int)
    d = [a[s] - b[s] for s in seeds]
    if len(d) < 2:
        return None
    m, sd = mstd(d)
    h = t975(len(d) - 1) * sd / math.sqrt(len(d))
    return dict(n=len(d), mean=m, lo=m - h, hi=m + h, sd=sd, wins=sum(x > 1e-12 for x in d),
                ties=sum(abs(x) <= 1e-12 for x in d), losses=sum(x < -1e-12 for x in d), seeds=seeds)


def metric(runs, what):
    """{seed: value} of one configuration for a metric: 'final', ('step', t), ('cum', t), ('epoch', e)."""
    out = {}
    for s, r in runs.items():
        if what == "final":
            out[s] = r["accuracy"]
        elif what == "last":
            out[s] = r["log"][-1]["test_accuracy"]
        elif what[0] == "step" and what[1] <= len(r["accuracy_at_step"]):
            out[s] = r["accuracy_at_step"][what[1] - 1]
        elif what[0] == "cum" and what[1] <= len(r["accuracy_at_mean"]):
            out[s] = r["accuracy_at_mean"][what[1] - 1]
        elif what[0] == "epoch" and what[1] <= len(r["log"]):
            out[s] = r["log"][what[1] - 1]["test_accuracy"]
    return out


def drift_mean(r):
    """Mean over layers of mean |IMP − init| (None without IMP)."""
    if not r.get("drift"):
        return None
    ls = r["drift"]["layers"]
    return sum(l["mean_abs"] * l["values"] for l in ls) / sum(l["values"] for l in ls)


def label(what):
    if what in ("final", "last"):
        return {"final": "kept epoch", "last": "last epoch"}[what]
    return {"step": "t = {} alone", "cum": "mean of 1..{}", "epoch": "epoch {}"}[what[0]].format(what[1])


# (title, [(A, B)], [metrics]) — A − B.
def comparisons(res):
    obs3 = []
    for T in (2, 4, 6):
        z, l, f, x = (f"digits_sew_T{T}_{k}" for k in ("zero", "learned", "fixed", "learned_x100"))
        ms = ["final", "last"] + [("step", t) for t in range(1, T + 1)]
        obs3.append((f"Obs. 3, static digits, SEW-ResNet18/8, T = {T}, TET-S", [(l, z), (f, z), (l, f), (x, l), (x, z)], ms))
    for T in (2, 4, 6):
        z, l, f = (f"digits_vgg_T{T}_{k}" for k in ("zero", "learned", "fixed"))
        obs3.append((f"Obs. 3, static digits, VGG-11 legacy/8, T = {T}, TET-S", [(l, z), (f, z), (l, f)],
                     ["final", "last"] + [("step", t) for t in range(1, T + 1)]))
    a = "digits_sew_T4_"
    obs3.append(("Obs. 4, static digits, SEW T = 4, learned IMP: losses (epoch = test accuracy after that epoch, the model's own readout)",
                 [(a + "lts", a + "tet"), (a + "lts", a + "sdt"), (a + "learned", a + "tet"), (a + "tet", a + "sdt")],
                 [("epoch", e) for e in range(1, 7)] + ["final", ("step", 1), ("step", 4)]))
    for d, title in (("ndigits", "N-Digits"), ("motion", "motion classes")):
        p = f"{d}_vgg_"
        obs3.append((f"{title}, VGG-11 legacy/8: losses at T = 4 (learned IMP), zero vs learned IMP at T = 2",
                     [(p + "T4_tet-s", p + "T4_tet"), (p + "T4_tet", p + "T4_sdt"), (p + "T4_tet-s", p + "T4_sdt"), (p + "T2_learned", p + "T2_zero")],
                     ["final", "last", ("step", 1), ("cum", 2), ("epoch", 1), ("epoch", 2)]))
    out = []
    for title, pairs, ms in obs3:
        rows = []
        for A, B in pairs:
            if A not in res or B not in res:
                continue
            for m in ms:
                p = paired(metric(res[A], m), metric(res[B], m))
                if p:
                    rows.append(dict(a=A, b=B, metric=label(m), **p))
        if rows:
            out.append(dict(title=title, rows=rows))
    return out


def fmt(m, s):
    return f"{m:.3f} ± {s:.3f}" if not math.isnan(s) else f"{m:.3f}"


def summaries(res):
    """The two summary tables of EXPERIMENTS.md: Obs. 3 grid and event-data losses."""
    def cell(name, key="step"):
        if name not in res:
            return "–"
        rs = list(res[name].values())
        if key == "step":
            T = len(rs[0]["accuracy_at_step"])
            return " / ".join(f"{st.mean([r['accuracy_at_step'][t] for r in rs]):.3f}" for t in range(T)) + f" (n={len(rs)})"
        return fmt(*mstd([r["accuracy"] for r in rs])) + f" (n={len(rs)})"
    L = ["### Obs. 3 summary: accuracy of step t alone, t = 1 … T (mean over seeds)", "",
         "| model, T | zero IMP | learned IMP | fixed IMP | learned ×100 |", "|---|---|---|---|---|"]
    for title, pre in [("SEW T = 2", "digits_sew_T2_"), ("SEW T = 4", "digits_sew_T4_"), ("SEW T = 6", "digits_sew_T6_"),
                       ("VGG T = 2", "digits_vgg_T2_"), ("VGG T = 4", "digits_vgg_T4_"), ("VGG T = 6", "digits_vgg_T6_")]:
        L.append(f"| {title} | " + " | ".join(cell(pre + k) for k in ("zero", "learned", "fixed", "learned_x100")) + " |")
    L += ["", "### Event data summary: kept-epoch accuracy (mean ± std over seeds)", "",
          "| data | SDT | TET | TET-S | T = 2 zero IMP | T = 2 learned IMP |", "|---|---|---|---|---|---|"]
    for d in ("ndigits", "motion"):
        p = f"{d}_vgg_"
        L.append(f"| {d} | " + " | ".join(cell(p + k, "final") for k in ("T4_sdt", "T4_tet", "T4_tet-s", "T2_zero", "T2_learned")) + " |")
    return L + [""]


def tables(res, comps):
    L = summaries(res) + ["Each cell: mean ± std over the seeds (n). Accuracy on the 450 test images (digits, N-Digits) or 120 test recordings (motion).",
         "\"kept epoch\": the epoch `train` kept (best test accuracy, so slightly optimistic), read as the model decodes it (mean of all steps; LTS: last step).", "",
         "| configuration | n | kept-epoch accuracy | accuracy at t alone, t = 1 … T | mean of logits 1..t, t = 1 … T | mean \\|IMP − init\\| | train s |", "|---|---|---|---|---|---|---|"]
    for name, runs in res.items():
        rs = list(runs.values())
        T = len(rs[0]["accuracy_at_step"])
        step = " / ".join(fmt(*mstd([r["accuracy_at_step"][t] for r in rs])) for t in range(T))
        cum = " / ".join(f"{st.mean([r['accuracy_at_mean'][t] for r in rs]):.3f}" for t in range(T))
        dr = [drift_mean(r) for r in rs]
        drs = f"{st.mean(dr):.4f}" if all(v is not None for v in dr) else "(no IMP)"
        L.append(f"| {name} | {len(rs)} | {fmt(*mstd([r['accuracy'] for r in rs]))} | {step} | {cum} | {drs} | {st.mean([r['seconds'] for r in rs]):.0f} |")
    L += ["", "## Rise over the timesteps: accuracy at t = T alone − at t = 1 alone, paired within each seed (95% t-interval)", "",
          "| configuration | n | t = 1 alone | t = T alone | mean rise | 95% CI |", "|---|---|---|---|---|---|"]
    for name, runs in res.items():
        T = len(next(iter(runs.values()))["accuracy_at_step"])
        p = paired(metric(runs, ("step", T)), metric(runs, ("step", 1)))
        if p:
            sig = " **" if p["lo"] > 0 or p["hi"] < 0 else ""
            L.append(f"| {name} | {p['n']} | {st.mean(metric(runs, ('step', 1)).values()):.3f} | {st.mean(metric(runs, ('step', T)).values()):.3f} | "
                     f"{p['mean']:+.4f}{sig} | [{p['lo']:+.4f}, {p['hi']:+.4f}] |")
    L += ["", "## Paired differences A − B (95% t-interval over seeds; W/T/L: seeds where A is above / equal / below B)", ""]
    for c in comps:
        L += [f"### {c['title']}", "", "| A | B | metric | n | mean A − B | 95% CI | W/T/L |", "|---|---|---|---|---|---|---|"]
        for r in c["rows"]:
            sig = " **" if r["lo"] > 0 or r["hi"] < 0 else ""
            L.append(f"| {r['a']} | {r['b']} | {r['metric']} | {r['n']} | {r['mean']:+.4f}{sig} | [{r['lo']:+.4f}, {r['hi']:+.4f}] | {r['wins']}/{r['ties']}/{r['losses']} |")
        L.append("")
    L += ["** : the interval excludes 0.", "", "## IMP drift per layer (mean |IMP − init| after the last epoch, mean over seeds)", ""]
    names = [n for n, runs in res.items() if all(r.get("drift") for r in runs.values())]
    if names:
        layers = [l["name"] for l in next(iter(res[names[0]].values()))["drift"]["layers"]]
        for n in names:
            rs = list(res[n].values())
            ls = rs[0]["drift"]["layers"]
            cells = [f"{l['name'].replace('.init_state', '').replace('.mem', '')} {st.mean([r['drift']['layers'][i]['mean_abs'] for r in rs]):.2g}" for i, l in enumerate(ls)]
            L.append(f"- {n} (imp_lr_mult {rs[0]['drift']['imp_lr_mult']:g}): " + ", ".join(cells))
        del layers
    return "\n".join(L) + "\n"


def plots(res, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def band(ax, ys, label, marker="o"):
        T = len(ys[0])
        m = [st.mean([y[t] for y in ys]) for t in range(T)]
        s = [st.stdev([y[t] for y in ys]) if len(ys) > 1 else 0 for t in range(T)]
        xs = range(1, T + 1)
        ax.errorbar(xs, m, yerr=s, marker=marker, capsize=3, label=f"{label} (n={len(ys)})")
        ax.set_xticks(list(xs))

    panels = [(f"{m} T = {T}", f"digits_{m.lower()}_T{T}_") for m in ("SEW", "VGG") for T in (2, 4, 6)]
    panels = [p for p in panels if any(k.startswith(p[1]) and k[len(p[1]):] in ("zero", "learned", "fixed", "learned_x100") for k in res)]
    if panels:
        cols = min(3, len(panels))
        rows = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax, (title, pre) in zip(axes.flat, panels):
            for k in ("zero", "learned", "fixed", "learned_x100"):
                if pre + k in res:
                    band(ax, [r["accuracy_at_step"] for r in res[pre + k].values()], k)
            ax.set_title(f"static digits, {title}, TET-S", fontsize=9)
            ax.set_xlabel("timestep t (logits of step t alone)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        for row in axes:
            row[0].set_ylabel("test accuracy (mean ± std over seeds)")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "obs3_accuracy_per_timestep.png"), dpi=110)
    groups = [("static digits, SEW T = 4", "digits_sew_T4_", {"sdt": "sdt", "tet": "tet", "learned": "tet-s", "lts": "lts"}),
              ("N-Digits, VGG T = 4", "ndigits_vgg_T4_", {"sdt": "sdt", "tet": "tet", "tet-s": "tet-s"}),
              ("motion, VGG T = 4", "motion_vgg_T4_", {"sdt": "sdt", "tet": "tet", "tet-s": "tet-s"})]
    groups = [g for g in groups if any(g[1] + k in res for k in g[2])]
    if groups:
        fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.4), squeeze=False)
        for ax, (title, pre, losses) in zip(axes[0], groups):
            for k, lab in losses.items():
                if pre + k in res:
                    band(ax, [[row["test_accuracy"] for row in r["log"]] for r in res[pre + k].values()], lab)
            ax.set_title(f"{title}: test accuracy per epoch", fontsize=9)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "obs4_convergence.png"), dpi=110)
    shown = ["digits_sew_T4_learned", "digits_sew_T4_learned_x100", "digits_sew_T4_lts", "digits_sew_T6_learned",
             "digits_vgg_T4_learned", "ndigits_vgg_T4_tet-s", "motion_vgg_T4_tet-s"]
    with_drift = [n for n in shown if n in res and all(res[n][s].get("drift") for s in res[n])]
    if with_drift:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
        for n in with_drift:
            rs = list(res[n].values())
            ls = rs[0]["drift"]["layers"]
            a1.plot(range(len(ls)), [st.mean([r["drift"]["layers"][i]["mean_abs"] for r in rs]) for i in range(len(ls))], marker=".", label=n)
        a1.set_yscale("log")
        a1.set_xlabel("layer (input → output)")
        a1.set_ylabel("mean |IMP − init| (mean over seeds)")
        a1.grid(alpha=0.3)
        a1.legend(fontsize=6)
        edges = ["<1e-4", "<1e-3", "<1e-2", "<0.1", "<1", "≥1"]
        width = 0.8 / len(with_drift)
        for j, n in enumerate(with_drift):
            h = [sum(l["histogram"][b] for r in res[n].values() for l in r["drift"]["layers"]) for b in range(6)]
            tot = sum(h)
            a2.bar([b + j * width for b in range(6)], [v / tot for v in h], width=width, label=n)
        a2.set_xticks([b + 0.4 - width / 2 for b in range(6)], edges)
        a2.set_xlabel("|IMP − init| (all neurons of all layers and seeds)")
        a2.set_ylabel("fraction of neurons")
        a2.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "imp_drift.png"), dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"))
    a = ap.parse_args()
    res = json.load(open(os.path.join(a.out, "results.json")))
    comps = comparisons(res)
    md = tables(res, comps)
    open(os.path.join(a.out, "results.md"), "w").write(md)
    json.dump(comps, open(os.path.join(a.out, "comparisons.json"), "w"), indent=1)
    print(md)
    try:
        plots(res, a.out)
    except ImportError:
        print("matplotlib missing: no plots (scripts/setup-plots.sh)")


if __name__ == "__main__":
    main()
