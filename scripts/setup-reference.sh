#!/usr/bin/env bash
# Creates .venv-reference with the reference training stack (torch, torchvision, spikingjelly,
# tonic, safetensors) used only to regenerate committed fixtures (scripts/fixtures/*.py).
# About 5 GB; CI never runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-reference
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "torch==2.*" "torchvision" "spikingjelly==0.0.0.0.14" "tonic==1.7.0" "safetensors" "numpy" "dv-processing==2.0.4"
