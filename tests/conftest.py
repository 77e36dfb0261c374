"""Shared fixtures: tiny MNIST-format datasets written by the tests themselves (no network, no ../shared)."""

import gzip
import struct

import numpy as np
import pytest

SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def idx_images(pixels: np.ndarray, magic: int = 0x803) -> bytes:
    return struct.pack(">IIII", magic, *pixels.shape) + pixels.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray, magic: int = 0x801) -> bytes:
    return struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()


def write_mnist_split(folder, pixels: np.ndarray, labels: np.ndarray, split: str = "test"):
    """Write gzip IDX files named as MNIST's for `split` into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = SPLIT_PREFIX[split]
    (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_images(pixels), mtime=0))
    (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_labels(labels), mtime=0))
    return folder


def digit_like_images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blurry bars whose position encodes the label: cheap stand-ins for digits."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    pixels = np.zeros((count, 28, 28), dtype=np.uint8)
    for image, label in zip(pixels, labels):
        column = 4 + 2 * label
        image[4:24, column:column + 3] = 255
    noise = rng.integers(0, 40, size=pixels.shape)
    return np.clip(pixels.astype(int) + noise, 0, 255).astype(np.uint8), labels


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Test-sized nets run fastest on one thread: with more, OpenMP hand-offs dominate, and on a busy
    machine they cost seconds per step."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def private_ganvas_home(tmp_path, monkeypatch):
    """Caches (downloads, reference statistics) go to a fresh folder, never the user's."""
    monkeypatch.setenv("GANVAS_HOME", str(tmp_path / "ganvas-home"))


@pytest.fixture
def mnist_dir(tmp_path):
    """A folder holding a 64-image MNIST test split."""
    pixels, labels = digit_like_images(64)
    return write_mnist_split(tmp_path / "mnist", pixels, labels, "test")


@pytest.fixture
def mnist_everywhere(tmp_path, monkeypatch):
    """256 stand-in digits in both splits, used for every named-dataset run (GANVAS_DATA_DIR), and a fresh working
    folder as the current one."""
    pixels, labels = digit_like_images(256)
    for split in ("train", "test"):
        write_mnist_split(tmp_path / "mnist-everywhere", pixels, labels, split)
    monkeypatch.setenv("GANVAS_DATA_DIR", str(tmp_path / "mnist-everywhere"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def tiny_config(mnist_dir):
    """The seed preset shrunk to run in a second on tiny data."""
    from ganvas.config import preset_config

    return preset_config("seed", data_dir=str(mnist_dir), split="test", batch_size=16, steps=8, log_every=2,
                         sample_every=4, checkpoint_every=4)


@pytest.fixture(scope="session")
def format1(tmp_path_factory, one_thread):
    """A format-1 checkpoint and the same run in today's format, built once (tests/format1.py): read them in place,
    copy them to change them."""
    from format1 import build_format1_run

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANVAS_HOME", str(tmp_path_factory.mktemp("format1-ganvas-home")))
        return build_format1_run(tmp_path_factory.mktemp("format1"), tmp_path_factory.mktemp("format1-today") / "run")
