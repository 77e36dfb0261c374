"""Image-to-image networks: a U-Net generator and a PatchGAN discriminator (Isola et al. 2017, pix2pix).

Both are fully convolutional, so a trained translator takes images of any size whose sides are a
multiple of 2^depth (ganvas.translation pads and tiles the others).

G: `depth` strided 4x4 convs (width, 2·width, ... up to 8·width channels; LeakyReLU 0.2, BN between),
   then as many 4x4 transposed convs back up (ReLU, BN), each fed the matching encoder features
   (the U-Net's skips), tanh. With residual=True the output is tanh(atanh(0.99·input) + G's last layer),
   the first out_channels of the input corrected rather than redrawn: a new generator starts as
   (almost) the identity, which is what upscaling, inpainting and style transfer mostly keep.
   upsample="resize" doubles the resolution by nearest-neighbour resizing then a 3x3 conv instead of a transposed
   conv, whose uneven overlap paints a checkerboard pattern (Odena et al. 2016, "Deconvolution and Checkerboard
   Artifacts"); it costs 2.25x the decoder's multiply-adds.
   With dropout > 0 the inner decoder stages (all but the last two) drop features while training, as
   pix2pix's G does (its only noise); eval mode keeps them all. Batch norm uses its running statistics in eval mode, so what G makes of a pixel depends only on
   the pixels within its receptive field: tiles of a large image agree with the whole away from their edges.
D: PatchGAN: `layers` strided 4x4 convs (width, 2·width, ...; LeakyReLU 0.2), then a 3x3 conv to one logit
   per patch (a logit map, 1/2^layers of the image's side), spectral norm on every layer by default.
"""

from __future__ import annotations

import torch
from torch import nn

from ganvas.models import register_model
from ganvas.models.layers import maybe_spectral_norm

MAX_WIDTH_FACTOR = 8  # encoder channels stop growing at 8 x width, as in pix2pix
# The decoder's ways to double the resolution: (in channels, out channels, bias) -> layers.
UPSAMPLERS = {
    "transposed": lambda c_in, c_out, bias: [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias)],
    "resize": lambda c_in, c_out, bias: [nn.Upsample(scale_factor=2, mode="nearest"),
                                         nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)],
}


class UNetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 32, depth: int = 4,
                 residual: bool = False, dropout: float = 0.0, upsample: str = "transposed"):
        super().__init__()
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.residual = residual and in_channels >= out_channels
        self.multiple = 2 ** depth  # the sides of the images it takes are multiples of this
        channels = [width * min(2 ** i, MAX_WIDTH_FACTOR) for i in range(depth)]
        self.down = nn.ModuleList()
        previous = in_channels
        for i, c in enumerate(channels):
            normed = 0 < i < depth - 1
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(previous, c, 4, stride=2, padding=1, bias=not normed))
            if normed:
                layers.append(nn.BatchNorm2d(c))
            self.down.append(nn.Sequential(*layers))
            previous = c
        if upsample not in UPSAMPLERS:
            raise ValueError(f"upsample is one of {', '.join(UPSAMPLERS)}, not {upsample!r}")
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            c_in = channels[i] * (1 if i == depth - 1 else 2)
            c_out = channels[i - 1] if i > 0 else out_channels
            layers = [nn.ReLU(), *UPSAMPLERS[upsample](c_in, c_out, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            if dropout and i > 1:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        if self.residual:  # start as the identity: the last layer's correction begins at zero
            last = [m for m in self.up[-1] if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for stage in self.down:
            h = stage(h)
            skips.append(h)
        h = self.up[0](skips[-1])
        for stage, skip in zip(self.up[1:], reversed(skips[:-1])):
            h = stage(torch.cat([h, skip], dim=1))
        if self.residual:
            return torch.tanh(torch.atanh(0.99 * x[:, :self.out_channels]) + h)
        return torch.tanh(h)


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 6, width: int = 32, layers: int = 3, spectral_norm: bool = True):
        super().__init__()
        modules: list[nn.Module] = []
        previous = in_channels
        for i in range(layers):
            c = width * min(2 ** i, MAX_WIDTH_FACTOR)
            modules += [maybe_spectral_norm(nn.Conv2d(previous, c, 4, stride=2, padding=1), spectral_norm),
                        nn.LeakyReLU(0.2)]
            previous = c
        modules.append(maybe_spectral_norm(nn.Conv2d(previous, 1, 3, padding=1), spectral_norm))
        self.net = nn.Sequential(*modules)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).squeeze(1)  # (N, H / 2^layers, W / 2^layers): one logit per patch


register_model("unet", UNetGenerator, PatchDiscriminator,
               "image-to-image (pix2pix, CycleGAN): U-Net generator with skips (optionally residual), "
               "spectral-norm PatchGAN discriminator with a logit per patch", kind="image-to-image")
