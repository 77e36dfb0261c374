"""The ResNet GAN of SNGAN (Miyato et al. 2018), optionally class-conditional.

Every block has `width` channels, as in SNGAN's CIFAR networks; for an image side of
base · 2^k (`plan_resolutions`):
G: z -> linear -> width × base × base; k up-blocks; BN, ReLU, 3×3 conv to the image's
   channels, tanh.
D: k down-blocks (the first one "optimized" for the image input), spectral norm on every
   conv and linear; ReLU, sum over positions, linear -> 1 logit.
With num_classes, G's batch norms become conditional and D gains a projection term
(its class embedding spectrally normalised too).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganvas.models import check_labels, register_model
from ganvas.models.layers import (ConditionalBatchNorm2d, MinibatchStd, ProjectionHead, maybe_spectral_norm,
                                  plan_resolutions)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class GeneratorBlock(nn.Module):
    """BN-ReLU-upsample-conv3×3-BN-ReLU-conv3×3, plus an upsampled 1×1-conv shortcut.

    No conv biases: the sum feeds the next batch norm, which would cancel them.
    """

    def __init__(self, channels: int, num_classes: int | None):
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(channels, num_classes)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = ConditionalBatchNorm2d(channels, num_classes)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.shortcut = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(_upsample(F.relu(self.norm1(x, labels))))
        h = self.conv2(F.relu(self.norm2(h, labels)))
        return h + self.shortcut(_upsample(x))


class DiscriminatorBlock(nn.Module):
    """ReLU-conv3×3-ReLU-conv3×3-avgpool, plus an avgpool-1×1-conv shortcut, all spectrally normalised.

    The first ("optimized") block skips the leading ReLU, as its input is the image.
    Pooling before the 1×1 conv equals SNGAN's conv-then-pool (both are linear) and is cheaper.
    """

    def __init__(self, in_channels: int, out_channels: int, first: bool):
        super().__init__()
        self.activate_input = not first
        self.conv1 = maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv2 = maybe_spectral_norm(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.shortcut = maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.activate_input else x
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class ResNetGenerator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), z_dim: int = 100, width: int = 64,
                 num_classes: int | None = None):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.z_dim = z_dim
        self.num_classes = num_classes
        base, stages = plan_resolutions(self.image_shape)
        self.base_shape = (width, base, base)
        self.project = nn.Linear(z_dim, width * base * base, bias=False)  # the first block starts with BN
        self.blocks = nn.ModuleList(GeneratorBlock(width, num_classes) for _ in range(stages))
        self.out_norm = ConditionalBatchNorm2d(width, num_classes)
        self.to_image = nn.Conv2d(width, self.image_shape[0], 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(self, labels)
        x = self.project(z).view(-1, *self.base_shape)
        for block in self.blocks:
            x = block(x, labels)
        return torch.tanh(self.to_image(F.relu(self.out_norm(x, labels))))


class ResNetDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), width: int = 64,
                 num_classes: int | None = None, minibatch_std: bool = False):
        super().__init__()
        self.num_classes = num_classes
        _, stages = plan_resolutions(image_shape)
        blocks: list[nn.Module] = []
        for i in range(stages):
            in_channels = image_shape[0] if i == 0 else width
            if minibatch_std and i == stages - 1:  # ProGAN's minibatch std before the last block, which mixes it in
                blocks.append(MinibatchStd())
                in_channels += 1
            blocks.append(DiscriminatorBlock(in_channels, width, first=i == 0))
        self.blocks = nn.Sequential(*blocks)
        self.head = ProjectionHead(width, num_classes, spectral=True)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(self, labels)
        features = F.relu(self.blocks(images)).sum(dim=(2, 3))  # global sum pooling
        return self.head(features, labels)


register_model("resnet", ResNetGenerator, ResNetDiscriminator,
               "SNGAN's ResNet (Miyato et al. 2018): residual up-blocks with BN in G, "
               "spectrally normalised residual down-blocks in D")
register_model("resnet-cond", ResNetGenerator, ResNetDiscriminator,
               "class-conditional SNGAN ResNet: conditional BN in G, projection discriminator", conditional=True)
