"""Generating images from a checkpoint alone: no training code, no dataset, no discriminator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganvas.checkpoint import Checkpoint, load_checkpoint, load_weights_into, resolve_checkpoint
from ganvas.devices import resolve_device
from ganvas.errors import CheckpointError, GanvasError, named
from ganvas.files import atomic_write
from ganvas.images import save_png
from ganvas.latents import balanced_labels, gaussian_latents, truncate
from ganvas.models import build_network, generate_in_batches, is_conditional


def load_generator(target: str | Path, device: str = "cpu") -> tuple[nn.Module, Checkpoint]:
    """The generator of a checkpoint (a checkpoint folder, a run folder's latest, or RUN:NAME), in eval mode.

    Runs that average G's weights sample from the average (generator_ema), which is what they train for.
    """
    checkpoint = load_checkpoint(resolve_checkpoint(target))
    role = "generator_ema" if checkpoint.has_weights("generator_ema") else "generator"
    if role not in checkpoint.networks:
        raise CheckpointError(f"{checkpoint.path} has no generator ({checkpoint.kind} checkpoint with "
                              f"{', '.join(checkpoint.networks)}); use a checkpoint of a noise-to-image GAN")
    generator = build_network(checkpoint.networks[role])
    load_weights_into(generator, checkpoint.weights(role), "generator", checkpoint.path)
    return generator.to(resolve_device(device)).eval(), checkpoint


def sample_labels(generator: nn.Module, count: int, class_index: int | None = None) -> torch.Tensor | None:
    """Labels for a conditional generator: all `class_index`, or every class in turn (sorted runs); None otherwise."""
    if not is_conditional(generator):
        if class_index is not None:
            raise GanvasError(f"this generator is unconditional: {named('class_')} needs a model trained with labels "
                              "(a -cond model)")
        return None
    if class_index is None:
        return balanced_labels(count, generator.num_classes)
    if not 0 <= class_index < generator.num_classes:
        raise GanvasError(f"{named('class_')} must be from 0 to {generator.num_classes - 1}, got {class_index}")
    return torch.full((count,), class_index)


def generate(generator: nn.Module, count: int, seed: int, class_index: int | None = None,
             truncation: float = 1.0) -> torch.Tensor:
    """`count` images in [-1, 1] on the CPU; the same seed (and class) always gives the same images.

    A conditional generator makes `class_index` only, or all classes in turn. truncation < 1 pulls the
    latents toward the mean (latents.truncate).
    """
    z = truncate(gaussian_latents(count, generator.z_dim, seed), truncation)
    return generate_in_batches(generator, z, sample_labels(generator, count, class_index))


def generate_one_class(generator: nn.Module, z: torch.Tensor, class_index: int | None = None) -> torch.Tensor:
    """Images for the given latents; a conditional generator keeps them all in `class_index` (default 0),
    so that images made from nearby latents look alike."""
    if class_index is None and is_conditional(generator):
        class_index = 0
    return generate_in_batches(generator, z, sample_labels(generator, len(z), class_index))


def write_images(pixels: np.ndarray, directory: Path) -> list[Path]:
    """One PNG per image, numbered from 0 (zero-padded so they sort), in `directory`."""
    width = len(str(len(pixels) - 1))
    paths = [Path(directory) / f"{index:0{width}d}.png" for index in range(len(pixels))]
    for image, path in zip(pixels, paths):
        save_png(image, path)
    return paths


def write_array(pixels: np.ndarray, path: Path) -> None:
    """uint8, (N, H, W) for greyscale and (N, H, W, C) for colour, as numpy's .npy."""
    with atomic_write(path) as out:
        np.save(out, pixels)

