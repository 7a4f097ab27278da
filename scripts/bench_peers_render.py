"""The Markdown report of scripts/bench_peers.py, from its JSON document (so that `--render
SAVED.json` prints a saved run again): the latency table (rows threads / batch, columns runtimes,
min / median over rounds of the p50 ms per timestep), how many times faster spikestream is than each
peer, the per-layer spike rates of every runtime, the logit differences against spikestream, and
what torch.compile and OpenVINO did."""
import statistics

from bench_peers_runtimes import LABELS
from bench_torch import fmt


def _label(rt, doc):
    if rt == "openvino_default":
        p = doc.get("openvino_precision", {}).get(rt)
        return f"OpenVINO default ({p})" if p else LABELS[rt]
    return LABELS[rt]


def _cell(vals):
    if not vals:
        return "–"
    lo, med = min(vals), statistics.median(vals)
    return fmt(lo) if fmt(lo) == fmt(med) else f"{fmt(lo)} / {fmt(med)}"


def _table(header, rows):
    return ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)] + \
        ["| " + " | ".join(r) + " |" for r in rows]


def _config(info, doc):
    rts, peers = doc["runtimes"], [r for r in doc["runtimes"] if r != "spikestream"]
    name = info["arch"] + (f" (widths ÷{info['width_div']})" if info["width_div"] > 1 else "")
    out = [f"#### {name}, T={info['timesteps']}, input {info['input']}", "",
           "p50 ms per timestep, min / median over the rounds:", ""]
    rows, ratio_rows = [], []
    for key, cell in info["cells"].items():
        th, b = key.split("/")
        rows.append([f"{th} / {b}"] + [_cell(cell[rt]) for rt in rts])
        ss = statistics.median(cell["spikestream"]) if cell["spikestream"] else None
        ratio_rows.append([f"{th} / {b}"] + [
            f"{statistics.median(cell[rt]) / ss:.2f}×" if ss and cell[rt] else "–" for rt in peers])
    out += _table(["threads / batch"] + [_label(rt, doc) for rt in rts], rows)
    out += ["", "How many times faster spikestream is (peer median ÷ spikestream median; < 1× means the peer is faster):", ""]
    out += _table(["threads / batch"] + [_label(rt, doc) for rt in peers], ratio_rows)
    for b, chk in info["checks"].items():
        ss_rates = info.get("spikestream_rates", {}).get(b, {})
        have = [rt for rt in peers if rt in chk["rates"]]
        out += ["", f"Spike rates per layer at batch {b} (%; spikestream from `bench`, the peers over one sequence of "
                    f"their probe graph at {doc['threads'][0]} thread(s)), and the largest |logit| difference "
                    "against spikestream f32 over that sequence (`classify --decode per-step`"
                    + (f", whose largest |logit| is {chk['ref_max_abs_logit']:.2f}" if chk.get("ref_max_abs_logit") else "")
                    + "):", ""]
        rows = [[n, f"{100 * ss_rates[n]:.2f}" if n in ss_rates else "–"]
                + [f"{100 * chk['rates'][rt][n]:.2f}" for rt in have] for n in info["neurons"]]
        diff = lambda rt: max((abs(chk["rates"][rt][n] - ss_rates[n]) for n in info["neurons"] if n in ss_rates), default=None)
        rows.append(["max \\|Δ rate\\| (points)", "–"] + ["–" if diff(rt) is None else f"{100 * diff(rt):.2f}" for rt in have])
        err = chk.get("spikestream_logits_error")
        rows.append(["max \\|Δ logit\\|", "–"] + [
            f"{chk['max_abs_logit_diff'][rt]:.2g}" if rt in chk["max_abs_logit_diff"] else (f"– ({err})" if err else "–")
            for rt in have])
        mean = chk.get("mean_abs_logit_diff", {})
        rows.append(["mean \|Δ logit\|", "–"] + [f"{mean[rt]:.2g}" if rt in mean else "–" for rt in have])
        tvp = chk.get("timed_vs_probe", {})
        rows.append(["timed graph vs probe, last step's \|Δ logit\|", "–"] + [
            f"{tvp[rt]:.2g}" if rt in tvp else "–" for rt in have])
        out += _table(["layer", "spikestream"] + [_label(rt, doc) for rt in have], rows)
    c = info.get("compile")
    if c:
        out += ["", f"torch.compile: `torch._dynamo.explain` of one step: {c['graphs']} graph(s), {c['graph_breaks']} graph "
                    f"break(s){': ' + '; '.join(c['break_reasons']) if c['break_reasons'] else ''}."]
    out.append(f"\nLoad average after each round: {', '.join(f'{v:.1f}' for v in info['load_per_round'])}.")
    return out


