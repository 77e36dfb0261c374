"""Points in a generator's latent space, reproducible from a seed on any device."""

from __future__ import annotations

import torch


def gaussian_latents(count: int, z_dim: int, seed: int) -> torch.Tensor:
    """z ~ N(0, I), drawn on the CPU so the same seed gives the same z on CPU, CUDA and MPS."""
    return torch.randn(count, z_dim, generator=torch.Generator().manual_seed(seed))


def balanced_labels(count: int, num_classes: int) -> torch.Tensor:
    """Class labels for `count` samples in sorted runs of (nearly) equal length: 0,0,..,1,1,..; a grid row per class."""
    return torch.arange(count) * num_classes // count
