"""Your own pictures as a dataset: a folder (or .zip) of images, fitted to size×size squares.

Decoding thousands of photos is slow, so the fitted images are cached in
$GANVAS_HOME/image-cache/ under a hash of the files' names, sizes and times
and of the options; a changed file or option builds a fresh cache.
"""

import hashlib
import io
import json
import os
import sys
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageColor, ImageOps
from tqdm import tqdm

from ganvas.errors import DataError
from ganvas.files import atomic_write
from ganvas.paths import ganvas_home

if TYPE_CHECKING:
    from ganvas.data import ImageDataset

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
FITS = ("crop", "pad", "stretch")
CHANNEL_MODES = {"auto": None, "grey": "L", "rgb": "RGB", "rgba": "RGBA"}
MIN_SIZE, MAX_SIZE = 16, 256
# LANCZOS: the sharpest of Pillow's filters when shrinking, which is what photos mostly need.
RESAMPLE = Image.Resampling.LANCZOS
SIXTEEN_BIT_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
CACHE_VERSION = 1  # bump when the decoding changes, so old caches are not reused
SKIPPED_NAMES_SHOWN = 5


@dataclass(frozen=True, order=True)
class _ImageFile:
    name: str  # relative to the dataset's root, "/"-separated
    stamp: tuple  # changes with the file: (size, mtime) on disk, (size, CRC) in a zip


@dataclass
class _Decoded:
    images: np.ndarray  # uint8 (N, C, size, size)
    labels: np.ndarray | None  # int64 (N,)
    class_names: list[str] | None
    skipped: list[str]  # names of the files that could not be read


def load_image_folder(
    path: str | os.PathLike,
    size: int,
    fit: str = "crop",
    channels: str = "auto",
    background: str | None = None,
    labels: bool = False,
) -> "ImageDataset":
    """The images in a folder (searched recursively) or a .zip, as an ImageDataset of size×size squares.

    fit: "crop" the centre square, "pad" the whole image with bars, or "stretch" it to a square.
    channels: "auto" (grey, RGB or RGBA, whichever the pixels need), "grey", "rgb" or "rgba".
    background: a colour name or #hex that transparent parts (and pad bars) are flattened onto.
    labels: class labels from the first-level sub-folders, in sorted order.
    """
    from ganvas.data import ImageDataset  # here, not at the top: ganvas.data imports this module

    _check_options(size, fit, channels, background)
    root = Path(path).expanduser()
    with _image_source(root) as (files, open_file):
        if not files:
            raise DataError(
                f"no images in {root} (searched its sub-folders too, skipping hidden ones);"
                f" image files end in {', '.join(EXTENSIONS)}, in any case"
            )
        options = {"size": size, "fit": fit, "channels": channels, "background": background, "labels": labels}
        cache = _cache_path(root, files, options)
        decoded = _read_cache(cache)
        if decoded is None:
            print(f"ganvas: decoding {len(files)} image files from {root}; caching them in {cache}", file=sys.stderr)
            decoded = _decode_all(root, files, open_file, **options)
            _write_cache(cache, decoded)
    if decoded.skipped:
        warnings.warn(_skipped_message(root, decoded.skipped), stacklevel=2)
    return ImageDataset(
        images=torch.from_numpy(decoded.images),
        labels=None if decoded.labels is None else torch.from_numpy(decoded.labels),
        num_classes=None if decoded.class_names is None else len(decoded.class_names),
        name=root.resolve().stem if root.is_file() else root.resolve().name,
        class_names=decoded.class_names,
        names=[file.name for file in files if file.name not in set(decoded.skipped)],
    )


def count_image_files(path: str | os.PathLike) -> int:
    """How many image files a folder or zip holds, by their names alone (nothing is decoded)."""
    with _image_source(Path(path).expanduser()) as (files, _):
        return len(files)


