#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Installs what the tests need when it is missing, then runs the whole test suite and ends with
# one line that totals every test binary's result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-peers.sh
export SPIKESTREAM_PEER_PYTHON="$PWD/.venv-peers/bin/python"
scripts/setup-lavapipe.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --all-targets --features train "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ] && [ $# -eq 0 ]; then
    # The doctests (the crate doc's example, src/lib.rs): --all-targets leaves them out.
    cargo test --release --features train --doc 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
fi
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
