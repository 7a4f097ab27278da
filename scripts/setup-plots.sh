#!/usr/bin/env bash
# A small venv with matplotlib for scripts/experiments.py's plots (.venv-plots).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-plots/bin/python ]; then
    python3 -m venv .venv-plots
    .venv-plots/bin/pip install --quiet "matplotlib==3.11.2"
fi
echo ".venv-plots/bin/python"
