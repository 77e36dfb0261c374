#!/usr/bin/env bash
# Throughput on a GPU machine, in under 5 minutes: every preset on 1 GPU, and one run on all the GPUs present
# (DDP over NCCL), printing images/s and the scaling ratio. Run from the repository root:
#
#     bash benchmarks/gpu.sh                  # stand-in digits (speed does not depend on what the images show)
#     DATA_DIR=/path/to/mnist bash benchmarks/gpu.sh
#
# Needs a Python whose torch sees CUDA (PYTHON=..., default python3) with ganvas installed (pip install -e .).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STEPS=${STEPS:-300}
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to this torch')"
GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")
"$PYTHON" -c "import torch; print(f'torch {torch.__version__}, {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}')"

if [ -z "${DATA_DIR:-}" ]; then
    DATA_DIR=$(mktemp -d)
    "$PYTHON" - "$DATA_DIR" <<'PY'
import gzip, struct, sys
import numpy as np
rng = np.random.default_rng(0)
pixels, labels = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000, dtype=np.uint8)
with gzip.open(f"{sys.argv[1]}/t10k-images-idx3-ubyte.gz", "wb") as out:
    out.write(struct.pack(">IIII", 0x803, 10000, 28, 28) + pixels.tobytes())
with gzip.open(f"{sys.argv[1]}/t10k-labels-idx1-ubyte.gz", "wb") as out:
    out.write(struct.pack(">II", 0x801, 10000) + labels.tobytes())
PY
fi

for preset in seed mnist hinge wgan-gp lsgan; do
    echo "== $preset"
    "$PYTHON" benchmarks/distributed.py --data-dir "$DATA_DIR" --preset "$preset" --processes "$GPUS" \
        --steps "$STEPS" --rounds 1 --device cuda
done
