"""Fully convolutional networks on images of any size: padded to the network's multiple, and large images cut into
overlapping tiles whose outputs are blended with weights that ramp down toward each tile's inner edges, so no seam
shows. Tiles start at multiples of the network's multiple, so each sees the image's pixels on the same grid as a
whole-image pass: away from the tiles' edges (beyond the network's receptive field) the result is the same."""

from __future__ import annotations

from itertools import product
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganvas.errors import GanvasError, named

TILE = 256
OVERLAP = 64


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _ramp(length: int, overlap: int, before: bool, after: bool) -> torch.Tensor:
    """A tile's blending weight along one axis: rising over `overlap` pixels from each side with a neighbour."""
    position = torch.arange(length, dtype=torch.float32)
    weight = torch.ones(length)
    if before:
        weight = torch.minimum(weight, (position + 0.5) / overlap)
    if after:
        weight = torch.minimum(weight, (length - position - 0.5) / overlap)
    return weight


def check_tile_options(multiple: int, tile: int, overlap: int) -> None:
    """A GanvasError if tiles of `tile` overlapping by `overlap` pixels do not suit a network taking multiples of
    `multiple`, whatever the image."""
    if tile % multiple or overlap % multiple or not 0 < overlap < tile:
        raise GanvasError(f"{named('tile')} and {named('overlap')} must be multiples of {multiple}, the overlap "
                          "smaller than the tile")


def check_tiling(image: torch.Tensor, multiple: int, tile: int = TILE, overlap: int = OVERLAP) -> None:
    """A GanvasError saying why apply_tiled cannot take `image` (1, C, H, W) with these tiles, if it cannot."""
    check_tile_options(multiple, tile, overlap)
    height, width = image.shape[-2:]
    if min(height, width) < multiple:
        raise GanvasError(f"an image of {width}x{height} pixels is smaller than this model's smallest input, "
                          f"{multiple}x{multiple}")


@torch.no_grad()
def apply_tiled(network: nn.Module, image: torch.Tensor, multiple: int, tile: int = TILE, overlap: int = OVERLAP,
                on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """network(image) for one image (1, C, H, W) of any size at least `multiple` on each side, on the CPU.

    on_step(done, total) is called after each tile (once, (1, 1), for an image that fits in one), for a progress
    bar; an exception it raises stops the work there, before the next tile, and propagates: nothing is returned."""
    check_tiling(image, multiple, tile, overlap)
    _, _, height, width = image.shape
    device = next(network.parameters()).device
    padded_h, padded_w = (-(-side // multiple) * multiple for side in (height, width))
    padded = F.pad(image, (0, padded_w - width, 0, padded_h - height), mode="replicate")
    if padded_h <= tile and padded_w <= tile:
        out = network(padded.to(device)).float().cpu()[..., :height, :width]
        if on_step is not None:
            on_step(1, 1)
        return out
    rows, columns = _starts(padded_h, tile, tile - overlap), _starts(padded_w, tile, tile - overlap)
    summed = weights = None
    for done, (top, left) in enumerate(product(rows, columns), 1):
        piece = padded[..., top:top + tile, left:left + tile]
        out = network(piece.to(device)).float().cpu()
        if summed is None:
            summed = torch.zeros(1, out.shape[1], padded_h, padded_w)
            weights = torch.zeros(1, 1, padded_h, padded_w)
        h, w = out.shape[-2:]
        weight = (_ramp(h, overlap, top > 0, top + h < padded_h)[:, None]
                  * _ramp(w, overlap, left > 0, left + w < padded_w)[None, :])
        summed[..., top:top + h, left:left + w] += out * weight
        weights[..., top:top + h, left:left + w] += weight
        if on_step is not None:
            on_step(done, len(rows) * len(columns))
    return (summed / weights)[..., :height, :width]
