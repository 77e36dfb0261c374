"""Training throughput of the translation presets at 64 px on RGBA images, against the `art` preset's GAN step.

    python benchmarks/translation_throughput.py              # every task at 64 px
    python benchmarks/translation_throughput.py --tasks upscale,cyclegan --size 32

Each task's preset (upscale, colorize, sketch, inpaint, paired, cyclegan) trains on random RGBA
batches of its own batch size; the baseline, measured interleaved in the same run, is the `art`
preset's noise-to-image step at the same size (docs/performance.md). Images per second count the
training images of a step (a CycleGAN step takes a batch from each folder: counted once).
"""

from __future__ import annotations

import argparse
import time

import torch

from ganvas.config import preset_config
from ganvas.gan import GAN
from ganvas.translation import FOLDER_TASKS, TranslationGAN, input_channels
from timing import interleaved, print_against  # benchmarks/timing.py: a script's folder is on sys.path

TASKS = ("upscale", "colorize", "sketch", "inpaint", "paired", "cyclegan")
BASELINE = "art preset (noise-to-image)"
IMAGE_COUNT = 1000  # the data set size the presets plan for (no augmentation from 1000 images on)


class RandomPairs:
    """What a TranslationGAN reads of its data: the task and the channels (the examples are not used here)."""

    def __init__(self, task: str, size: int):
        self.task, self.a_channels, self.b_channels = task, input_channels(task, 4) if task in FOLDER_TASKS else 4, 4
        self.examples = (torch.zeros(1, 4, size, size),) * 2


def images_per_second(name: str, size: int, steps: int, warmup: int = 2) -> float:
    rng = torch.Generator().manual_seed(0)
    if name == BASELINE:
        config = preset_config("art", count_images=lambda c: IMAGE_COUNT, data="benchmark", size=size)
        trainee = GAN(config, (4, size, size), torch.device("cpu"))
        batch = (torch.rand(config.batch_size, 4, size, size, generator=rng) * 2 - 1, None)
    else:
        config = preset_config(name, count_images=lambda c: IMAGE_COUNT, data="benchmark", size=size,
                               data_b="benchmark" if name in ("paired", "cyclegan") else None)
        trainee = TranslationGAN(config, RandomPairs(name, size), torch.device("cpu"))
        images = torch.rand(config.batch_size, 4, size, size, generator=rng) * 2 - 1
        batch = (images, None if name in FOLDER_TASKS else images.flip(0))
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        stats = trainee.train_step(step, lambda i: batch)
        torch.stack(list(stats.values())).tolist()  # the trainer reads the statistics every step
    return steps * config.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="tasks to measure, comma-separated")
    parser.add_argument("--size", type=int, default=64, help="image side")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved measurements per variant")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [BASELINE, *args.tasks.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size} px RGBA, presets planned for "
          f"{IMAGE_COUNT} images, {args.steps} steps x {args.rounds} rounds (median, min-max)")
    results = interleaved(names, args.rounds, lambda name: images_per_second(name, args.size, args.steps))
    print_against(results, BASELINE, "the art preset")


if __name__ == "__main__":
    main()
