"""The peer runtimes of scripts/bench_peers.py, each behind one interface: `r.step(i)` runs timestep
`i % T` of a sequence (feeding the IMP membranes at each sequence start, the previous step's
membranes otherwise), `r.begin()` sets the thread count before a timed run, `r.last_logits()` are those of the last
step run, and `r.probe()` runs
one sequence of the probe graph (scripts/bench_peers_step.py) and returns per-step logits
[T,B,K] and per-layer spike rates [T,L].

- PyTorch eager and torch.compile (inductor, `freezing=True`, `fullgraph=True`, static shapes; one
  compiled StepNet per thread count, since inductor's C++ kernels bake the thread count in at
  compile time: compiled on its first call, after `begin()` set the threads) run `StepNet`;
- ONNX Runtime (CPU EP, ORT_ENABLE_ALL, intra-op N threads, inter-op 1) and OpenVINO (CPU,
  PERFORMANCE_HINT LATENCY, INFERENCE_NUM_THREADS N; `INFERENCE_PRECISION_HINT=f32`, or the
  plugin's default, bf16 on an AVX512_BF16 CPU) run its ONNX export. Both keep the membranes in
  two preallocated buffer sets that alternate between input and output (ORT IOBinding, OpenVINO
  set_tensor), so no step copies or allocates them.
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peers_step import io_names, step_sequence  # noqa: E402

RUNTIMES = ["spikestream", "openvino_f32", "openvino_default", "torch_compile", "onnxruntime", "torch_eager"]
# Opt-in (--runtimes …,spikestream_bf16): spikestream with --precision bf16 (not bit-exact; its
# ratio column reads "spikestream f32 ÷ bf16" like any peer's).
OPTIONAL = ["spikestream_bf16"]
LABELS = {"spikestream": "spikestream", "spikestream_bf16": "spikestream --precision bf16", "openvino_f32": "OpenVINO f32", "openvino_default": "OpenVINO default",
          "torch_compile": "torch.compile (freeze)", "onnxruntime": "ONNX Runtime", "torch_eager": "PyTorch eager"}


class TorchRunner:
    """`fn` is the StepNet itself (eager) or its torch.compile'd form."""

    def __init__(self, fn, probe_fn, x, T, mems0, threads):
        self.fn, self.probe_fn, self.x, self.T, self.mems0, self.threads = fn, probe_fn, x, T, mems0, threads
        self.ts = [torch.tensor([t], dtype=torch.int64) for t in range(T)]
        self.mems = mems0

    def begin(self):
        torch.set_num_threads(self.threads)

    @torch.no_grad()
    def step(self, i):
        t = i % self.T
        out = self.fn(self.x, self.ts[t], *(self.mems0 if t == 0 else self.mems))
        self.logits, self.mems = out[0], out[1:]

    def last_logits(self):
        return self.logits.numpy()

    @torch.no_grad()
    def probe(self):
        self.begin()
        return step_sequence(lambda x, t, m: self.probe_fn(x, self.ts[t], *m), self.x, self.T, self.mems0,
                             lambda o: o.numpy())


def compile_step(net):
    """torch.compile of a StepNet with inductor freezing; raises on a graph break (fullgraph)."""
    import torch._inductor.config as ic
    ic.freezing = True
    torch._dynamo.config.cache_size_limit = max(64, torch._dynamo.config.cache_size_limit)
    return torch.compile(net, fullgraph=True, dynamic=False)


def compile_report(net, x, mems0):
    """How torch.compile sees one step: graphs and graph breaks (torch._dynamo.explain)."""
    with torch.no_grad():
        e = torch._dynamo.explain(net)(x, torch.tensor([0], dtype=torch.int64), *mems0)
    return {"graphs": e.graph_count, "graph_breaks": e.graph_break_count,
            "break_reasons": [str(r.reason)[:200] for r in e.break_reasons]}


def dynamo_counters():
    from torch._dynamo.utils import counters
    return {"unique_graphs": counters["stats"].get("unique_graphs", 0),
            "calls_captured": counters["stats"].get("calls_captured", 0),
            "graph_breaks": sum(counters["graph_break"].values()),
            "frames_not_compiled": counters["frames"].get("total", 0) - counters["frames"].get("ok", 0)}


