#!/bin/bash
# The reduced-precision whole-network bench of BENCHMARKS ("Reduced precision"): 3 interleaved
# rounds of (threads 1, 2) x (batch 1, 16) x (f32, bf16, f16) on the full-width vgg11_48_legacy
# peer model (made by scripts/bench_peers.py --models bench-out/peers); prints p50 and min ms per
# timestep of each run. Run from the repository root after `cargo test --release --features
# train --no-run` built target/release/spikestream.
set -e
M=bench-out/peers/vgg11_48_legacy_div1_seed7_rate0.15_in0.1.safetensors
B=target/release/spikestream
echo "start $(date -u +%H:%M:%S) $(uptime)"
for round in 1 2 3; do
  for th in 1 2; do
    cpus=$([ $th = 1 ] && echo 1 || echo 0,1)
    for batch in 1 16; do
      for p in f32 bf16 f16; do
        ms=$(RAYON_NUM_THREADS=$th taskset -c $cpus $B bench $M --backend cpu --batch $batch --precision $p --warmup 3 --steps 30 --profile-steps 0 --json 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print(round(d['p50_ms_per_timestep'],2), round(d['min_ms_per_timestep'],2))")
        echo "round $round threads $th batch $batch $p $ms"
      done
    done
  done
done
echo "end $(date -u +%H:%M:%S) $(uptime)"
