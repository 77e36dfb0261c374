"""Throughput of one run on 1 process against the same run on N processes (gloo on this CPU, NCCL on GPUs).

    python benchmarks/distributed.py --data-dir ../shared/data/mnist --preset seed --processes 2 --steps 600

Each variant is a real `ganvas train` (torchrun's launcher for N > 1) on the MNIST test split; images/s is the
median of its metrics.jsonl windows after the first. On a CPU, 1 process gets all the threads and N processes one
thread each (torchrun's default), so both use every core. Run it alone: anything beside it distorts the timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import interleaved, print_against


def images_per_second(processes: int, args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        command = [sys.executable, "-m", "ganvas", "train", "--preset", args.preset, "--data-dir", args.data_dir,
                   "--split", "test", "--steps", str(args.steps), "--log-every", str(args.steps // 6),
                   "--eval-every", "0", "--sample-every", str(10 * args.steps), "--checkpoint-every",
                   str(10 * args.steps), "--no-progress", "--run", str(run), "--device", args.device]
        environment = dict(os.environ)
        if processes > 1:
            command += ["--nproc-per-node", str(processes)]
            environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
        subprocess.run(command, check=True, env=environment, capture_output=True)
        windows = [json.loads(line)["images_per_s"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        return statistics.median(windows[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="a folder with MNIST's test split")
    parser.add_argument("--preset", default="seed")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    variants = {"1 process": 1, f"{args.processes} processes": args.processes}
    results = interleaved(variants, args.rounds, lambda name: images_per_second(variants[name], args))
    print(f"{args.preset} preset, {args.steps} steps, {os.cpu_count()} CPUs, device {args.device}:")
    print_against(results, "1 process", "1 process")


if __name__ == "__main__":
    main()
