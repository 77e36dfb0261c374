"""Where a run's near-copies come from: a tight cluster of the set's own near-duplicates, or single images.

    python scripts/copy_clusters.py --data ../shared/data/squimoji runs/art/squimoji-a runs/art/squimoji-b
        [--size 32] [--samples 860] [--seed 0]

In the thumbnail space of `ganvas evaluate` (docs/metrics.md), a near-copy is a generated image closer to a training
image than half the set's median spacing. Some sets hold near-duplicates of their own (squimoji: many pink squid faces
that differ only in the eyes): this prints how many training images have at least --crowd near-duplicates in the set
(the crowded part); then, for the training images themselves (each skipping itself, as the real floor does) and for
--samples generated images of each run: the near-copies, the share whose nearest training image lies in the crowded
part, and the training images most often nearest. Many samples make these less noisy than `ganvas evaluate`'s 43 or
so a side; a run can then be compared with the set's own rates (docs/art.md, "Squimoji's near-copies").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist

from ganvas.api import load
from ganvas.data import load_image_folder
from ganvas.metrics.pixels import COPY_FRACTION, PixelJudge, thumbnails
from ganvas.sampling import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=860)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crowd", type=int, default=3, help="near-duplicates that put an image in the crowded part")
    args = parser.parse_args()
    judge = PixelJudge(load_image_folder(args.data, args.size), count=1)
    real, radius = judge.real_all, COPY_FRACTION * judge.real_spacing
    between = cdist(real, real)
    np.fill_diagonal(between, np.inf)  # the training images, as the floor does, skip themselves
    crowded = (between < radius).sum(axis=1) >= args.crowd
    print(f"{args.data}: {len(real)} images, {crowded.sum()} ({crowded.mean():.2f}) with {args.crowd} or more "
          "near-duplicates in the set (the crowded part)")
    print(where_nearest("the training images themselves", between, radius, crowded))
    for run in args.runs:
        fake = thumbnails(generate(load(run).network, args.samples, args.seed))
        print(where_nearest(f"{run.name} ({args.samples} samples)", cdist(fake, real), radius, crowded))


def where_nearest(name: str, distances: np.ndarray, radius: float, crowded: np.ndarray) -> str:
    nearest = distances.argmin(axis=1)
    share = np.bincount(nearest, minlength=distances.shape[1]) / len(distances)
    top = ", ".join(f"#{i} {share[i]:.1%}" for i in np.argsort(-share)[:3])
    return (f"{name}: near-copies {np.mean(distances.min(axis=1) < radius):.2f}, nearest image in the crowded part "
            f"{crowded[nearest].mean():.2f}, most often nearest {top}")

if __name__ == "__main__":
    main()
