#!/usr/bin/env bash
# Creates .venv-peers with the Python peers the tests compare against, and pytest for the
# Python package's tests (python/tests).
#   scripts/setup-peers.sh          small peers CI needs (dv-processing, numpy, tonic, pytest, faery, nir with h5py)
#   scripts/setup-peers.sh --bench  also the benchmark peers (expelliarmus, aedat)
#   scripts/setup-peers.sh --ray    also ray[data] for python/tests/test_ray.py (~400 MB, ~35 s)
# tonic 1.7 installs and imports without torch (~500 MB with librosa/numba/scipy). torch and
# SpikingJelly stay out (several GB): scripts/setup-reference.sh has them, and python/tests
# compares against committed fixtures made with them.
# Idempotent: does nothing when the venv already has what is asked for.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-peers
want=(numpy "dv-processing==2.0.4" "tonic==1.7.0" "pytest==9.2.0" "faery==0.7.1" "nir==1.0.8")
for arg in "$@"; do
  case $arg in
    --bench) want+=("expelliarmus==1.1.12" "aedat==2.3.0") ;;
    --ray) want+=("ray[data]==2.60.0") ;;
    *) echo "setup-peers.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.installed-$(printf '%s\n' "${want[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f $stamp ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${want[@]}"
  touch "$stamp"
fi