def _check_options(size: int, fit: str, channels: str, background: str | None) -> None:
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise DataError(f"image size {size!r} is out of range; choose a whole number from {MIN_SIZE} to {MAX_SIZE}")
    if fit not in FITS:
        raise DataError(f"unknown fit {fit!r}; choose one of: {', '.join(FITS)}")
    if channels not in CHANNEL_MODES:
        raise DataError(f"unknown channels {channels!r}; choose one of: {', '.join(CHANNEL_MODES)}")
    if background is None:
        return
    if channels == "rgba":
        raise DataError("a background flattens transparency away, so it cannot go with channels 'rgba'")
    try:
        ImageColor.getrgb(background)
    except ValueError:
        raise DataError(
            f"unknown colour {background!r}; use a name such as 'white' or a hex code such as '#ffeedd'"
        ) from None


# --- Finding the files --------------------------------------------------------------------------------------


@contextmanager
def _image_source(root: Path):
    """The image files under root (a folder or a .zip), sorted, and a function that opens one by name."""
    if root.is_dir():
        yield _folder_files(root), lambda name: open(root / name, "rb")
    elif root.is_file() and root.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(root)
        except (zipfile.BadZipFile, OSError) as error:
            raise DataError(f"{root} is not a readable zip file ({error})") from None
        with archive:
            files, prefix = _zip_files(archive)
            yield files, lambda name: io.BytesIO(archive.read(prefix + name))
    elif root.exists():
        raise DataError(f"{root} is neither a folder nor a .zip file; point at a folder of images or a zip of them")
    else:
        raise DataError(f"{root} does not exist; point at a folder of images or a zip of them")


def _folder_files(root: Path) -> list[_ImageFile]:
    files = []
    walked = set()
    # followlinks: artists link folders in; the `walked` set stops links that loop back.
    for folder, subfolders, filenames in os.walk(root, followlinks=True):
        walked.add(os.path.realpath(folder))
        subfolders[:] = [
            name for name in subfolders
            if not _is_hidden(name) and os.path.realpath(os.path.join(folder, name)) not in walked
        ]
        for filename in filenames:
            path = Path(folder, filename)
            if _is_image_name(filename) and not _is_hidden(filename) and path.is_file():
                stat = path.stat()
                files.append(_ImageFile(path.relative_to(root).as_posix(), (stat.st_size, stat.st_mtime_ns)))
    return sorted(files)


def _zip_files(archive: zipfile.ZipFile) -> tuple[list[_ImageFile], str]:
    """The zip's images, named relative to its one top folder when it has one (as zipping a folder makes)."""
    entries = [
        info for info in archive.infolist()
        if not info.is_dir() and _is_image_name(info.filename)
        and not any(_is_hidden(part) for part in info.filename.split("/"))
    ]
    top_folders = {info.filename.split("/")[0] for info in entries}
    shared_folder = len(top_folders) == 1 and all("/" in info.filename for info in entries)
    prefix = f"{top_folders.pop()}/" if shared_folder else ""
    files = [_ImageFile(info.filename.removeprefix(prefix), (info.file_size, info.CRC)) for info in entries]
    return sorted(files), prefix


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in EXTENSIONS


def _is_hidden(name: str) -> bool:
    """Files and folders that systems add beside the pictures: .DS_Store, ._name, .git, __MACOSX."""
    return name.startswith(".") or name == "__MACOSX"


def _class_labels(names: list[str]) -> tuple[list[int], list[str]]:
    """Each file's class index, from its first-level folder, and the sorted class names."""
    loose = [name for name in names if "/" not in name]
    if loose:
        raise DataError(
            f"labels need sub-folders, one per class, but {len(loose)} images lie directly in the top folder"
            f" (e.g. {loose[0]}); move them into class folders or leave labels off"
        )
    folders = [name.split("/")[0] for name in names]
    class_names = sorted(set(folders))
    index = {class_name: position for position, class_name in enumerate(class_names)}
    return [index[folder] for folder in folders], class_names


