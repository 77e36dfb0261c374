"""Held-out images: N images of a run's data set kept out of training (the `holdout` option).

They are chosen by the run's seed alone, so every reader of the run (the trainer, `ganvas evaluate`,
`ganvas project --holdout`) finds the same ones without reading anything, and the trainer records
them in the run folder as `holdout.json`, for people and other tools:

    {"format": "ganvas-holdout", "version": 1, "seed": 0, "count": 1000, "of": 10000,
     "dataset": "mnist", "indices": [3, 17, ...]}

`indices` are positions in the full data set as ganvas loads it (a named dataset's split, or a
folder's readable images in sorted name order), in increasing order.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganvas.errors import DataError, named
from ganvas.files import atomic_write_text

if TYPE_CHECKING:
    from ganvas.data import ImageDataset

HOLDOUT_FILE = "holdout.json"
FORMAT = "ganvas-holdout"
VERSION = 1
_STREAM = 0x401D  # keeps the held-out choice independent of every other use of the seed


def holdout_indices(total: int, count: int, seed: int) -> np.ndarray:
    """`count` of `total` positions, chosen by `seed` (NumPy's PCG64, stable across versions), in increasing order."""
    if count < 0:
        raise DataError(f"{named('holdout')} must be 0 (none) or a positive number of images, got {count}")
    if count and count >= total:
        raise DataError(f"{named('holdout')} {count} leaves nothing to train on: the data set has {total} images; "
                        "hold out fewer")
    rng = np.random.default_rng([seed, _STREAM])
    return np.sort(rng.choice(total, size=count, replace=False)).astype(np.int64)


def split_holdout(dataset: "ImageDataset", count: int, seed: int) -> tuple["ImageDataset", "ImageDataset | None"]:
    """(the images to train on, the held-out ones), or (dataset, None) when count is 0."""
    if not count:
        return dataset, None
    held = holdout_indices(len(dataset), count, seed)
    keep = np.setdiff1d(np.arange(len(dataset)), held)
    return _subset(dataset, keep, held, "training"), _subset(dataset, held, held, "held-out")


def _subset(dataset: "ImageDataset", indices: np.ndarray, held: np.ndarray, part: str) -> "ImageDataset":
    import torch

    picked = torch.from_numpy(indices)
    return replace(dataset, images=dataset.images[picked],
                   labels=None if dataset.labels is None else dataset.labels[picked], held_out=held,
                   part=part, names=None if dataset.names is None else [dataset.names[i] for i in indices])


def write_holdout_record(run_dir: str | Path, dataset: "ImageDataset", seed: int) -> Path | None:
    """holdout.json in the run folder, for a data set that has held-out images (written atomically)."""
    if dataset.held_out is None:
        return None
    total = len(dataset) + (len(dataset.held_out) if dataset.part == "training" else 0)
    record = {"format": FORMAT, "version": VERSION, "seed": seed, "count": len(dataset.held_out), "of": total,
              "dataset": dataset.name, "indices": [int(i) for i in dataset.held_out]}
    path = Path(run_dir) / HOLDOUT_FILE
    atomic_write_text(path, json.dumps(record) + "\n")
    return path


def read_holdout_record(run_dir: str | Path) -> dict | None:
    """The run's holdout.json, or None where it has none (or it is unreadable)."""
    try:
        record = json.loads((Path(run_dir) / HOLDOUT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None
