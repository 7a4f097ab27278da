#!/usr/bin/env bash
# Creates .venv-bench with the inference runtimes scripts/bench_peers.py compares spikestream
# against: PyTorch (eager and torch.compile; PyPI's default wheel, which pulls the CUDA libraries,
# about 6 GB in all, works on the CPU), ONNX with onnxscript (torch.onnx's exporter), ONNX Runtime,
# OpenVINO, and SpikingJelly for the reference models (scripts/reference_models.py). Pinned, so that
# two runs of the benchmark compare the same peers (numpy 2.4.6: the last for Python 3.11).
# CI never runs it. Idempotent: does nothing when the venv already has what is pinned here.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-bench
want=("torch==2.15.0" "onnx==1.23.2" "onnxscript==0.7.2" "onnxruntime==1.31.1" "openvino==2026.4.1"
      "numpy==2.4.6" "safetensors==0.8.0" "spikingjelly==0.0.0.0.14")
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
stamp="$venv/.installed-$(printf '%s\n' "${want[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f $stamp ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${want[@]}"
  touch "$stamp"
fi
