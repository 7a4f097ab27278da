#!/usr/bin/env bash
# Installs Mesa lavapipe (a Vulkan driver that runs on the CPU) so the GPU backend's tests run
# WGSL on machines without a GPU, as CI does. Idempotent: does nothing when a lavapipe ICD is there.
set -euo pipefail
if compgen -G "/usr/share/vulkan/icd.d/lvp_icd*.json" > /dev/null; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "setup-lavapipe: no apt-get; install Mesa's Vulkan drivers (lavapipe) and libvulkan1 by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers libvulkan1 > /dev/null
compgen -G "/usr/share/vulkan/icd.d/lvp_icd*.json" > /dev/null || { echo "setup-lavapipe: installed, but no lvp_icd*.json found" >&2; exit 1; }
