#!/usr/bin/env bash
# The one check to run on a machine with a GPU (issue 12). In one run it prints:
#   - the adapters and which one `--backend auto` picks;
#   - parity: the shipped demo model on its samples, GPU against the CPU backend (largest logit
#     difference, same predictions);
#   - spikestream's GPU backend on a full-width vgg11_48_legacy at batch 1 and 16: ms per
#     timestep step by step (a wait per step, as streaming does) and for whole sequences (steps
#     encoded without waiting, one read-back per sample), with the fused plan and the old
#     one-pass-per-layer plan, plus the plan's numbers (dispatches, chain, grids);
#   - PyTorch CUDA on the same model, weights and input: eager step by step and SpikingJelly-style
#     T-batched multi-step (scripts/bench_torch.py --cuda auto), and the ratios.
# Layer-major: whole sequences with each layer over all T·B inputs at once (bench reports both).
#
# Where the GPU machine has no network and no Rust (the lent device machine), prepare here:
#   scripts/gpu_check.sh --prepare     # release binary + SpikingJelly wheel into .gpu-check/
# and run there with `.gpu-check` (and `.gl`, the Vulkan loader debs, see the device notes)
# carried:  scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.gpu-check

if [[ "${1:-}" == "--prepare" ]]; then
  cargo build --release --quiet
  mkdir -p "$dir/whl"
  grep -qx "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >> .git/info/exclude
  objcopy --strip-debug target/release/spikestream "$dir/spikestream"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$dir/whl" "spikingjelly==0.0.0.0.14"
  ls -la "$dir" "$dir/whl"
  exit 0
fi

# The Vulkan loader, where the machine lacks it (device notes: debs carried in .gl/).
if ! ldconfig -p 2>/dev/null | grep -q libvulkan && compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[[ -f $icd && -z "${VK_DRIVER_FILES:-}" ]] && export VK_DRIVER_FILES=$icd
if compgen -G "$dir/whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$dir"/whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
bin=${SPIKESTREAM_BIN:-}
if [[ -z $bin ]]; then
  if [[ -x $dir/spikestream ]]; then bin=$dir/spikestream
  else cargo build --release --quiet && bin=target/release/spikestream; fi
fi
export SPIKESTREAM_BIN=$bin
echo "== $(date -u +%FT%TZ) $(uname -n), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

echo "== adapters"
"$bin" devices

echo "== parity: demo model, GPU against the CPU backend"
"$bin" classify models/demo/sim10_vgg48_legacy.safetensors models/demo/samples --labels-from-dirs --backend gpu --compare --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print("accuracy", d.get("accuracy"), "largest logit difference GPU vs CPU", d.get("compare_max_abs_diff"))'

echo "== spikestream GPU, vgg11_48_legacy full width (ms per timestep)"
for batch in 1 16 64; do
  for plan in fused sparse; do
    [[ $batch == 64 && $plan == sparse ]] && continue
    "$bin" bench --arch vgg11_48_legacy --batch "$batch" --backend gpu --gpu-plan "$plan" --steps 200 --profile-steps 20 --json \
      | python3 -c '
import json, sys
r = json.load(sys.stdin)
keys = ["p50_ms_per_timestep", "sequence_ms_per_timestep_p50", "layer_major_ms_per_timestep_p50", "gpu_ms_per_timestep_p50", "dispatches_per_step",
        "submits_per_step", "readbacks_per_sample", "max_serial_trips", "min_conv_workgroups", "bytes_per_step"]
print("batch", r["batch"], "plan", sys.argv[1], r["backend"], {k: r.get(k) for k in keys})
lm = r.get("layer_major_ms_per_timestep_p50")
if lm:
    print("  layer-major: %.0f samples x timesteps per second (goal at batch 64: 20000)" % (r["batch"] * 1e3 / lm))
' "$plan"
  done
done

echo "== PyTorch CUDA on the same model (scripts/bench_torch.py)"
if python3 -c 'import torch, spikingjelly, safetensors; assert torch.cuda.is_available()' 2>/dev/null; then
  PYTHONUNBUFFERED=1 python3 scripts/bench_torch.py --bin "$bin" --cuda auto --gpu auto --threads "$(nproc)" \
    --configs vgg11_48_legacy:1,vgg11_48_legacy:16 --repeats 1 --budget 5
else
  echo "skipped: needs python3 with torch (CUDA), spikingjelly and safetensors"
fi
