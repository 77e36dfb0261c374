#!/usr/bin/env bash
# Create .venv with ganvas and its test tools. Safe to re-run: it only installs what is missing.
# PyTorch is pinned so pip does not pull a multi-GB build you did not ask for; override with
# TORCH_SPEC, e.g. TORCH_SPEC="torch==2.13.0" (default) or TORCH_SPEC="torch>=2.2" for your platform's build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "$TORCH_SPEC"
.venv/bin/python -m pip install --quiet -e ".[test,video,onnx,tensorboard]"
echo "ganvas is installed in .venv: run .venv/bin/ganvas --help" >&2