# --- Decoding and fitting ----------------------------------------------------------------------------------


def _decode_all(
    root: Path, files: list[_ImageFile], open_file, size: int, fit: str, channels: str, background: str | None,
    labels: bool,
) -> _Decoded:
    class_of, class_names = _class_labels([file.name for file in files]) if labels else (None, None)
    fitted, kept, skipped = [], [], []
    # disable=None: a progress bar on terminals only, nothing in logs.
    for index, file in enumerate(tqdm(files, desc="decoding images", unit="img", file=sys.stderr, disable=None)):
        try:
            with open_file(file.name) as stream:
                image = _decode(stream, size)
        except Exception:  # Pillow's decoders raise many types on bad data: OSError, SyntaxError, ValueError, ...
            skipped.append(file.name)
            continue
        fitted.append(_fit(image, size, fit))
        kept.append(index)
    if not fitted:
        raise DataError(f"none of the {len(files)} image files in {root} could be read; " + _examples(skipped))
    mode = CHANNEL_MODES[channels] or _auto_mode(fitted, background)
    return _Decoded(
        images=_to_array(fitted, size, mode, _fill_colour(mode, background)),
        labels=None if class_of is None else np.array([class_of[index] for index in kept], dtype=np.int64),
        class_names=class_names,
        skipped=skipped,
    )


def read_image(source, size: int) -> Image.Image:
    """One image file (a path or a binary stream) decoded as training images are: its first frame, upright, as L,
    LA, RGB or RGBA (JPEGs decoded at no less than twice `size`). Raises whatever Pillow raises on bad data."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            return _decode(stream, size)
    return _decode(source, size)


def fit_image(image: Image.Image, size: int, fit: str = "crop", mode: str = "RGB",
              background: str | None = None) -> np.ndarray:
    """One decoded image fitted as training images are (`fit`, transparency flattened onto `background` unless
    mode is RGBA), as uint8 (C, size, size) in `mode`: L, RGB or RGBA."""
    _check_options(size, fit, "auto", background)
    return _to_array([_fit(_to_standard_mode(image), size, fit)], size, mode, _fill_colour(mode, background))[0]


def _decode(stream, size: int) -> Image.Image:
    """One file's first frame, upright, as L, LA, RGB or RGBA."""
    with Image.open(stream) as image:
        # As Image.thumbnail does: JPEGs decode at 1/2..1/8 scale, fast, yet no smaller than
        # twice the target, so LANCZOS still does the final reduction.
        image.draft(None, (2 * size, 2 * size))
        upright = ImageOps.exif_transpose(image)  # loads the pixels, so bad data fails here
    return _to_standard_mode(upright)


def _to_standard_mode(image: Image.Image) -> Image.Image:
    if image.mode in SIXTEEN_BIT_GREY_MODES:
        # Scale to 8 bits: Pillow's convert("L") would clip everything above 255 to white.
        return Image.fromarray((np.clip(np.asarray(image), 0, 65535) >> 8).astype(np.uint8))
    # Palette, L and RGB images may name a transparent colour in their info.
    transparent = image.mode in ALPHA_MODES or "transparency" in image.info
    if image.mode in ("1", "L", "LA", "La", "F"):
        return image.convert("LA" if transparent else "L")
    return image.convert("RGBA" if transparent else "RGB")  # also CMYK, YCbCr, palettes...


def _fit(image: Image.Image, size: int, fit: str) -> Image.Image:
    """The image scaled for a size×size square; for "pad" it is smaller on one side, centred by _to_array."""
    if fit == "crop":
        return ImageOps.fit(image, (size, size), method=RESAMPLE)
    if fit == "pad":
        return ImageOps.contain(image, (size, size), method=RESAMPLE)
    return image.resize((size, size), RESAMPLE)


