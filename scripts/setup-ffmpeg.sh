#!/usr/bin/env bash
# Installs ffmpeg (with ffprobe) from the Debian packages, so `render --out X.mp4` and its test
# run. Idempotent: does nothing when both are on the PATH. spikestream itself never needs it:
# without ffmpeg, `render` writes GIF, PNG and Y4M and says how to get MP4.
set -euo pipefail
if command -v ffmpeg > /dev/null && command -v ffprobe > /dev/null; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "setup-ffmpeg: no apt-get; install ffmpeg by hand (the MP4 test is skipped without it)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends ffmpeg > /dev/null
