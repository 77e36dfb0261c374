"""DCGAN (Radford et al. 2016), optionally class-conditional.

For an image side of base · 2^k (`plan_resolutions`; 64 px: base 4, k 4) and width w:
G: z -> linear -> (w·2^(k-1)) × base × base, BN, ReLU; k-1 transposed convs (4×4, stride 2)
   each doubling the side and halving the channels, with BN and ReLU; a last transposed
   conv to the image's channels, tanh.
D: k strided convs (4×4, stride 2) from w channels up to w·2^(k-1), LeakyReLU(0.2), BN on
   all but the first (with spectral_norm=True: spectral norm on every layer and no BN);
   linear -> 1 logit (with minibatch_std=True, ProGAN's minibatch standard deviation is one more feature map
   before it).
With num_classes, G's batch norms become conditional and D gains a projection term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganvas.models import check_labels, register_model
from ganvas.models.layers import (ConditionalBatchNorm2d, MinibatchStd, ProjectionHead, maybe_spectral_norm,
                                  plan_resolutions)


def _radford_init(layer: nn.Module) -> nn.Module:
    """The paper draws conv and linear weights from N(0, 0.02)."""
    nn.init.normal_(layer.weight, 0.0, 0.02)
    return layer


class UpStage(nn.Module):
    """Transposed conv doubling the side, then (conditional) BN and ReLU. No conv bias: BN removes it."""

    def __init__(self, in_channels: int, out_channels: int, num_classes: int | None):
        super().__init__()
        self.conv = _radford_init(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False))
        self.norm = ConditionalBatchNorm2d(out_channels, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x), labels))


class DCGANGenerator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), z_dim: int = 100, width: int = 64,
                 num_classes: int | None = None):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.z_dim = z_dim
        self.num_classes = num_classes
        base, stages = plan_resolutions(self.image_shape)
        channels = [width * 2 ** i for i in reversed(range(stages))]
        self.base_shape = (channels[0], base, base)
        self.project = _radford_init(nn.Linear(z_dim, channels[0] * base * base, bias=False))
        self.project_norm = ConditionalBatchNorm2d(channels[0], num_classes)
        self.stages = nn.ModuleList(UpStage(c_in, c_out, num_classes) for c_in, c_out in zip(channels, channels[1:]))
        self.to_image = _radford_init(nn.ConvTranspose2d(channels[-1], self.image_shape[0], 4, stride=2, padding=1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(self, labels)
        x = F.relu(self.project_norm(self.project(z).view(-1, *self.base_shape), labels))
        for stage in self.stages:
            x = stage(x, labels)
        return torch.tanh(self.to_image(x))


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), width: int = 64, spectral_norm: bool = False,
                 num_classes: int | None = None, minibatch_std: bool = False):
        super().__init__()
        self.num_classes = num_classes
        base, stages = plan_resolutions(image_shape)
        channels = [image_shape[0]] + [width * 2 ** i for i in range(stages)]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
            batch_norm = i > 0 and not spectral_norm
            conv = _radford_init(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not batch_norm))
            layers.append(maybe_spectral_norm(conv, spectral_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
        if minibatch_std:  # one more feature map after the last conv
            layers.append(MinibatchStd())
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = ProjectionHead((channels[-1] + minibatch_std) * base * base, num_classes, spectral=spectral_norm)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(self, labels)
        return self.head(self.features(images), labels)


register_model("dcgan", DCGANGenerator, DCGANDiscriminator,
               "DCGAN (Radford et al. 2016): strided transposed convs with BN in G, strided convs with "
               "LeakyReLU in D (BN, or spectral norm with spectral_norm=True)")
register_model("dcgan-cond", DCGANGenerator, DCGANDiscriminator,
               "class-conditional DCGAN: conditional BN in G, projection discriminator", conditional=True)
