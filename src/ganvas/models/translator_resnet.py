"""An image-to-image generator of residual blocks, CycleGAN's own (Zhu et al. 2017, after Johnson et al. 2016),
with the U-Net's PatchGAN discriminator.

G: a 7x7 conv to `width` channels, two stride-2 3x3 convs (2·width, 4·width), `blocks` residual blocks at a
   quarter of the side (3x3 conv, BN, ReLU, 3x3 conv, BN, added to the input), two stride-2 transposed 3x3 convs
   back up, a 7x7 conv to the output, tanh; reflection padding, BN and ReLU between. Unlike the U-Net it has no
   skip from the input's pixels to the output's: every output pixel is drawn from the quarter-side features,
   which is what CycleGAN's paper used for style (the U-Net's skips let a translation keep the input's detail).
   Batch norm uses its running statistics in eval mode, so tiles of a large image agree with the whole away
   from their edges, as the U-Net's do. Takes sides that are a multiple of 4.
"""

from __future__ import annotations

import torch
from torch import nn

from ganvas.models import register_model
from ganvas.models.unet import PatchDiscriminator

DOWNSAMPLINGS = 2


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, padding_mode="reflect", bias=False),
            nn.BatchNorm2d(c_out)]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*_conv(channels, channels, 3), nn.ReLU(), *_conv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetTranslator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 32, blocks: int = 6):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.multiple = 2 ** DOWNSAMPLINGS  # the sides of the images it takes are multiples of this
        layers: list[nn.Module] = [*_conv(in_channels, width, 7), nn.ReLU()]
        for i in range(DOWNSAMPLINGS):
            layers += [*_conv(width * 2 ** i, width * 2 ** (i + 1), 3, stride=2), nn.ReLU()]
        inner = width * 2 ** DOWNSAMPLINGS
        layers += [ResidualBlock(inner) for _ in range(blocks)]
        for i in reversed(range(DOWNSAMPLINGS)):
            layers += [nn.ConvTranspose2d(width * 2 ** (i + 1), width * 2 ** i, 3, stride=2, padding=1,
                                          output_padding=1, bias=False), nn.BatchNorm2d(width * 2 ** i), nn.ReLU()]
        layers += [nn.Conv2d(width, out_channels, 7, padding=3, padding_mode="reflect"), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


register_model("resnet-translator", ResNetTranslator, PatchDiscriminator,
               "image-to-image (CycleGAN's): residual blocks at a quarter of the side between two stride-2 stages, "
               "no skips from input to output pixels; spectral-norm PatchGAN discriminator", kind="image-to-image")
