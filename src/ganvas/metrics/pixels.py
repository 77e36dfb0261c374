"""Quality measures for any images, with no trained judge: pixel-space comparisons with the training set.

The digit evaluator knows only MNIST. For an artist's folder there is no classifier to
embed with (and no network to download one), so these measures compare images as
small thumbnails: each image is averaged down to 16×16 and, where it has an alpha channel,
its colours are premultiplied by alpha so that the colour of invisible pixels does not count.
They answer the questions a small-data GAN raises — does it look like the set (precision),
does it cover the set (recall, coverage), does it copy (distance to the nearest training image),
has it collapsed (diversity) — not how beautiful the images are. docs/metrics.md has more.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from ganvas.data import ImageDataset, to_model_range
from ganvas.errors import GanvasError
from ganvas.metrics.alarms import copying, mode_dropping, thumbnail_collapse
from ganvas.metrics.quality import Judge
from ganvas.metrics.stats import density_coverage, diversity, nearest_distances, precision_recall

THUMBNAIL_SIDE = 16
NEIGHBOURS = 3  # k of the k-NN balls of precision and recall
COVERAGE_NEIGHBOURS = 5  # k of density and coverage: the k Naeem et al. (2020) recommend
MIN_COUNT = COVERAGE_NEIGHBOURS + 1  # images a measurement compares: more than density/coverage's k
MIN_IMAGES = 2 * MIN_COUNT  # two disjoint real halves of MIN_COUNT
# A generated image closer to a training image than this share of the training images' own median
# spacing is counted as a near-copy.
COPY_FRACTION = 0.5

# name -> (label, which way is better)
PIXEL_METRIC_LABELS = {
    "precision": ("precision", "higher"),
    "recall": ("recall", "higher"),
    "density": ("density", "near the floor"),
    "coverage": ("coverage", "higher"),
    "nearest_real": ("nearest training image", "near 1; 0 = copies"),
    "near_copies": ("near-copies", "lower"),
    "diversity": ("diversity", "near 1"),
    "opaque_share": ("opaque pixels", "as the floor"),
}


def thumbnails(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (N, C, H, W) as rows of 16×16 thumbnail pixels, colour premultiplied by alpha."""
    small = F.adaptive_avg_pool2d(images.float(), THUMBNAIL_SIDE)
    if images.shape[1] in (2, 4):  # grey + alpha or RGBA: alpha is the last channel
        alpha = (small[:, -1:] + 1) / 2
        small = torch.cat([(small[:, :-1] + 1) * alpha - 1, small[:, -1:]], dim=1)
    return small.flatten(1).double().numpy()


def opaque_share(images: torch.Tensor) -> float:
    """Share of pixels more than half opaque (1.0 for images without alpha)."""
    if images.shape[1] not in (2, 4):
        return 1.0
    return float((images[:, -1] > 0).float().mean())


class PixelJudge(Judge):
    """Scores generated images against a folder data set in thumbnail space.

    The real images are split into two fixed, disjoint halves: half A is the reference,
    half B is the real floor (what a perfect generator would score). Copies are looked
    for in the whole training set.
    """

    measures = "thumbnails"
    labels = PIXEL_METRIC_LABELS
    best_key = None  # no single number ranks checkpoints of art well enough to pick one automatically

    def __init__(self, dataset: ImageDataset, count: int, seed: int = 0):
        if len(dataset) < MIN_IMAGES:
            raise GanvasError(f"{dataset.name} has {len(dataset)} images; measuring quality needs at least "
                              f"{MIN_IMAGES}")
        real = to_model_range(dataset.images)
        self.count = min(count, len(dataset) // 2)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).numpy()
        self.real_all = thumbnails(real)
        self.real_a = self.real_all[order[:self.count]]
        self.real_b = order[self.count:2 * self.count]
        self.real_b_images = real[self.real_b]
        # How far apart the training images are: each one's distance to its nearest other training image.
        everyone = np.arange(len(dataset))
        self.real_spacing = float(np.median(nearest_distances(self.real_all, self.real_all, skip=everyone)))
        self.real_diversity = diversity(self.real_all)
        if self.real_spacing == 0:
            raise GanvasError(f"{dataset.name}: most images have an exact duplicate in the set; remove the "
                              "duplicates to measure quality")

    @cached_property
    def real_floor(self) -> dict[str, float]:
        return self._scores(self.real_b_images, skip=self.real_b)

    def judge(self, images: torch.Tensor) -> dict[str, float]:
        """Metrics of generated images in [-1, 1] (N >= count, the first `count` are used)."""
        return self._scores(images[:self.count])

    def _scores(self, images: torch.Tensor, skip: np.ndarray | None = None) -> dict[str, float]:
        fake = thumbnails(images)
        scores = precision_recall(self.real_a, fake, k=NEIGHBOURS)
        spread = density_coverage(self.real_a, fake, k=COVERAGE_NEIGHBOURS)
        # Training images (the floor) skip themselves when looking for their nearest training image.
        nearest = nearest_distances(fake, self.real_all, skip=skip)
        return {
            "precision": scores.precision,
            "recall": scores.recall,
            "density": spread.density,
            "coverage": spread.coverage,  # mode dropping shows here: real images with no generated neighbour
            # In units of the training images' own median spacing: about 1 for new images like the real ones.
            "nearest_real": float(np.median(nearest)) / self.real_spacing,
            "near_copies": float(np.mean(nearest < COPY_FRACTION * self.real_spacing)),
            "diversity": diversity(fake) / self.real_diversity,  # 1 = as varied as the training set
            "opaque_share": opaque_share(images),
        }

    def alarms(self, quality: dict[str, float]) -> dict[str, str | None]:
        return {"mode_collapse": thumbnail_collapse(quality), "copying": copying(quality, self.real_floor),
                "mode_dropping": mode_dropping(quality, self.real_floor)}

    def summary(self, quality: dict[str, float]) -> dict[str, str]:
        return {"precision": f"{quality['precision']:.2f}", "recall": f"{quality['recall']:.2f}",
                "coverage": f"{quality['coverage']:.2f}", "copies": f"{quality['near_copies']:.0%}"}