def markdown(doc):
    m, v = doc["machine"], doc["versions"]
    out = [f"### spikestream vs CPU inference runtimes, per-timestep latency ({doc['date']})", "",
           f"- Machine: {m['cpu']}, {m['cores']} cores, {m['os']}"
           + (", AVX512_BF16" if m.get("bf16") else "") + f"; `uptime` at start: `{m['uptime']}`; at the end: "
           f"`{doc.get('uptime_end', '?')}`.",
           f"- Versions: {doc['spikestream_version']} (git {doc['git']}); torch {v['torch']}, ONNX {v['onnx']} "
           f"(onnxscript {v['onnxscript']}), ONNX Runtime {v['onnxruntime']}, OpenVINO {v['openvino']}, "
           f"SpikingJelly {v['spikingjelly']}, NumPy {v['numpy']}, Python {doc['python']}.",
           f"- Command: `{doc['command']}` ({doc['rounds']} interleaved rounds; {doc.get('wall_s', 0):.0f} s in all).",
           "- Same weights everywhere (the spikestream model file; the peers run its ONNX export or the PyTorch model "
           "that wrote it), seeded and calibrated as scripts/bench_torch.py does "
           f"(about {doc['target_rate']:.0%} spikes per layer); the same input frame every timestep (spikestream "
           f"bench's, seed 42, non-zero with probability {doc['spike_rate']}). One timestep per call, membranes as "
           "explicit inputs and outputs.",
           "- spikestream: `bench FILE --backend cpu --json`, RAYON_NUM_THREADS=N. PyTorch: `torch.set_num_threads(N)`; "
           "torch.compile with `freezing=True`, `fullgraph=True`. ONNX Runtime: CPU EP, ORT_ENABLE_ALL, intra-op N, "
           "inter-op 1. OpenVINO: CPU, PERFORMANCE_HINT LATENCY, INFERENCE_NUM_THREADS N; f32 with "
           "INFERENCE_PRECISION_HINT f32, default without it (precision used: "
           + ", ".join(f"{LABELS[k]} {p}" for k, p in doc.get("openvino_precision", {}).items()) + ").",
           ""]
    dc = doc.get("dynamo_counters")
    if dc:
        a, z = dc["after_setup"], dc.get("after_timing", {})
        out.insert(-1, f"- torch.compile, dynamo counters over the whole run: {a['unique_graphs']} graphs compiled "
                       "(explain's one per model, one per model, batch and thread count, one probe per model and batch), "
                       f"{a['graph_breaks']} graph breaks, {a['frames_not_compiled']} frames left to eager before the "
                       f"timed rounds; {z.get('unique_graphs')} graphs, {z.get('graph_breaks')} breaks, "
                       f"{z.get('frames_not_compiled')} frames left to eager after them (the same numbers: no "
                       "recompilation, so no silent fallback to eager, while timing; `fullgraph=True` also makes a "
                       "graph break or an exceeded recompile limit an error).")
    for info in doc["configs"]:
        out += _config(info, doc) + [""]
    return "\n".join(out)
