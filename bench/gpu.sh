#!/usr/bin/env bash
# GPU and many-core measurements (bench/gpu_bench.py) on a machine that has them: a CUDA GPU
# with nvidia-smi, many cores. Installs like `make install` (the venv), then writes
# bench/gpu-results.md. On a machine whose torch is a CPU build, install a CUDA torch into
# .venv first; nothing in CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
make install
.venv/bin/python -m bench.gpu_bench "$@"
