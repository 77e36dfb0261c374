"""Generating images from a checkpoint alone: no training code, no dataset, no discriminator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganvas.checkpoint import Checkpoint, load_checkpoint, load_weights_into, resolve_checkpoint
from ganvas.devices import resolve_device
from ganvas.images import make_grid, save_png, to_pil
from ganvas.latents import gaussian_latents
from ganvas.models import build_generator


def load_generator(target: str | Path, device: str = "cpu") -> tuple[nn.Module, Checkpoint]:
    """The generator of a checkpoint (a checkpoint folder, a run folder's latest, or RUN:NAME), in eval mode.

    Runs that average G's weights sample from the average (generator_ema), which is what they train for.
    """
    checkpoint = load_checkpoint(resolve_checkpoint(target))
    recipe = checkpoint.model
    generator = build_generator(recipe["name"], **recipe["generator"])
    network = "generator_ema" if checkpoint.has_weights("generator_ema") else "generator"
    load_weights_into(generator, checkpoint.weights(network), "generator", checkpoint.path)
    return generator.to(resolve_device(device)).eval(), checkpoint


@torch.no_grad()
def generate(generator: nn.Module, count: int, seed: int, batch_size: int = 256) -> torch.Tensor:
    """`count` images in [-1, 1] on the CPU; the same seed always gives the same images."""
    z = gaussian_latents(count, generator.z_dim, seed)
    device = next(generator.parameters()).device
    return torch.cat([generator(chunk.to(device)).cpu() for chunk in z.split(batch_size)])


def write_grid(pixels: np.ndarray, path: Path) -> None:
    save_png(make_grid(pixels), path, scale=2 if pixels.shape[2] < 64 else 1)


def write_images(pixels: np.ndarray, directory: Path) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    width = len(str(len(pixels) - 1))
    for index, image in enumerate(pixels):
        to_pil(image).save(directory / f"{index:0{width}d}.png")


def write_array(pixels: np.ndarray, path: Path) -> None:
    """uint8, (N, H, W) for greyscale and (N, H, W, C) for colour, as numpy's .npy."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, pixels)

