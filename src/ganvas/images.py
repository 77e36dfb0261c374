"""Turning generator output (floats in [-1, 1], N x C x H x W) into pictures."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganvas.files import atomic_write_bytes

def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] floats (N, C, H, W) -> uint8 (N, H, W) for greyscale or (N, H, W, C) for colour."""
    pixels = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).numpy()
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def to_pil(pixels: np.ndarray) -> Image.Image:
    """One uint8 image: (H, W) is greyscale, (H, W, 3) RGB, (H, W, 4) RGBA."""
    return Image.fromarray(np.ascontiguousarray(pixels))


def make_grid(pixels: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile N uint8 images into one picture, `columns` wide (default: as square as possible)."""
    count, height, width = pixels.shape[:3]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding, *pixels.shape[3:]),
                    dtype=np.uint8)
    for index, image in enumerate(pixels):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def save_png(pixels: np.ndarray, path: Path, scale: int = 1) -> None:
    """Write atomically, so a half-written PNG never replaces a good one."""
    atomic_write_bytes(path, png_bytes(pixels, scale))


def png_bytes(pixels: np.ndarray, scale: int = 1) -> bytes:
    """One uint8 image (or grid) encoded as PNG, for notebooks and web pages."""
    image = to_pil(pixels)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def display_scale(pixels: np.ndarray) -> int:
    """Nearest-neighbour upscaling for viewing: small images (under 64 px wide) are shown twice as large."""
    return 2 if pixels.shape[2] < 64 else 1


def write_grid(pixels: np.ndarray, path: Path, columns: int | None = None) -> None:
    """A grid PNG of uint8 images (N, H, W[, C]), enlarged for viewing when they are small."""
    save_png(make_grid(pixels, columns), path, scale=display_scale(pixels))


def visible(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as they are seen, in [0, 1]: with an alpha channel (grey + alpha or RGBA) the colour is
    premultiplied by alpha, so the colour of invisible pixels does not count."""
    seen = (images.float() + 1) / 2
    if images.shape[1] in (2, 4):
        alpha = seen[:, -1:]
        seen = torch.cat([seen[:, :-1] * alpha, alpha], dim=1)
    return seen
