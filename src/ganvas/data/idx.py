"""Read IDX files, the format MNIST and Fashion-MNIST are published in.

An IDX file is a big-endian header (a magic number, then one uint32 per
dimension) followed by the raw data; ours hold unsigned bytes only.
Files may be gzip-compressed or not; we tell by their first bytes.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from ganvas.errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: count, rows, cols
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: count
GZIP_SIGNATURE = b"\x1f\x8b"


def read_labelled_images(
    images_path: str | Path, labels_path: str | Path, rows: int = 28, cols: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, rows, cols) and their labels int64 (N,), checked to pair up."""
    images = read_idx_images(images_path, rows, cols)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels;"
            " use an images file and a labels file from the same split of the same dataset"
        )
    return images, labels


def read_idx_images(path: str | Path, rows: int = 28, cols: int = 28) -> np.ndarray:
    """Images of one IDX image file as uint8 (N, rows, cols)."""
    data = read_maybe_gzip(path)
    count, found_rows, found_cols = _read_header(path, data, IMAGES_MAGIC, "image")
    if (found_rows, found_cols) != (rows, cols):
        raise DataError(
            f"{path} holds {found_rows}x{found_cols} images, expected {rows}x{cols};"
            " this is not an MNIST-style image file"
        )
    return _read_body(path, data, (count, rows, cols))


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Labels of one IDX label file as int64 (N,)."""
    data = read_maybe_gzip(path)
    (count,) = _read_header(path, data, LABELS_MAGIC, "label")
    return _read_body(path, data, (count,)).astype(np.int64)


def read_maybe_gzip(path: str | Path) -> bytes:
    """The file's bytes, decompressed when it is gzip."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; check the path") from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}; check the path and its permissions") from None
    if not raw.startswith(GZIP_SIGNATURE):
        if path.suffix == ".gz":
            raise DataError(
                f"{path} is named .gz but is not a gzip file (perhaps an error page saved by a download);"
                " delete it and get the file again"
            )
        return raw
    try:
        return gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataError(
            f"{path} is a truncated or corrupt gzip file ({error}); delete it and get the file again"
        ) from None


def _read_header(path, data: bytes, magic: int, kind: str) -> tuple[int, ...]:
    """The dimensions in the header, after checking the magic number."""
    ndim = magic & 0xFF
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} is too short to be an IDX {kind} file; delete it and get the file again")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(
            f"{path} is not an IDX {kind} file: wrong magic number,"
            f" expected 0x{magic:08x}, found 0x{found:08x}; check that you gave the {kind}s file"
        )
    return tuple(int(n) for n in np.frombuffer(data, ">u4", count=ndim, offset=4))


def _read_body(path, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The data after the header as a writable uint8 array of the given shape."""
    offset = 4 + 4 * len(shape)
    expected = math.prod(shape)
    found = len(data) - offset
    if found != expected:
        problem = "truncated" if found < expected else "corrupt"
        raise DataError(
            f"{path} is {problem}: its header promises {expected} bytes of data but {found} follow;"
            " delete it and get the file again"
        )
    # Copy so the array is writable (torch warns about read-only buffers).
    return np.frombuffer(data, np.uint8, count=expected, offset=offset).reshape(shape).copy()
