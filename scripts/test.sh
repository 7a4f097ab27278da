#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Installs what the tests need when it is missing, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-peers.sh
export SPIKESTREAM_PEER_PYTHON="$PWD/.venv-peers/bin/python"
scripts/setup-lavapipe.sh
cargo test --release --all-targets "$@"
