"""Batches of a run's images: shuffled without replacement, a pure function of (seed, batch number)."""

from __future__ import annotations

import torch

from ganvas.errors import GanvasError, named

Batch = tuple[torch.Tensor, torch.Tensor | None]  # images in [-1, 1], and labels (or a second set of images) or None


class BatchSampler:
    """Shuffled batches without replacement, a fresh permutation each epoch, indexed by batch number alone."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int):
        if len(images) < batch_size:
            raise GanvasError(f"the dataset has {len(images)} images, fewer than one batch of {batch_size}; "
                              f"use a smaller {named('batch_size')}")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = len(images) // batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def batch(self, number: int) -> Batch:
        epoch, position = divmod(number, self.steps_per_epoch)
        if epoch != self._epoch:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch = epoch
            self._order = torch.randperm(len(self.images), generator=rng).to(self.images.device)
        indices = self._order[position * self.batch_size:(position + 1) * self.batch_size]
        return self.images[indices], None if self.labels is None else self.labels[indices]
