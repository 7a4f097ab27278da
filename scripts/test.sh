#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Installs what the tests need when it is missing, runs the Rust test suite, then installs the
# Python package (`pip install ./python`, built by maturin into the shared target/) into
# .venv-peers and runs its tests (python/tests), and ends with one line that totals every
# cargo test binary's result and pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$target_dir"
# The build needs ~10 GB (every test executable links wgpu and burn); say what is free, so a
# full disk shows in the log as a full disk and not as a linker crash.
echo "disk before the build: $(df -h "$target_dir" | awk 'NR == 2 { print $4 " free of " $2 }')"
scripts/setup-peers.sh --ray
export SPIKESTREAM_PEER_PYTHON="$PWD/.venv-peers/bin/python"
scripts/setup-lavapipe.sh
scripts/setup-ffmpeg.sh
log=$(mktemp)
pylog=$(mktemp)
trap 'rm -f "$log" "$pylog"' EXIT
set +e
cargo test --release --all-targets --features train "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ] && [ $# -eq 0 ]; then
    # The doctests (the crate doc's example, src/lib.rs): --all-targets leaves them out.
    cargo test --release --features train --doc 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
fi
start=$(date +%s)
"$SPIKESTREAM_PEER_PYTHON" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python 2>&1 | tee "$pylog"
pip_status=${PIPESTATUS[0]}
echo "python package built and installed in $(( $(date +%s) - start )) s"
if [[ $pip_status -eq 0 ]]; then
  SPIKESTREAM_BIN="$target_dir/release/spikestream" "$SPIKESTREAM_PEER_PYTHON" -m pytest -q -rs python/tests 2>&1 | tee -a "$pylog"
  py_status=${PIPESTATUS[0]}
else
  echo "pytest: not run, the Python package did not install" | tee -a "$pylog"
  py_status=1
fi
set -e
echo "disk after the tests: $(df -h "$target_dir" | awk 'NR == 2 { print $4 " free" }'), target dir $(du -sh "$target_dir" | cut -f1)"
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "cargo: %d passed, %d failed\n", p, f }' "$log" > "$log.sum"
# pytest's last line, e.g. "== 40 passed, 2 skipped in 9.1s ==" or "== 1 failed, 39 passed in 9s ==".
awk '/ (passed|failed|error|errors|skipped|no tests ran)/ { line = $0 } END {
       n = split(line, w, /[ ,=]+/); for (i = 2; i <= n; i++) { if (w[i] == "passed") p = w[i-1]; if (w[i] == "failed" || w[i] ~ /^errors?$/) f += w[i-1]; if (w[i] == "skipped") s = w[i-1] }
       printf "pytest: %d passed, %d failed, %d skipped\n", p, f, s }' "$pylog" > "$pylog.sum"
cat "$log.sum" "$pylog.sum"
cat "$log.sum" "$pylog.sum" | awk '{ p += $2; f += $4 } END { printf "total: %d passed, %d failed\n", p, f }'
rm -f "$log.sum" "$pylog.sum"
if [[ $status -ne 0 ]]; then exit "$status"; fi
# pytest exit 5 = no tests collected: a failure here, the suite must run.
if [[ $py_status -ne 0 ]]; then exit "$py_status"; fi
