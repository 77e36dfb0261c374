"""A small MNIST classifier whose features and probabilities feed the sample-quality metrics.

It plays the part Inception-v3 plays for FID on photographs, but is trained on
MNIST and ships with the package (``ganvas/assets/mnist_evaluator.safetensors``,
stored as fp16), so evaluating needs no download. scripts/train_evaluator.py
rebuilds the weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save
from torch import nn

from ganvas.errors import GanvasError
from ganvas.files import atomic_write_bytes, atomic_write_text
from ganvas.metrics.stats import Embedding

FEATURE_DIM = 128
NUM_CLASSES = 10
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "assets" / "mnist_evaluator.safetensors"


def _conv_block(fan_in: int, fan_out: int) -> list[nn.Module]:
    return [nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=False), nn.BatchNorm2d(fan_out), nn.ReLU()]


class MnistEvaluator(nn.Module):
    """conv32-conv32-pool-conv64-conv64-pool-fc128 (the features)-fc10, for 1x28x28 images in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(1, 32), *_conv_block(32, 32), nn.MaxPool2d(2),
            *_conv_block(32, 64), *_conv_block(64, 64), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, FEATURE_DIM, bias=False), nn.BatchNorm1d(FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, NUM_CLASSES))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, (N, FEATURE_DIM)."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits, (N, NUM_CLASSES)."""
        return self.head(self.features(images))

    @torch.no_grad()
    def embed(self, images: torch.Tensor | np.ndarray, batch_size: int = 500) -> Embedding:
        """Features and class probabilities (float64 numpy) of images in [-1, 1], (N, 28, 28) or (N, 1, 28, 28).

        Puts the model in eval mode (BatchNorm running statistics, no dropout).
        """
        images = _check_images(images)
        self.eval()
        device = next(self.parameters()).device
        features, probs = [], []
        for batch in images.split(batch_size):
            batch_features = self.features(batch.to(device))
            features.append(batch_features.double().cpu())
            probs.append(self.head(batch_features).softmax(dim=1).double().cpu())
        return Embedding(torch.cat(features).numpy(), torch.cat(probs).numpy())


def _check_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.shape[1:] != (1, 28, 28) or len(images) == 0:
        raise GanvasError(f"the MNIST evaluator needs greyscale 28x28 images, got a batch shaped {tuple(images.shape)}")
    # A little slack for rounding; a range like [0, 255] means the caller forgot to rescale.
    if images.min() < -1.01 or images.max() > 1.01:
        raise GanvasError(f"the MNIST evaluator needs pixels in [-1, 1], got [{images.min():.3g}, {images.max():.3g}]")
    return images


def save_evaluator(model: MnistEvaluator, path: Path, info: dict) -> None:
    """Write fp16 weights with ``info`` as safetensors metadata, and the same ``info`` as JSON beside them."""
    tensors = {name: (value.half() if value.is_floating_point() else value).contiguous().cpu()
               for name, value in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={key: str(value) for key, value in info.items()}))
    atomic_write_text(path.with_suffix(".json"), json.dumps(info, indent=2) + "\n")


def load_evaluator(device: str | torch.device = "cpu", weights: str | Path = DEFAULT_WEIGHTS) -> MnistEvaluator:
    """The evaluator with the shipped weights (or ``weights``), in eval mode, on ``device``."""
    weights = Path(weights)
    if not weights.is_file():
        raise GanvasError(f"evaluator weights {weights} are missing; rebuild them with scripts/train_evaluator.py")
    model = MnistEvaluator()
    # Floats are stored as fp16; load_state_dict copies them into the model's fp32 tensors.
    model.load_state_dict(load_file(str(weights)))
    return model.to(device).eval()