class OrtRunner:
    def __init__(self, path, probe_path, x, T, mems0, threads):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.probe_sess = ort.InferenceSession(str(probe_path), so, providers=["CPUExecutionProvider"])
        self.T, self.x, self.mems0 = T, x, [m.numpy() for m in mems0]
        self.has_t = "t" in io_names_from(self.sess)[0]
        ov = ort.OrtValue.ortvalue_from_numpy
        L = len(mems0)
        xv, tv = ov(x.numpy()), [ov(np.array([t], np.int64)) for t in range(T)]
        m0 = [ov(m) for m in self.mems0]
        bufs = [[ov(np.empty_like(m)) for m in self.mems0] for _ in range(2)]
        self.logits = logits = ov(np.empty((x.shape[0], self.sess.get_outputs()[0].shape[1]), np.float32))
        self.io = []
        for t in range(T):  # one binding per timestep: t=0 reads the IMP, writes set 0; t reads set (t-1)%2
            io = self.sess.io_binding()
            io.bind_ortvalue_input("x", xv)
            if self.has_t:
                io.bind_ortvalue_input("t", tv[t])
            src, dst = (m0 if t == 0 else bufs[(t - 1) % 2]), bufs[t % 2]
            for k in range(L):
                io.bind_ortvalue_input(f"mem{k}", src[k])
                io.bind_ortvalue_output(f"mem{k}_out", dst[k])
            io.bind_ortvalue_output("logits", logits)
            self.io.append(io)

    def begin(self):
        pass

    def step(self, i):
        self.sess.run_with_iobinding(self.io[i % self.T])

    def last_logits(self):
        return self.logits.numpy()

    def probe(self):
        ins, outs = io_names_from(self.probe_sess)
        fn = lambda x, t, m: self.probe_sess.run(outs, feed(ins, x, t, m))
        return step_sequence(fn, self.x.numpy(), self.T, self.mems0)


def feed(names, x, t, mems):
    """The inputs of one step by name (an exporter may drop `t` where no layer reads it)."""
    d = {"x": x, "t": np.array([t], np.int64), **{f"mem{k}": v for k, v in enumerate(mems)}}
    return {n: d[n] for n in names}


def io_names_from(sess):
    return [i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()]


def openvino_core():
    import openvino as ov
    return ov.Core()


class OpenVinoRunner:
    def __init__(self, core, path, probe_path, x, T, mems0, threads, f32):
        import openvino as ov
        cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        if f32:
            cfg["INFERENCE_PRECISION_HINT"] = "f32"
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", cfg)
        self.probe_compiled = core.compile_model(core.read_model(str(probe_path)), "CPU", cfg)
        p = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.precision = p.to_string() if hasattr(p, "to_string") else str(p)
        self.req = self.compiled.create_infer_request()
        self.T, self.x, self.mems0 = T, x, [m.numpy() for m in mems0]
        self.L = len(mems0)
        self.xv = ov.Tensor(x.numpy(), shared_memory=True)
        self.tv = [ov.Tensor(np.array([t], np.int64)) for t in range(T)]
        self.m0 = [ov.Tensor(m, shared_memory=True) for m in self.mems0]
        self.bufs = [[ov.Tensor(np.empty_like(m)) for m in self.mems0] for _ in range(2)]
        self.req.set_tensor("x", self.xv)
        self.has_t = any("t" in i.get_names() for i in self.compiled.inputs)

    def begin(self):
        pass

    def step(self, i):
        t = i % self.T
        src, dst = (self.m0 if t == 0 else self.bufs[(t - 1) % 2]), self.bufs[t % 2]
        r = self.req
        if self.has_t:
            r.set_tensor("t", self.tv[t])
        for k in range(self.L):
            r.set_tensor(f"mem{k}", src[k])
            r.set_tensor(f"mem{k}_out", dst[k])
        r.infer()

    def last_logits(self):
        return np.array(self.req.get_tensor("logits").data)

    def probe(self):
        req = self.probe_compiled.create_infer_request()
        ins = [i.get_any_name() for i in self.probe_compiled.inputs]
        outs = [o.get_any_name() for o in self.probe_compiled.outputs]

        def fn(x, t, m):
            res = req.infer(feed(ins, x, t, m))
            return [np.array(res[self.probe_compiled.output(n)]) for n in outs]
        return step_sequence(fn, self.x.numpy(), self.T, self.mems0)


def versions():
    import importlib.metadata as md
    out = {"torch": torch.__version__}
    for name in ("onnx", "onnxruntime", "openvino", "onnxscript", "numpy", "spikingjelly"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def expect_io(net, path):
    """The ONNX file's inputs and outputs are the StepNet's (names the runners bind by)."""
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    ins, outs = io_names(net)
    got = ([i.name for i in m.graph.input], [o.name for o in m.graph.output])
    if got != (ins, outs) and got != ([n for n in ins if n != "t"], outs):
        raise SystemExit(f"{path}: ONNX inputs/outputs {got}, expected {(ins, outs)}")
