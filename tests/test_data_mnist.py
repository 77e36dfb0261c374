"""MNIST loading: IDX parsing, --data-dir folders, the download cache and every error a user can meet.

No network and no real MNIST: each test writes tiny IDX files (20 images of 28x28)
into tmp_path and serves "mirrors" as file:// URLs.
"""

import contextlib
import gzip
import hashlib
import io
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from ganvas.data import ImageDataset, load_dataset, to_model_range
from ganvas.data import mnist
from ganvas.data.idx import read_idx_images, read_idx_labels, read_labelled_images
from ganvas.errors import DataError

COUNT = 20
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def make_pixels(count=COUNT, rows=28, cols=28):
    return (np.arange(count * rows * cols) % 251).astype(np.uint8).reshape(count, rows, cols)


def make_labels(count=COUNT):
    return (np.arange(count) % 10).astype(np.uint8)


def images_bytes(count=COUNT, rows=28, cols=28, magic=0x803):
    return struct.pack(">IIII", magic, count, rows, cols) + make_pixels(count, rows, cols).tobytes()


def labels_bytes(count=COUNT, magic=0x801):
    return struct.pack(">II", magic, count) + make_labels(count).tobytes()


def write(path, data):
    """Write data, gzip-compressed when the name ends in .gz."""
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def write_test_split(folder, images_name=TEST_FILES[0], labels_name=TEST_FILES[1]):
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / images_name, images_bytes())
    write(folder / labels_name, labels_bytes())
    return folder


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def raises_data_error(*fragments):
    """Expect a one-line DataError whose message contains every fragment."""
    with pytest.raises(DataError) as info:
        yield info
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert str(fragment) in message, message


@pytest.fixture(autouse=True)
def ganvas_home(tmp_path, monkeypatch):
    """Keep every test's cache in tmp_path, never in the real home folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("GANVAS_HOME", str(home))
    return home


@pytest.fixture
def cache(ganvas_home):
    return ganvas_home / "datasets" / "mnist"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A good file:// mirror of the test split, with the expected hashes set to its files."""
    folder = write_test_split(tmp_path / "mirror")
    monkeypatch.setitem(mnist.MIRRORS, "mnist", [folder.as_uri() + "/"])
    monkeypatch.setitem(mnist.SHA256, "mnist", {name: sha256_of(folder / name) for name in TEST_FILES})
    return folder


# --- IDX parsing ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, suffix):
    images = read_idx_images(write(tmp_path / f"images{suffix}", images_bytes()))
    labels = read_idx_labels(write(tmp_path / f"labels{suffix}", labels_bytes()))
    assert images.dtype == np.uint8 and images.shape == (COUNT, 28, 28)
    np.testing.assert_array_equal(images, make_pixels())
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, make_labels())


def test_wrong_magic_number(tmp_path):
    labels = write(tmp_path / "labels.gz", labels_bytes())
    with raises_data_error(labels, "not an IDX image file", "0x00000803", "0x00000801"):
        read_idx_images(labels)


def test_truncated_data(tmp_path):
    path = write(tmp_path / "images.gz", images_bytes()[:-28 * 28 * 5])
    with raises_data_error(path, "truncated"):
        read_idx_images(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(images_bytes())[:-100])
    with raises_data_error(path, "truncated or corrupt gzip"):
        read_idx_images(path)


def test_corrupt_gzip(tmp_path):
    compressed = bytearray(gzip.compress(images_bytes()))
    compressed[20:40] = b"\xff" * 20
    path = tmp_path / "images.gz"
    path.write_bytes(bytes(compressed))
    with raises_data_error(path, "truncated or corrupt gzip"):
        read_idx_images(path)


