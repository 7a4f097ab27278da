#!/usr/bin/env bash
# Runs cargo-fuzz targets for a fixed time each, JOBS at a time, and prints one line per target
# (executions, time, crashes) for FUZZING.md. Needs cargo-fuzz and a nightly toolchain
# (`cargo install cargo-fuzz`; the stable toolchain works with RUSTC_BOOTSTRAP=1).
#   scripts/fuzz_campaign.sh [SECS] [JOBS] TARGET...
# Seeds: fuzz/seeds/TARGET when it exists, else the committed recordings in tests/data. The
# corpus grows in fuzz/corpus/TARGET (ignored); crashes land in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}; jobs=${2:-2}; shift 2 || true
toolchain=+nightly
rustup toolchain list 2>/dev/null | grep -q nightly || { toolchain=; export RUSTC_BOOTSTRAP=1; }
cargo $toolchain fuzz build -s none -O >/dev/null
run() {
  local t=$1 seeds=seeds/$1
  [[ -d $seeds ]] || seeds=../tests/data
  mkdir -p "corpus/$t" "artifacts/$t"
  local log="artifacts/$t/run.log"
  cargo $toolchain fuzz run -s none -O "$t" "corpus/$t" "$seeds" -- -max_total_time="$secs" \
    -rss_limit_mb=2048 -max_len=1048576 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || true
  local runs crashes took
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  crashes=$(find "artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
  # libFuzzer says "Done N runs in S second(s)" when it ran out its time, nothing when it stopped.
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "stopped early")
  echo "$(date -u +%F) $t: $runs executions, seconds: $took, $crashes crash/oom/timeout files (log fuzz/artifacts/$t/run.log)"
}
running=0
for t in "$@"; do
  run "$t" &
  running=$((running + 1))
  if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
done
wait
