"""Training throughput of the `art` preset on RGBA images at 32 and 64 px: bf16, channels-last, torch.compile and
no-augmentation against fp32.

    python benchmarks/art_throughput.py                   # a 100-image set at 32 and 64 px
    python benchmarks/art_throughput.py --sizes 64 --images 2000
    python benchmarks/art_throughput.py --compile         # also torch.compile (about a minute of compiling each)

For each size, the preset's own settings for a set of --images images (fp32, DiffAugment
as the preset picks it) are the baseline; the same step in bf16 mixed precision and the
same step with channels-last images and weights (the GPU path's layout), and the same step without
DiffAugment are measured in the same run, interleaved over several
rounds, and reported as ratios to the baseline (docs/performance.md).
"""

from __future__ import annotations

import argparse
import time

import torch

from ganvas.config import preset_config
from ganvas.gan import GAN
from timing import interleaved, print_against  # benchmarks/timing.py: a script's folder is on sys.path

# The preset picks bf16 where the CPU runs it natively (precision auto); the baseline is its step in fp32.
FP32 = {"precision": "fp32"}
VARIANTS = {"art preset (fp32)": FP32, "bf16": {"precision": "bf16"}, "channels-last": {**FP32, "channels_last": True},
            "bf16, channels-last": {"precision": "bf16", "channels_last": True},
            "no DiffAugment": {**FP32, "augment": ""}}
COMPILED = {"compiled": {**FP32, "compile": True}, "bf16, compiled": {"precision": "bf16", "compile": True}}


def images_per_second(size: int, image_count: int, changes: dict, steps: int, warmup: int = 3) -> float:
    config = preset_config("art", count_images=lambda config: image_count, data="benchmark", size=size, **changes)
    gan = GAN(config, (4, size, size), torch.device("cpu"))
    real = torch.rand(config.batch_size, 4, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        stats = gan.train_step(step, lambda i: (real, None))
        torch.stack(list(stats.values())).tolist()  # the trainer reads the statistics every step
    return steps * config.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64", help="image sides to measure, comma-separated")
    parser.add_argument("--images", type=int, default=100, help="data set size the preset plans for")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved measurements per variant")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (compiled during the warm-up)")
    args = parser.parse_args()
    variants = {**VARIANTS, **(COMPILED if args.compile else {})}
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, art preset for {args.images} RGBA images, "
          f"{args.steps} steps x {args.rounds} rounds (median, min-max)")
    for size in map(int, args.sizes.split(",")):
        results = interleaved(variants, args.rounds,
                              lambda name: images_per_second(size, args.images, variants[name], args.steps))
        print_against(results, "art preset (fp32)", "the preset", prefix=f"{size:>3} px  ")


if __name__ == "__main__":
    main()
