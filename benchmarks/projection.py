"""Projection of a run's held-out images (docs/enhance.md): the bars for digits and for your own art.

    # digits: the mnist preset, 5 minutes, 1,000 images held out; then all 1,000 projected at default settings
    ganvas train --preset mnist --minutes 5 --holdout 1000 --data-dir ../shared/data/mnist --split test --run RUN
    python benchmarks/projection.py RUN
    # art: squimoji, 10 minutes, 10 held out
    ganvas train --preset art --data ../shared/data/squimoji --size 32 --holdout 10 --minutes 10 --run RUN
    python benchmarks/projection.py RUN --grid docs/images/enhance-squimoji-holdout.png

For every held-out image it reports the projection's PSNR and SSIM against three references: the best of
--random (default 10,000) fresh random samples of the generator (seed 12345, not the projector's own starts),
the nearest training image (what copying the training set would give), and for digits whether the shipped MNIST
evaluator reads the projection as the target's digit. It times `Generator.project` alone (load, fit and
optimisation; not writing files) and, separately, writing every projection's files.

Bars (digits): evaluator agreement >= 90%, mean PSNR >= 3 dB above the best random samples', <= 60 s for 1,000.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time

import torch

import ganvas
from ganvas.projection import psnr, ssim, visible
from ganvas.sampling import generate

RANDOM_SEED = 12345
BATCH = 1000


def best_random(generator: ganvas.Generator, targets: torch.Tensor, count: int) -> torch.Tensor:
    """Each target's nearest (highest PSNR) of `count` random samples (a conditional model: all classes in turn)."""
    wanted = visible(targets).flatten(1)
    best = torch.full((len(targets),), -math.inf)
    best_images = torch.zeros_like(targets)
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        # Each chunk its own seed, classes in turn within it: every class equally often overall.
        images = generate(generator.network, size, RANDOM_SEED + start)
        score = -torch.cdist(wanted, visible(images).flatten(1))  # nearest = highest PSNR
        value, index = score.max(1)
        better = value > best
        best = torch.where(better, value, best)
        best_images[better] = images[index[better]]
    return best_images


def nearest_training(training: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each target's nearest training image in pixel space (as seen: alpha-premultiplied)."""
    distance = torch.cdist(visible(targets).flatten(1), visible(training).flatten(1))
    return training[distance.argmin(1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run trained with --holdout N (or one of its checkpoints)")
    parser.add_argument("--n", type=int, help="project only the first N held-out images")
    parser.add_argument("--steps", type=int, help="projection steps (default: the projector's)")
    parser.add_argument("--loss", help="projection loss (default: the projector's)")
    parser.add_argument("--starts", type=int, help="random starts (default: the projector's)")
    parser.add_argument("--candidates", type=int, help="candidates per target (default: the projector's)")
    parser.add_argument("--random", type=int, default=10_000, help="random samples for the baseline")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--grid", help="write a comparison grid PNG here: rows target, nearest training image, "
                                       "best random sample, projection (at most 16 columns)")
    parser.add_argument("--reclass", help="digits: write a grid of the first projections re-classed 0-9 here")
    parser.add_argument("--no-files", action="store_true", help="skip timing the writing of every file")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    generator = ganvas.load(args.run)
    held = generator.held_out(args.n)
    started, cpu_started = time.perf_counter(), time.process_time()
    projections = generator.project(held, steps=args.steps, loss=args.loss, starts=args.starts,
                                    candidates=args.candidates)
    project_s, project_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    files_s = None
    if not args.no_files:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            projections.save(folder)
            files_s = time.perf_counter() - started

    targets = torch.cat([p.target.tensor for p in projections])
    images = torch.cat([p.image.tensor for p in projections])
    random = best_random(generator, targets, args.random)
    training = generator_training_images(generator)
    nearest = nearest_training(training, targets)
    result = {"run": str(generator.info.path), "step": generator.info.step, "model": generator.info.model,
              "images": len(projections), "steps": args.steps, "loss": args.loss, "project_s": round(project_s, 2),
              "project_cpu_s": round(project_cpu_s, 2), "load_average": round(os.getloadavg()[0], 2),
              "files_s": None if files_s is None else round(files_s, 2), "threads": torch.get_num_threads()}
    for name, other in [("projection", images), ("random", random), ("nearest_training", nearest)]:
        result[f"psnr_{name}"] = round(float(psnr(other, targets).mean()), 2)
        result[f"ssim_{name}"] = round(float(ssim(other, targets).mean()), 4)
    result["gain_over_random_db"] = round(result["psnr_projection"] - result["psnr_random"], 2)
    if held.labels is not None and tuple(targets.shape[1:]) == (1, 28, 28):
        from ganvas.metrics import load_evaluator

        evaluator = load_evaluator()
        read = torch.from_numpy(evaluator.embed(images).probs.argmax(1))
        labels = held.labels[:len(projections)]
        result["evaluator_agrees"] = round(float((read == labels).float().mean()), 4)
        result["evaluator_agrees_targets"] = round(float(
            (torch.from_numpy(evaluator.embed(targets).probs.argmax(1)) == labels).float().mean()), 4)
        if projections[0].class_ is not None:
            result["class_found_is_label"] = round(float(
                (torch.tensor([p.class_ for p in projections]) == labels).float().mean()), 4)
    if args.grid:
        columns = min(16, len(projections))
        rows = [targets[:columns], nearest[:columns], random[:columns], images[:columns]]
        ganvas.Images(torch.cat(rows), columns=columns).save(args.grid)
    if args.reclass and projections[0].class_ is not None:
        shown = projections[:8]
        rows = [torch.cat([p.target.tensor, *(p.reclass(k).tensor for k in range(generator.info.classes))])
                for p in shown]
        ganvas.Images(torch.cat(rows), columns=generator.info.classes + 1).save(args.reclass)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>26}  {value}")
    if "evaluator_agrees" in result:
        bars = [("evaluator reads the target's digit", result["evaluator_agrees"] >= 0.9,
                 f"{result['evaluator_agrees']:.1%} (>= 90%)"),
                ("PSNR over the best random samples", result["gain_over_random_db"] >= 3,
                 f"{result['gain_over_random_db']:+.2f} dB (>= +3 dB)"),
                ("time for all", project_s <= 60 * len(projections) / 1000, f"{project_s:.1f} s for {len(projections)} "
                                                                            "(<= 60 s per 1,000)")]
        for what, ok, text in bars:
            print(f"{'PASS' if ok else 'FAIL'}  {what}: {text}")


def generator_training_images(generator: ganvas.Generator) -> torch.Tensor:
    from ganvas.config import config_from_dict
    from ganvas.data import load_training_data, to_model_range

    config = config_from_dict(generator.checkpoint.config, "meta.json")
    return to_model_range(load_training_data(config).images)


if __name__ == "__main__":
    main()
