"""Generating images from a checkpoint alone: no training code, no dataset, no discriminator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganvas.checkpoint import IMAGE_TO_IMAGE, META_FILE, Checkpoint, check_weights_fit, load_checkpoint, resolve_checkpoint
from ganvas.devices import resolve_device
from ganvas.errors import CheckpointError, GanvasError, named
from ganvas.files import atomic_write
from ganvas.images import save_png
from ganvas.latents import balanced_labels, gaussian_latents, truncate
from ganvas.models import build_network, generate_in_batches, is_conditional


def generator_role(checkpoint: Checkpoint) -> str:
    """The network that samples come from: the moving average of G (generator_ema) where the run keeps one."""
    return "generator_ema" if checkpoint.has_weights("generator_ema") else "generator"


def load_generator(target: str | Path, device: str = "cpu") -> tuple[nn.Module, Checkpoint]:
    """The generator of a checkpoint (a checkpoint folder, a run folder's latest, or RUN:NAME), in eval mode.

    Runs that average G's weights sample from the average (generator_ema), which is what they train for.
    The recipe is checked and built on the meta device first, which allocates nothing, and the weights are checked
    against it (and for NaN and Inf): a damaged or hostile checkpoint is refused before any memory goes to it.
    """
    checkpoint = load_checkpoint(resolve_checkpoint(target))
    role = generator_role(checkpoint)
    recipe = checkpoint.networks.get(role)
    if recipe is None or recipe["part"] != "generator":
        use = ("it translates images: use `ganvas enhance` or ganvas.load_translator" if checkpoint.kind ==
               IMAGE_TO_IMAGE else "use a checkpoint of a noise-to-image GAN")
        raise CheckpointError(f"{checkpoint.path} has no generator of images from noise ({checkpoint.kind} "
                              f"checkpoint with {', '.join(checkpoint.networks)}); {use}")
    return build_checked(checkpoint, role, device, label="generator"), checkpoint


def build_checked(checkpoint: Checkpoint, role: str, device: str = "cpu", label: str | None = None) -> nn.Module:
    """The checkpoint's network of `role`, in eval mode on `device`. Its recipe is built on the meta device first,
    which allocates nothing, and the weights are checked against it (and for NaN and Inf), so a damaged or hostile
    checkpoint is refused before any memory goes to it. `label` names the network in errors (default: the role)."""
    recipe = checkpoint.networks[role]
    try:
        with torch.device("meta"):
            skeleton = build_network(recipe)
    except GanvasError as err:
        raise CheckpointError(f"{checkpoint.path}/{META_FILE} has an unusable {role} recipe ({err.args[0]}); "
                              "use another checkpoint") from None
    weights = checkpoint.weights(role)
    check_weights_fit(skeleton, weights, label or role, checkpoint.path)
    network = build_network(recipe)
    network.load_state_dict(weights)
    return network.to(resolve_device(device)).eval()


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
    return _finite(generate_in_batches(generator, z, sample_labels(generator, count, class_index)))


def generate_one_class(generator: nn.Module, z: torch.Tensor, class_index: int | None = None) -> torch.Tensor:
    """Images for the given latents; a conditional generator keeps them all in `class_index` (default 0),
    so that images made from nearby latents look alike."""
    if class_index is None and is_conditional(generator):
        class_index = 0
    return _finite(generate_in_batches(generator, z, sample_labels(generator, len(z), class_index)))


def _finite(images: torch.Tensor) -> torch.Tensor:
    """Finite weights can still make NaN images (weights large enough to overflow, a batch norm's variance below 0):
    those are refused, never written as pictures."""
    if not torch.isfinite(images).all():
        raise CheckpointError("the generator made non-finite images (NaN or Inf): its weights are damaged; "
                              "use another checkpoint")
    return images


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