def _auto_mode(images: list[Image.Image], background: str | None) -> str:
    """RGBA if any image has see-through pixels (and no background hides them), L if all are grey, else RGB."""
    if background is None and any(_has_transparency(image) for image in images):
        return "RGBA"
    background_is_grey = background is None or len(set(ImageColor.getrgb(background)[:3])) == 1
    return "L" if background_is_grey and all(_is_grey(image) for image in images) else "RGB"


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("LA", "RGBA") and image.getchannel("A").getextrema()[0] < 255


def _is_grey(image: Image.Image) -> bool:
    if image.mode in ("L", "LA"):
        return True
    colour = np.asarray(image)[..., :3]
    return bool((colour == colour[..., :1]).all())


def _fill_colour(mode: str, background: str | None) -> tuple[int, int, int, int]:
    """What shows through transparent pixels and pad bars: the background, else transparent, else black."""
    if background is not None:
        return (*ImageColor.getrgb(background)[:3], 255)
    return (0, 0, 0, 0) if mode in ("LA", "RGBA") else (0, 0, 0, 255)


def image_pixels(image: Image.Image, mode: str, background: str | None = None) -> np.ndarray:
    """One decoded image at its own size, converted as training images are (transparency flattened onto
    `background`, else black, unless mode keeps alpha), as uint8 (C, H, W) in `mode`."""
    return _on_canvas(image, image.size, mode, _fill_colour(mode, background))


def _on_canvas(image: Image.Image, canvas_size: tuple[int, int], mode: str, fill: tuple) -> np.ndarray:
    """uint8 (C, H, W): the image centred on a canvas of the fill colour, in mode."""
    width, height = canvas_size
    canvas = Image.new("RGBA", canvas_size, fill)
    canvas.alpha_composite(image.convert("RGBA"), dest=((width - image.width) // 2, (height - image.height) // 2))
    return np.asarray(canvas.convert(mode)).reshape(height, width, -1).transpose(2, 0, 1)


def _to_array(images: list[Image.Image], size: int, mode: str, fill: tuple) -> np.ndarray:
    """uint8 (N, C, size, size): each fitted image centred on a canvas of the fill colour, in mode."""
    array = np.empty((len(images), Image.getmodebands(mode), size, size), dtype=np.uint8)
    for index, image in enumerate(images):
        array[index] = _on_canvas(image, (size, size), mode, fill)
    return array


def _skipped_message(root: Path, skipped: list[str]) -> str:
    return f"skipped {len(skipped)} unreadable image file(s) in {root}: " + _examples(skipped)


def _examples(names: list[str]) -> str:
    shown = ", ".join(names[:SKIPPED_NAMES_SHOWN])
    more = len(names) - SKIPPED_NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


# --- The cache ---------------------------------------------------------------------------------------------


def _cache_path(root: Path, files: list[_ImageFile], options: dict) -> Path:
    files = [[file.name, *file.stamp] for file in files]
    key = {"version": CACHE_VERSION, "root": str(root.resolve()), "files": files, **options}
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()
    return ganvas_home() / "image-cache" / f"{digest[:32]}.npz"


def _read_cache(cache: Path) -> _Decoded | None:
    """The cached images, or None when there are none (or the file is damaged, so it is rebuilt)."""
    try:
        with np.load(cache) as stored:
            return _Decoded(
                images=stored["images"],
                labels=stored["labels"] if "labels" in stored else None,
                class_names=stored["class_names"].tolist() if "class_names" in stored else None,
                skipped=stored["skipped"].tolist(),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _write_cache(cache: Path, decoded: _Decoded) -> None:
    arrays = {"images": decoded.images, "skipped": np.array(decoded.skipped, dtype=str)}
    if decoded.labels is not None:
        arrays |= {"labels": decoded.labels, "class_names": np.array(decoded.class_names, dtype=str)}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache) as out:
            np.savez(out, **arrays)
    except OSError as error:  # the cache only saves time: carry on without it
        warnings.warn(f"cannot write the image cache {cache} ({error}); the images will be decoded again next time")

