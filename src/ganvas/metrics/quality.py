"""Generated images against real ones, with the real-vs-real floor on the same number of images.

Every number means little alone: FID of 5,000 real digits against 5,000 other real
digits is not zero, and recall of a perfect generator is not one. So each report
holds two columns computed the same way on the same counts: generated vs real (set A)
and real (set B, disjoint from A) vs real (set A).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
import torch

from ganvas.data import ImageDataset, to_model_range
from ganvas.errors import GanvasError
from ganvas.files import atomic_write
from ganvas.metrics.alarms import mode_collapse
from ganvas.metrics.evaluator import MnistEvaluator
from ganvas.metrics.stats import Embedding, all_metrics
from ganvas.paths import ganvas_home

EVALUATOR_IMAGE_SHAPE = (1, 28, 28)
_CACHE_FORMAT = 1  # bump when the evaluator's weights or the embedding change


def check_evaluable(dataset: ImageDataset) -> None:
    if dataset.image_shape != EVALUATOR_IMAGE_SHAPE:
        raise GanvasError(f"quality metrics use an MNIST evaluator that judges 1x28x28 images; "
                          f"{dataset.name} images are {'x'.join(map(str, dataset.image_shape))}")


def reference_embedding(dataset: ImageDataset, evaluator: MnistEvaluator) -> Embedding:
    """The evaluator's view of every real image, cached under $GANVAS_HOME keyed by the pixels' hash."""
    check_evaluable(dataset)
    digest = hashlib.sha256(dataset.images.numpy().tobytes()).hexdigest()[:20]
    path = ganvas_home() / "reference" / f"{dataset.name}-{digest}-v{_CACHE_FORMAT}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return Embedding(cached["features"].astype(np.float64), cached["probs"].astype(np.float64))
    embedding = evaluator.embed(to_model_range(dataset.images))
    with atomic_write(path) as out:
        np.savez(out, features=embedding.features.astype(np.float32), probs=embedding.probs.astype(np.float32))
    return embedding


# name in all_metrics -> (label, which way is better)
METRIC_LABELS = {
    "fid": ("FID", "lower"),
    "kid": ("KID", "lower"),
    "precision": ("precision", "higher"),
    "recall": ("recall", "higher"),
    "inception_score": ("Inception Score", "higher"),
    "class_coverage": ("classes covered", "higher"),
    "class_kl": ("KL(classes || uniform)", "lower"),
    "diversity": ("diversity", "higher"),
}


@dataclass
class QualityReport:
    count: int  # images on each side of every comparison
    generated: dict[str, float]
    real_floor: dict[str, float]


class Judge:
    """What training and `ganvas evaluate` ask of a quality judge (QualityJudge, pixels.PixelJudge).

    A judge compares `count` generated images with a fixed real reference set, and knows its `real_floor`:
    the same metrics for other real images. `measures` names its kind, `labels` describes its metrics,
    and `best_key` is the metric (lower is better) that picks a run's best checkpoint, or None.
    """

    measures: str
    labels: dict[str, tuple[str, str]]
    best_key: str | None
    count: int
    real_floor: dict[str, float]

    def judge(self, images: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def alarms(self, quality: dict[str, float]) -> dict[str, str | None]:
        """Alarm name -> message when it is on, None when it is off."""
        raise NotImplementedError

    def summary(self, quality: dict[str, float]) -> dict[str, str]:
        """The numbers worth a place on the progress bar."""
        raise NotImplementedError

    def report(self, generate: Callable[[int], torch.Tensor]) -> QualityReport:
        return QualityReport(self.count, self.judge(generate(self.count)), self.real_floor)


class QualityJudge(Judge):
    """Scores generators against a dataset: two fixed, disjoint real subsets of `count` images each."""

    measures = "digits"
    labels = METRIC_LABELS
    best_key = "fid"  # the trainer keeps the checkpoint where this is lowest as `best`

    def __init__(self, dataset: ImageDataset, evaluator: MnistEvaluator, count: int, seed: int = 0):
        real = reference_embedding(dataset, evaluator)
        available = len(real.features) // 2
        if available < 2:
            raise GanvasError(f"{dataset.name} has too few images ({len(real.features)}) to measure quality")
        self.count = min(count, available)
        order = np.random.default_rng(seed).permutation(len(real.features))
        pick = lambda indices: Embedding(real.features[indices], real.probs[indices])
        self.real_a = pick(order[:self.count])
        self.real_b = pick(order[self.count:2 * self.count])
        self.evaluator = evaluator

    @cached_property
    def real_floor(self) -> dict[str, float]:
        return all_metrics(self.real_a, self.real_b)

    def judge(self, images: torch.Tensor) -> dict[str, float]:
        """Metrics of generated images in [-1, 1] (N >= count, the first `count` are used)."""
        return all_metrics(self.real_a, self.evaluator.embed(images[:self.count]))

    def alarms(self, quality: dict[str, float]) -> dict[str, str | None]:
        return {"mode_collapse": mode_collapse(quality, self.real_floor)}

    def summary(self, quality: dict[str, float]) -> dict[str, str]:
        return {"fid": f"{quality['fid']:.1f}", "classes": f"{quality['class_coverage']:.0f}"}


def format_table(report: QualityReport, labels: dict[str, tuple[str, str]]) -> str:
    lines = [f"{'metric':<24}{'generated':>12}{'real floor':>12}   better",
             *(f"{label:<24}{report.generated[key]:>12.4g}{report.real_floor[key]:>12.4g}   {better}"
               for key, (label, better) in labels.items())]
    return "\n".join(lines)
