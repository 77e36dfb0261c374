"""Which judge measures a run: the digit evaluator for the named datasets, thumbnails for your own images."""

from __future__ import annotations

import torch

from ganvas.data import ImageDataset
from ganvas.metrics.evaluator import load_evaluator
from ganvas.metrics.pixels import PixelJudge
from ganvas.metrics.quality import Judge, QualityJudge, check_evaluable


def judge_for(dataset: ImageDataset, own_images: bool, count: int, device: str | torch.device = "cpu") -> Judge:
    """A judge of `count` generated images against `dataset`; own_images for runs trained with --data.

    Raises GanvasError when the named dataset is not something the digit evaluator can read.
    """
    if own_images:
        return PixelJudge(dataset, count)
    check_evaluable(dataset)
    return QualityJudge(dataset, load_evaluator(device), count)
