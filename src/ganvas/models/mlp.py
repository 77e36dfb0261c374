"""The tutorial's fully connected GAN, layer for layer.

G: z (100) -> 256 -> 512 -> 1024 (ReLU) -> pixels (tanh, in [-1, 1]).
D: pixels -> 1024 -> 512 -> 256 (ReLU) -> 1 logit.

`init` picks the starting weights: "default" keeps PyTorch's nn.Linear initialisation
(Kaiming-uniform weights with a = sqrt(5), biases uniform in +-1/sqrt(fan_in)); "keras" is
what a Keras Dense layer starts from, Glorot-uniform weights (uniform in
+-sqrt(6 / (fan_in + fan_out))) and zero biases, as the tutorial's Keras code has.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganvas.errors import GanvasError
from ganvas.models import register_model

INITS = ("default", "keras")


def _mlp(sizes: list[int], init: str) -> list[nn.Module]:
    """Linear layers with ReLU between them (none after the last), initialised by `init`."""
    if init not in INITS:
        raise GanvasError(f"the mlp model's init must be one of {', '.join(INITS)}, not {init!r}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(nn.ReLU())
        linear = nn.Linear(fan_in, fan_out)
        if init == "keras":  # Keras Dense: kernel_initializer="glorot_uniform", bias_initializer="zeros"
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), z_dim: int = 100,
                 hidden: tuple[int, ...] = (256, 512, 1024), init: str = "default"):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.z_dim = z_dim
        self.net = nn.Sequential(*_mlp([z_dim, *hidden, math.prod(self.image_shape)], init), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), hidden: tuple[int, ...] = (1024, 512, 256),
                 init: str = "default"):
        super().__init__()
        self.net = nn.Sequential(*_mlp([math.prod(image_shape), *hidden, 1], init))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1)).squeeze(1)


register_model("mlp", MLPGenerator, MLPDiscriminator,
               "the tutorial's fully connected GAN (G 100-256-512-1024-784, D 784-1024-512-256-1)")