def test_gz_name_but_not_gzip(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(b"<html>Not Found</html>")
    with raises_data_error(path, "not a gzip file"):
        read_idx_images(path)


def test_wrong_dimensions(tmp_path):
    path = write(tmp_path / "images.gz", images_bytes(rows=32, cols=32))
    with raises_data_error(path, "32x32", "expected 28x28"):
        read_idx_images(path)


def test_image_label_count_mismatch(tmp_path):
    images = write(tmp_path / "images.gz", images_bytes())
    labels = write(tmp_path / "labels.gz", labels_bytes(count=COUNT - 1))
    with raises_data_error(images, labels, f"{COUNT} images", f"{COUNT - 1} labels"):
        read_labelled_images(images, labels)


def test_missing_file(tmp_path):
    with raises_data_error(tmp_path / "nothing.gz", "does not exist"):
        read_idx_images(tmp_path / "nothing.gz")


# --- --data-dir -----------------------------------------------------------------


@pytest.mark.parametrize(
    "images_name, labels_name",
    [
        TEST_FILES,
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        ("t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"),
    ],
)
def test_load_from_data_dir_without_downloading(tmp_path, no_network, images_name, labels_name):
    folder = write_test_split(tmp_path / "data", images_name, labels_name)
    images, labels = mnist.load_mnist("mnist", "test", data_dir=folder)
    assert images.shape == (COUNT, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (COUNT,) and labels.dtype == np.int64


def test_data_dir_missing_file_names_the_expected_file(tmp_path):
    folder = write_test_split(tmp_path / "data")  # test split only
    with raises_data_error(folder / "train-images-idx3-ubyte.gz", "data_dir="):
        mnist.load_mnist("mnist", "train", data_dir=folder)


def test_data_dir_that_does_not_exist(tmp_path):
    with raises_data_error(tmp_path / "nowhere", "does not exist"):
        mnist.load_mnist("mnist", "test", data_dir=tmp_path / "nowhere")


def test_unknown_dataset_and_split():
    with raises_data_error("'cifar'", "mnist, fashion-mnist"):
        mnist.load_mnist("cifar")
    with raises_data_error("'valid'", "train, test"):
        mnist.load_mnist("mnist", "valid")
    with raises_data_error("'cifar'", "mnist, fashion-mnist"):
        load_dataset("cifar")


# --- download cache -------------------------------------------------------------


def test_download_lands_in_cache(mirror, cache):
    images, labels = mnist.load_mnist("mnist", "test")
    np.testing.assert_array_equal(images, make_pixels())
    assert sorted(path.name for path in cache.iterdir()) == sorted(TEST_FILES)  # no temporary files
    for name in TEST_FILES:
        assert sha256_of(cache / name) == mnist.SHA256["mnist"][name]


def test_checksum_mismatch_falls_through_to_next_mirror(tmp_path, mirror, cache, monkeypatch, capsys):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in TEST_FILES:
        write(bad / name, images_bytes(count=3))
    monkeypatch.setitem(mnist.MIRRORS, "mnist", [bad.as_uri() + "/", mirror.as_uri() + "/"])
    mnist.load_mnist("mnist", "test")
    assert "SHA-256 mismatch" in capsys.readouterr().err
    assert sorted(path.name for path in cache.iterdir()) == sorted(TEST_FILES)


def test_all_mirrors_unreachable_says_where_to_put_files(no_network, cache):
    with raises_data_error(cache, *TEST_FILES, "data_dir=", "name resolution"):
        mnist.load_mnist("mnist", "test")
    assert list(cache.iterdir()) == []


def test_http_error_is_reported(mirror, cache, monkeypatch):
    def not_found(url, timeout):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", not_found)
    with raises_data_error("HTTP 404 Not Found", cache):
        mnist.load_mnist("mnist", "test")


def test_all_mirrors_with_bad_checksums(tmp_path, mirror, cache, monkeypatch):
    monkeypatch.setitem(mnist.SHA256, "mnist", dict.fromkeys(TEST_FILES, "0" * 64))
    with raises_data_error("SHA-256 mismatch", cache):
        mnist.load_mnist("mnist", "test")
    assert list(cache.iterdir()) == []


class DroppedConnection(io.BytesIO):
    """A response that dies after its first chunk, or raises what it is given."""

    def __init__(self, error):
        super().__init__(b"\x1f\x8b" + b"x" * 1000)
        self.headers = {"Content-Length": "5000"}
        self.error = error

    def read(self, size=-1):
        if self.tell():
            raise self.error
        return super().read(100)


@pytest.mark.parametrize("error", [ConnectionResetError("connection reset by peer"), KeyboardInterrupt()])
def test_interrupted_download_leaves_no_file(mirror, cache, monkeypatch, error):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: DroppedConnection(error))
    with pytest.raises((DataError, KeyboardInterrupt)):
        mnist.load_mnist("mnist", "test")
    assert list(cache.iterdir()) == []


def test_cached_file_with_wrong_hash(mirror, cache):
    write_test_split(cache)
    # Readable, even the same pixels, but not the published bytes.
    (cache / TEST_FILES[0]).write_bytes(gzip.compress(images_bytes(), compresslevel=1))
    with raises_data_error(cache / TEST_FILES[0], "SHA-256", "delete it"):
        mnist.load_mnist("mnist", "test")


def test_missing_cache_with_download_off(cache):
    with raises_data_error(cache, *TEST_FILES, "downloading is off"):
        mnist.load_mnist("mnist", "test", download=False)


# --- ImageDataset ---------------------------------------------------------------


def test_load_dataset_gives_channel_first_tensors(tmp_path):
    folder = write_test_split(tmp_path / "data")
    dataset = load_dataset("fashion-mnist", "test", data_dir=folder)
    assert isinstance(dataset, ImageDataset)
    assert dataset.images.dtype == torch.uint8 and dataset.images.shape == (COUNT, 1, 28, 28)
    assert dataset.labels.dtype == torch.int64 and dataset.labels.shape == (COUNT,)
    assert dataset.image_shape == (1, 28, 28)
    assert len(dataset) == COUNT
    assert (dataset.num_classes, dataset.name) == (10, "fashion-mnist")


def test_to_model_range():
    scaled = to_model_range(torch.tensor([0, 127, 255], dtype=torch.uint8))
    assert scaled.dtype == torch.float32
    assert scaled[0] == -1 and scaled[2] == 1 and abs(scaled[1]) < 0.01
