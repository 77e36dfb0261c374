"""MNIST and Fashion-MNIST: read from a folder the user names, or download once into a cache.

Downloaded files are checked against the SHA-256 of the published files and
only then moved into place, so the cache never holds a partial download.
"""

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ganvas.data.idx import read_labelled_images
from ganvas.errors import DataError, named
from ganvas.files import atomic_write
from ganvas.paths import ganvas_home

DATA_DIR_VARIABLE = "GANVAS_DATA_DIR"  # a folder of IDX files to use instead of the download cache
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}

# Tried in order; the first one that serves a file with the right checksum wins.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

# SHA-256 of the published .gz files, as listed in tensorflow_datasets'
# url_checksums/mnist.txt and fashion_mnist.txt, and identically in torchvision
# and other loaders. (The same files' published MD5s are MNIST f68b3c2d, d53e105e,
# 9fb629c4, ec29112d and Fashion-MNIST 8d4fb7e6, 25c81989, bef4ecab, bb300cfd.)
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

DOWNLOAD_TIMEOUT_S = 30
CHUNK_BYTES = 1 << 16


class _MirrorFailed(Exception):
    """One mirror could not deliver a good file; the next one may."""


def load_mnist(
    name: str = "mnist",
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 28, 28) and labels int64 (N,) of one split.

    With data_dir (or, without it, the folder named by $GANVAS_DATA_DIR), read the files there (gzip or not)
    and never download; otherwise use the cache, downloading missing files when download is true.
    """
    check_dataset_and_split(name, split)
    filenames = split_filenames(split)
    data_dir = data_dir if data_dir is not None else os.environ.get(DATA_DIR_VARIABLE) or None
    if data_dir is not None:
        paths = [_find_in_folder(Path(data_dir), filename, name, split) for filename in filenames]
    else:
        paths = _cached_files(name, filenames, download)
    return read_labelled_images(*paths)


def split_filenames(split: str) -> tuple[str, str]:
    """The published names of a split's images and labels files."""
    prefix = SPLIT_PREFIXES[split]
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def cache_dir(name: str) -> Path:
    """Where a dataset's downloads are kept: $GANVAS_HOME/datasets/<name>, else ~/.cache/ganvas/datasets/<name>."""
    return ganvas_home() / "datasets" / name


def check_dataset_and_split(name: str, split: str) -> None:
    """A clear error for a dataset or split these loaders do not know."""
    _require_choice("dataset", name, TITLES)
    _require_choice("split", split, SPLIT_PREFIXES)


def _require_choice(kind: str, value: str, choices) -> None:
    if value not in choices:
        raise DataError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")


def _find_in_folder(folder: Path, filename: str, name: str, split: str) -> Path:
    """A file in the user's folder, compressed or not, under its usual spellings."""
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist; check {named('data_dir')}")
    uncompressed = filename.removesuffix(".gz")
    # Some copies are decompressed, some use "train-images.idx3-ubyte".
    for spelling in (filename, uncompressed, uncompressed.replace("-idx", ".idx")):
        if (folder / spelling).is_file():
            return folder / spelling
    raise DataError(
        f"{folder / filename} not found (nor uncompressed {uncompressed});"
        f" put the {TITLES[name]} {split} files there, pick a split the folder has with {named('split')},"
        f" or leave out {named('data_dir')} to download them"
    )


def _cached_files(name: str, filenames, download: bool) -> list[Path]:
    """The files in the cache, downloaded first if missing, all checked against their SHA-256."""
    folder = cache_dir(name)
    missing = [filename for filename in filenames if not (folder / filename).exists()]
    if missing and not download:
        raise DataError(
            f"{', '.join(missing)} not in {folder} and downloading is off; " + _how_to_supply(name, folder, missing)
        )
    if missing:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(
                f"cannot create cache folder {folder} ({error.strerror});"
                f" set GANVAS_HOME to a writable folder or pass {named('data_dir')}"
            ) from None
    for filename in missing:
        _download_from_mirrors(name, filename, folder, missing)
    paths = [folder / filename for filename in filenames]
    for path in paths:
        _verify_cached(path, SHA256[name][path.name])
    return paths


def _how_to_supply(name: str, folder: Path, missing) -> str:
    return (
        f"copy {' and '.join(missing)} into {folder},"
        f" or pass {named('data_dir')} with a folder that holds the {TITLES[name]} files"
    )


def _download_from_mirrors(name: str, filename: str, folder: Path, missing) -> None:
    reasons = []
    for base_url in MIRRORS[name]:
        url = base_url + filename
        print(f"ganvas: downloading {url}", file=sys.stderr)
        try:
            _download_verified(url, folder / filename, SHA256[name][filename])
            return
        except _MirrorFailed as failure:
            print(f"ganvas:   failed: {failure}", file=sys.stderr)
            reasons.append(str(failure))
    distinct_reasons = "; ".join(dict.fromkeys(reasons))  # the mirrors' own names went to stderr above
    raise DataError(
        f"could not download {filename} from any of the {len(reasons)} mirrors ({distinct_reasons}); "
        + _how_to_supply(name, folder, missing)
    )


def _download_verified(url: str, destination: Path, sha256: str) -> None:
    """Download into a temporary file beside destination; it replaces destination only if the checksum matches.

    Whatever stops it (a bad mirror, Ctrl-C), nothing that looks like a download is left behind.
    """
    with atomic_write(destination) as out:
        digest = _copy_url(url, out)
        if digest != sha256:
            raise _MirrorFailed(f"SHA-256 mismatch (got {digest[:12]}..., expected {sha256[:12]}...)")


def _copy_url(url: str, out) -> str:
    """Copy what url serves into out, with a progress bar on terminals; return its SHA-256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            size = response.headers.get("Content-Length")
            # disable=None: a progress bar on terminals only, nothing in logs.
            progress = tqdm(total=int(size) if size else None, unit="B", unit_scale=True, leave=False, disable=None)
            with progress:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise _MirrorFailed(f"HTTP {error.code} {error.reason}") from error
    except (OSError, http.client.HTTPException) as error:
        # No network, timeouts and dropped connections: all OSError (URLError included) or HTTPException.
        raise _MirrorFailed(str(getattr(error, "reason", error)) or type(error).__name__) from error
    return digest.hexdigest()


def _verify_cached(path: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise DataError(
            f"{path} is not the published file (its SHA-256 differs); delete it so it is downloaded again,"
            f" or pass {named('data_dir')} to use your own copy"
        )
