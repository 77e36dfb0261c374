"""How long quality evaluation of 10,000 generated digits takes, against the 30 s budget.

    python benchmarks/evaluate_speed.py [--data-dir ../shared/data/mnist] [--n 10000]

Times each stage of `ganvas evaluate` at full size: generating N images (the seed
preset's MLP generator; its weights don't change the cost), embedding them with the
evaluator, and every metric of N generated against N real images. The real
images' embedding is timed separately (it is cached after the first evaluation).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ganvas.data import load_dataset, to_model_range
from ganvas.metrics import all_metrics, load_evaluator
from ganvas.models import build_generator
from ganvas.sampling import generate

BUDGET_S = 30.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def timed(label: str, timings: dict[str, float], work):
    started = time.perf_counter()
    result = work()
    timings[label] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO_ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    real_images = to_model_range(load_dataset("mnist", args.split, args.data_dir).images[:args.n])
    evaluator = load_evaluator()
    torch.manual_seed(0)
    generator = build_generator("mlp", image_shape=(1, 28, 28), z_dim=100).eval()

    timings: dict[str, float] = {}
    real = timed("embed real (cached after the first run)", timings, lambda: evaluator.embed(real_images))
    fake_images = timed("generate", timings, lambda: generate(generator, len(real_images), seed=0))
    fake = timed("embed generated", timings, lambda: evaluator.embed(fake_images))
    timed("all metrics", timings, lambda: all_metrics(real, fake))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(real_images)} generated vs "
          f"{len(real_images)} real images")
    for label, seconds in timings.items():
        print(f"  {label:<40} {seconds:6.2f} s")
    per_evaluation = sum(seconds for label, seconds in timings.items() if not label.startswith("embed real"))
    print(f"  {'one evaluation (reference cached)':<40} {per_evaluation:6.2f} s = "
          f"{per_evaluation / BUDGET_S:.2f}x the {BUDGET_S:.0f} s budget")


if __name__ == "__main__":
    main()
