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
.venv/bin/python -m pip install --quiet -e ".[test,video,onnx,tensorboard,translate,art]"
.venv/bin/python -m pip install --quiet -e ".[studio,studio-test]"
# The studio's browser tests drive Debian's Chromium (Playwright's own browser download is not reachable). Installed
# only where it is missing and we are root (CI); elsewhere those tests skip and say why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "could not install chromium: the studio's browser tests will skip" >&2
fi
echo "ganvas is installed in .venv: run .venv/bin/ganvas --help" >&2
