"""A lightweight GAN for small data sets, after FastGAN (Liu et al. 2021), unconditional.

For an image side of base · 2^k (`plan_resolutions`) and width w, a feature map k-i octaves
below the output side has w · 2^(k-i) channels, at most 16·w (FastGAN's channel table, read
from the output down: with w 32 it matches FastGAN's 256-px generator at its top layers).
G: z -> transposed conv (base × base kernel), BN, GLU -> base × base; k up-blocks (nearest 2×
   upsample, conv3×3, BN, GLU); each map from the second up-block on is gated channel-wise
   by skip-layer excitation (SLE) from the map two blocks (4×) smaller; conv3×3 to the
   image's channels, tanh.
D: k strided convs (4×4, stride 2), LeakyReLU(0.2), BN on all but the first, spectral norm
   on every layer; linear -> 1 logit. A small decoder (up-blocks) reconstructs a downscaled
   real image from the last feature map: `auxiliary_loss`, FastGAN's self-supervision of D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganvas.models import register_model
from ganvas.models.layers import ProjectionHead, maybe_spectral_norm, plan_resolutions

MAX_CHANNEL_FACTOR = 16  # FastGAN's channel table tops out at 16 × its base width
SLE_SPAN = 2  # SLE gates a map with one 2^SLE_SPAN times smaller (8 -> 32, 16 -> 64, ...)
DECODER_BLOCKS = 2  # the decoder upsamples D's last map 4× (at most to half the image side)


def channels(width: int, octaves_below_output: int) -> int:
    return width * min(2 ** octaves_below_output, MAX_CHANNEL_FACTOR)


class UpBlock(nn.Sequential):
    """FastGAN's up-block: nearest 2× upsample, conv3×3 to 2·out channels, BN, GLU (which halves them).

    No conv bias: BN removes it.
    """

    def __init__(self, in_channels: int, out_channels: int, spectral: bool = False):
        conv = nn.Conv2d(in_channels, 2 * out_channels, 3, padding=1, bias=False)
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), maybe_spectral_norm(conv, spectral),
                         nn.BatchNorm2d(2 * out_channels), nn.GLU(dim=1))


class SkipLayerExcitation(nn.Module):
    """Channel gates for a large map computed from a small one: pool to 4×4, conv4×4 -> 1×1, LeakyReLU,
    conv1×1, sigmoid. Lets coarse structure steer fine features at the cost of a few 1×1 maps."""

    def __init__(self, small_channels: int, large_channels: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(small_channels, large_channels, 4),
                                  nn.LeakyReLU(0.1), nn.Conv2d(large_channels, large_channels, 1), nn.Sigmoid())

    def forward(self, small: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
        return large * self.gate(small)


class LightweightGenerator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (3, 64, 64), z_dim: int = 100, width: int = 32):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.z_dim = z_dim
        base, stages = plan_resolutions(self.image_shape)
        sizes = [channels(width, stages - i) for i in range(stages + 1)]  # base map first, output side last
        self.initial = nn.Sequential(nn.ConvTranspose2d(z_dim, 2 * sizes[0], base, bias=False),
                                     nn.BatchNorm2d(2 * sizes[0]), nn.GLU(dim=1))
        self.blocks = nn.ModuleList(UpBlock(c_in, c_out) for c_in, c_out in zip(sizes, sizes[1:]))
        # excitations[j] gates map j + SLE_SPAN with map j (map 0 is the base map).
        self.excitations = nn.ModuleList(SkipLayerExcitation(small, large)
                                         for small, large in zip(sizes, sizes[SLE_SPAN:]))
        self.to_image = nn.Conv2d(sizes[-1], self.image_shape[0], 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        maps = [self.initial(z[:, :, None, None])]
        for i, block in enumerate(self.blocks, start=1):
            x = block(maps[-1])
            if i >= SLE_SPAN:
                x = self.excitations[i - SLE_SPAN](maps[i - SLE_SPAN], x)
            maps.append(x)
        return torch.tanh(self.to_image(maps[-1]))


def _down_block(in_channels: int, out_channels: int, batch_norm: bool) -> list[nn.Module]:
    conv = nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)
    norm = [nn.BatchNorm2d(out_channels)] if batch_norm else []
    return [maybe_spectral_norm(conv), *norm, nn.LeakyReLU(0.2)]


class LightweightDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int] = (3, 64, 64), width: int = 32):
        super().__init__()
        base, stages = plan_resolutions(image_shape)
        sizes = [image_shape[0]] + [channels(width, i) for i in range(1, stages + 1)]
        # BN on all but the first block: the image needs no normalising.
        self.trunk = nn.Sequential(*(layer for i, (c_in, c_out) in enumerate(zip(sizes, sizes[1:]))
                                     for layer in _down_block(c_in, c_out, batch_norm=i > 0)))
        self.head = ProjectionHead(sizes[-1] * base * base, spectral=True)
        # With a single stage the last map is already half the image side: then the decoder only projects.
        decoder_blocks = min(DECODER_BLOCKS, stages - 1)
        decoder_sizes = [sizes[-1]] + [width] * decoder_blocks
        self.decoder = nn.Sequential(
            *(UpBlock(c_in, c_out, spectral=True) for c_in, c_out in zip(decoder_sizes, decoder_sizes[1:])),
            maybe_spectral_norm(nn.Conv2d(decoder_sizes[-1], image_shape[0], 3, padding=1)), nn.Tanh())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images).flatten(1))

    def auxiliary_loss(self, real_images: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the decoder's reconstruction of the real images, downscaled to its size.

        FastGAN's self-supervision: D's features must describe the image, not only tell real from fake,
        which keeps D from overfitting a small data set. (FastGAN uses a perceptual loss; this uses pixels.)
        """
        reconstruction = self.decoder(self.trunk(real_images)).float()
        target = F.interpolate(real_images.float(), size=reconstruction.shape[-2:], mode="area")
        return F.mse_loss(reconstruction, target)


register_model("lightweight", LightweightGenerator, LightweightDiscriminator,
               "FastGAN-style small-data GAN (Liu et al. 2021): GLU up-blocks with skip-layer excitation in G; "
               "spectral-norm D with BN and a self-supervised reconstruction decoder")
