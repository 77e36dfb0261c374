"""Train the MNIST evaluator behind ganvas.metrics and write src/ganvas/assets/mnist_evaluator.safetensors.

    PYTHONPATH=src python scripts/train_evaluator.py [--data-dir DIR] [--epochs N]

Reads the MNIST IDX files in --data-dir (never downloads). With the train
split there (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz) it trains
on its 60,000 images and holds out the 10,000 test images; with only the test
split it trains on the first 8,000 test images and holds out the last 2,000.
Takes 2-7 minutes on 2 CPU cores, depending on load; the weights are the same
on every run on a given machine.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganvas import __version__
from ganvas.data import load_dataset, to_model_range
from ganvas.errors import DataError
from ganvas.metrics.evaluator import MnistEvaluator, load_evaluator, save_evaluator

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_SPLIT_TRAIN_SIZE = 8_000
MIN_ACCURACY = 0.98  # the metrics assume the evaluator recognises digits at least this well
# Images seen in training when --epochs is not given: ~15 epochs of 8k, 2 of 60k.
DEFAULT_TRAINING_IMAGES = 120_000

LabelledImages = tuple[torch.Tensor, torch.Tensor]  # floats in [-1, 1] (N, 1, 28, 28), int64 labels (N,)


def load_splits(data_dir: Path) -> tuple[LabelledImages, LabelledImages, str]:
    """Training set, held-out set and a description of the split."""
    test = load_dataset("mnist", "test", data_dir)
    try:
        train = load_dataset("mnist", "train", data_dir)
    except DataError as missing:
        print(f"no usable train split, so the test split is divided instead ({missing})")
        images, labels, n = to_model_range(test.images), test.labels, TEST_SPLIT_TRAIN_SIZE
        return (images[:n], labels[:n]), (images[n:], labels[n:]), f"train: test[:{n}] / held out: test[{n}:]"
    return ((to_model_range(train.images), train.labels), (to_model_range(test.images), test.labels),
            "train 60k / held out: test 10k")


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotate up to 10 degrees, scale by 0.9-1.1 and shift up to 2 pixels, each image independently."""
    n = len(images)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(10)
    scale = 0.9 + torch.rand(n, generator=generator) * 0.2
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / 14)  # 14 px is 1.0 in grid coordinates
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # Resample in [0, 2] so the zero padding grid_sample adds is background (-1 after shifting back).
    return F.grid_sample(images + 1, grid, align_corners=False) - 1


def train(model: MnistEvaluator, images: torch.Tensor, labels: torch.Tensor, epochs: int, batch_size: int,
          seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        model.train()
        started, total_loss = time.time(), 0.0
        for batch in torch.randperm(len(images), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(random_affine(images[batch], generator)), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
        print(f"epoch {epoch + 1}/{epochs}: loss {total_loss / len(images):.4f} ({time.time() - started:.0f} s)")


def accuracy(model: MnistEvaluator, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((model.embed(images).probs.argmax(axis=1) == labels.numpy()).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "src/ganvas/assets/mnist_evaluator.safetensors")
    parser.add_argument("--epochs", type=int, help=f"default: enough for ~{DEFAULT_TRAINING_IMAGES:,} training images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    (train_images, train_labels), (heldout_images, heldout_labels), split = load_splits(args.data_dir)
    epochs = args.epochs or max(2, round(DEFAULT_TRAINING_IMAGES / len(train_images)))
    print(f"{split}: {len(train_images)} training images, {len(heldout_images)} held out, {epochs} epochs")

    torch.manual_seed(args.seed)
    model = MnistEvaluator()
    train(model, train_images, train_labels, epochs, args.batch_size, args.seed)

    info = {"split": split, "train_images": len(train_images), "heldout_images": len(heldout_images),
            "epochs": epochs, "batch_size": args.batch_size, "seed": args.seed, "ganvas_version": __version__,
            "torch_version": torch.__version__}
    # Measure the weights exactly as shipped (fp16), then record the result next to them.
    save_evaluator(model, args.out, info)
    shipped = load_evaluator(weights=args.out)
    info["heldout_accuracy"] = round(accuracy(shipped, heldout_images, heldout_labels), 4)
    save_evaluator(shipped, args.out, info)
    size_mb = args.out.stat().st_size / 1e6
    print(f"held-out accuracy {info['heldout_accuracy']:.2%}; wrote {args.out} ({size_mb:.2f} MB)")
    if info["heldout_accuracy"] < MIN_ACCURACY:
        raise SystemExit(f"held-out accuracy is below {MIN_ACCURACY:.0%}: do not ship these weights "
                         f"(git checkout the previous {args.out.name})")


if __name__ == "__main__":
    main()
