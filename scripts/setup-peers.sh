#!/usr/bin/env bash
# Creates .venv-peers with the Python peers the tests compare against.
#   scripts/setup-peers.sh          small peers CI needs (dv-processing, numpy, nir with h5py)
#   scripts/setup-peers.sh --bench  also the benchmark peers (expelliarmus, tonic, aedat)
# Idempotent: does nothing when the venv already has what is asked for.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-peers
want=(numpy "dv-processing==2.0.4" "nir==1.0.8")
if [[ "${1:-}" == "--bench" ]]; then
  want+=("expelliarmus==1.1.12" "tonic==1.7.0" "aedat==2.3.0")
fi
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.installed-$(printf '%s\n' "${want[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f $stamp ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${want[@]}"
  touch "$stamp"
fi
