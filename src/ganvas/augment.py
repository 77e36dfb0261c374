"""DiffAugment (Zhao et al. 2020): random, differentiable augmentations applied to every image D sees.

The trainer augments real and generated images alike, in the D step and in the G step, so D never
sees an unaugmented image and G gets its gradient through the augmentation. Everything here is a
pure function of the images and a torch.Generator, with no in-place writes to anything that needs
a gradient, and vectorised over the batch.

Images are floats in [-1, 1], shape (N, C, H, W). Scales follow the paper's reference code, which
applies DiffAugment to [-1, 1] images (see docs/augment.md):

- "color": per sample, add a brightness shift U(-0.5, 0.5) (at most a quarter of the black-to-white
  range either way), scale saturation by U(0, 2) and contrast by U(0.5, 1.5). Only the colour
  channels change: alpha (channel 2 of 2 or 4 of 4) is left alone; greyscale has no saturation.
- "translation": per sample, shift by up to 1/8 of the height and of the width (whole pixels).
- "cutout": per sample, fill a patch of half the height and width (a square for square images),
  centred anywhere in the image, so it may be clipped at the borders.
- "flip" (not in the paper; ADA's x-flip): per sample, mirror left to right with probability 1/2.

Shifted-in borders and cut-out patches get FILL = -1 (black, and transparent in RGBA), where the
paper's 0 is mid-grey: our datasets have black backgrounds, so augmented images look like more
background instead of showing grey frames and squares that never occur in the data. Outputs are
not clamped (clamping would cut the gradient), so "color" can leave [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ganvas.errors import GanvasError
from ganvas.noise import SampleNoise, sample_noise

Tensor = torch.Tensor

FILL = -1.0
BRIGHTNESS_SHIFT = 0.5  # in [-1, 1] units, as in the reference code
COLOUR_CHANNELS = {1: 1, 2: 1, 3: 3, 4: 3}  # grey, grey + alpha, RGB, RGBA


def _per_sample_uniform(images: Tensor, low: float, high: float, noise: SampleNoise) -> Tensor:
    """One U(low, high) draw per sample, shaped (N, 1, 1, 1) to broadcast over the image."""
    draws = noise.rand((images.shape[0], 1, 1, 1), device=images.device, dtype=images.dtype)
    return low + (high - low) * draws


def _per_sample_integers(count: int, low: int, high: int, noise: SampleNoise, device: torch.device) -> Tensor:
    """One integer in [low, high] (both inclusive) per sample, shaped (N, 1)."""
    return noise.randint(low, high + 1, (count, 1), device=device)


def _color(images: Tensor, generator: SampleNoise) -> Tensor:
    channels = images.shape[1]
    if channels not in COLOUR_CHANNELS:
        raise ValueError(f"colour augmentation needs 1 to 4 channels (grey, RGB, with alpha), not {channels}")
    colour, alpha = images.split([COLOUR_CHANNELS[channels], channels - COLOUR_CHANNELS[channels]], dim=1)
    colour = colour + _per_sample_uniform(images, -BRIGHTNESS_SHIFT, BRIGHTNESS_SHIFT, generator)
    if colour.shape[1] > 1:  # saturation means nothing to a greyscale image
        grey = colour.mean(dim=1, keepdim=True)
        colour = grey + (colour - grey) * _per_sample_uniform(images, 0.0, 2.0, generator)
    average = colour.mean(dim=(1, 2, 3), keepdim=True)
    colour = average + (colour - average) * _per_sample_uniform(images, 0.5, 1.5, generator)
    return torch.cat([colour, alpha], dim=1) if alpha.shape[1] else colour


def _translation(images: Tensor, generator: SampleNoise) -> Tensor:
    count, channels, height, width = images.shape
    # Sources outside the image are clamped onto a one-pixel border of FILL padded around it,
    # so one gather both shifts and fills.
    padded = F.pad(images, (1, 1, 1, 1), value=FILL)
    rows, columns = (_shifted_sources(size, count, generator, images.device) for size in (height, width))
    index = rows[:, :, None] * (width + 2) + columns[:, None, :]  # (N, H, W) into the flattened padded image
    return padded.flatten(2).gather(2, index.view(count, 1, -1).expand(-1, channels, -1)).view_as(images)


def _shifted_sources(size: int, count: int, generator: SampleNoise, device: torch.device) -> Tensor:
    """(N, size): the padded-axis index each output index reads, i - shift, with shift in [-size/8, size/8]."""
    shift = _per_sample_integers(count, -(size // 8), size // 8, generator, device)
    return (torch.arange(size, device=device) - shift).clamp(-1, size) + 1


def _cutout(images: Tensor, generator: SampleNoise) -> Tensor:
    count, _, height, width = images.shape
    rows, columns = (_patch_cover(size, count, generator, images.device) for size in (height, width))
    return images.masked_fill(rows[:, None, :, None] & columns[:, None, None, :], FILL)


def _patch_cover(size: int, count: int, generator: SampleNoise, device: torch.device) -> Tensor:
    """(N, size): the indices a patch of half the size covers. Its centre is uniform over the axis,
    so at least half of the patch always lies inside the image."""
    side = size // 2
    start = _per_sample_integers(count, -(side // 2), size - (side + 1) // 2, generator, device)
    position = torch.arange(size, device=device)
    return (position >= start) & (position < start + side)


def _flip(images: Tensor, generator: SampleNoise) -> Tensor:
    mirrored = generator.rand((images.shape[0], 1, 1, 1), device=images.device) < 0.5
    return torch.where(mirrored, images.flip(3), images)


AUGMENTATIONS: dict[str, Callable[[Tensor, SampleNoise], Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
    "flip": _flip,
}


def _checked(names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if name not in AUGMENTATIONS:
            raise GanvasError(f"unknown augmentation {name!r}: use a comma-separated list of "
                              f"{', '.join(AUGMENTATIONS)} (e.g. 'color,translation,cutout'), or 'none'")
    return names


def parse_policy(text: str) -> tuple[str, ...]:
    """'translation,cutout,color' -> ('translation', 'cutout', 'color'); '' or 'none' -> ()."""
    if text.strip().lower() in ("", "none"):
        return ()
    return _checked(tuple(name.strip() for name in text.split(",")))


def augment(images: Tensor, policy: tuple[str, ...] | str, generator: SampleNoise | torch.Generator | None,
            probability: Tensor | float | None = None) -> Tensor:
    """Apply the policy's augmentations in order, each with fresh per-sample randomness.

    Random numbers come from `generator` (which must live on the images' device; None means the global RNG; a
    SampleNoise when the batch is one shard of a larger one), so a run that checkpoints its generator's state stays
    reproducible. An empty policy returns `images` itself.

    With a `probability` p (ADA, Karras et al. 2020: a 0-d tensor the trainer adapts, or a number), each
    augmentation is applied to each sample with probability p and skipped otherwise, decided per sample and per
    augmentation; None applies every augmentation to every sample, as DiffAugment does. The same random numbers
    are drawn whatever p is, so changing p never shifts the draws that follow.
    """
    noise = sample_noise(generator)
    for name in parse_policy(policy) if isinstance(policy, str) else _checked(tuple(policy)):
        augmented = AUGMENTATIONS[name](images, noise)
        if probability is None:
            images = augmented
        else:
            chosen = noise.rand((images.shape[0], 1, 1, 1), device=images.device) < probability
            images = torch.where(chosen, augmented, images)
    return images
