"""The tutorial's fully connected GAN, layer for layer.

G: z (100) -> 256 -> 512 -> 1024 (ReLU) -> pixels (tanh, in [-1, 1]).
D: pixels -> 1024 -> 512 -> 256 (ReLU) -> 1 logit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganvas.models import register_model


def _mlp(sizes: list[int]) -> list[nn.Module]:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), z_dim: int = 100,
                 hidden: tuple[int, ...] = (256, 512, 1024)):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.z_dim = z_dim
        self.net = nn.Sequential(*_mlp([z_dim, *hidden, math.prod(self.image_shape)]), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), hidden: tuple[int, ...] = (1024, 512, 256)):
        super().__init__()
        self.net = nn.Sequential(*_mlp([math.prod(image_shape), *hidden, 1]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1)).squeeze(1)


register_model("mlp", MLPGenerator, MLPDiscriminator,
               "the tutorial's fully connected GAN (G 100-256-512-1024-784, D 784-1024-512-256-1)")
