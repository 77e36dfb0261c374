"""Datasets for training: images as uint8 tensors, labels when the dataset has them."""

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ganvas.data.folder import count_image_files
from ganvas.data.folder import load_image_folder as load_image_folder  # re-exported: your own images
from ganvas.data.holdout import split_holdout
from ganvas.data.mnist import check_dataset_and_split, load_mnist
from ganvas.errors import DataError, named

if TYPE_CHECKING:
    from ganvas.config import TrainConfig

SPLIT_SIZES = {"train": 60_000, "test": 10_000}  # MNIST and Fashion-MNIST alike


@dataclass
class ImageDataset:
    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: torch.Tensor | None  # int64 (N,), or None for unlabelled data
    num_classes: int | None
    name: str
    class_names: list[str] | None = None  # for labelled data whose classes have names (folder datasets)
    held_out: np.ndarray | None = None  # where images were held out (holdout=): their indices in the full set
    part: str = "all"  # "all", or "training" / "held-out" after holding images out (data.holdout)
    names: list[str] | None = None  # each image's file name, relative to the folder (folder datasets)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None) -> ImageDataset:
    """A known dataset by name, read from data_dir or from the cache (downloading on first use)."""
    images, labels = load_mnist(name, split, data_dir)  # which checks the name and split
    return ImageDataset(
        images=torch.from_numpy(images).unsqueeze(1),  # add the single grey channel
        labels=torch.from_numpy(labels),
        num_classes=10,
        name=name,
    )


def load_training_data(config: "TrainConfig") -> ImageDataset:
    """The images a run trains on: its own folder or zip (--data), else its named dataset; less the images it holds
    out (the holdout option, data.holdout)."""
    return split_holdout(load_run_data(config), config.holdout, config.seed)[0]


def load_held_out_data(config: "TrainConfig") -> ImageDataset:
    """The images a run holds out of training (the holdout option); a DataError if it holds out none."""
    held = split_holdout(load_run_data(config), config.holdout, config.seed)[1]
    if held is None:
        raise DataError(f"this run holds no images out of training; train one with {named('holdout')} N")
    return held


def load_run_data(config: "TrainConfig") -> ImageDataset:
    """All the images of a run's data set, the held-out ones included."""
    if config.data is not None:
        return load_image_folder(config.data, config.size, fit=config.fit, channels=config.channels,
                                 background=config.background, labels=config.labels)
    return load_dataset(config.dataset, config.split, config.data_dir)


def count_images(data: str | os.PathLike | None, dataset: str, split: str) -> int:
    """How many images a run will train on, known before anything is decoded or downloaded.

    A folder or zip counts its image files (unreadable ones included); a named dataset its split's size.
    """
    if data is not None:
        return count_image_files(data)
    check_dataset_and_split(dataset, split)
    return SPLIT_SIZES[split]


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] as floats in [-1, 1], the range of a tanh generator."""
    return images.float() / 127.5 - 1
