"""Images to project into a generator (targets), fitted to its size and channels the way training data is.

A target is an image file (any size, format and mode Pillow reads), a PIL image, a uint8 array ((H, W) grey,
(H, W, 3) RGB, (H, W, 4) RGBA), or a tensor already in the model's shape and range ((C, H, W) or (N, C, H, W) in
[-1, 1]). Files and pictures are decoded and fitted by the data layer's own code (data.folder: `fit` crop, pad
or stretch, transparency kept for RGBA models and flattened onto `background`, else black, for the others), so
a target is seen as a training image of the run would have been.

A file that cannot be read is skipped with its reason, and the others are still fitted; a target whose size is
not the model's gets a note saying how it was fitted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from ganvas.data.folder import fit_image, read_image
from ganvas.errors import DataError, GanvasError, named

MODES = {1: "L", 3: "RGB", 4: "RGBA"}


@dataclass
class Targets:
    images: torch.Tensor  # (N, C, H, W) in [-1, 1]
    names: list[str]  # one per image: the file's stem, else its position
    sources: list[str | None]  # the file each came from, where it came from one
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (what, why) for each target that was not read
    notes: list[str] = field(default_factory=list)


def load_targets(items: Any, image_shape: tuple[int, int, int], fit: str = "crop",
                 background: str | None = None, names: Sequence[str] | None = None) -> Targets:
    """The targets fitted to image_shape (C, H, W), in order; unreadable files are skipped, not raised."""
    channels, height, width = image_shape
    if channels not in MODES or height != width:
        raise GanvasError(f"projection needs a square grey, RGB or RGBA generator; this one makes "
                          f"{'x'.join(map(str, image_shape))} images")
    mode, side = MODES[channels], height
    images, found_names, sources, skipped, notes = [], [], [], [], []
    for position, item in enumerate(_as_list(items)):
        label = _label(item, position)
        what = str(item) if isinstance(item, (str, os.PathLike)) else f"target {position}"
        try:
            if isinstance(item, torch.Tensor):
                batch = _tensor_targets(item, image_shape)
                images.extend(batch)
                found_names.extend([label] if len(batch) == 1 else [f"{label}-{i}" for i in range(len(batch))])
                sources.extend([None] * len(batch))
                continue
            picture, source, size = _picture(item, side)
        except (DataError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError) as err:
            skipped.append((what, _reason(err)))
            continue
        except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many kinds of error on bad data
            skipped.append((what, _reason(err)))
            continue
        if size != (side, side):
            how = {"crop": "its centre square", "pad": "padded to a square", "stretch": "stretched to a square"}[fit]
            notes.append(f"{label}: {size[0]}x{size[1]} fitted to {side}x{side} ({how})")
        pixels = fit_image(picture, side, fit, mode, background)
        images.append(torch.from_numpy(pixels).float() / 127.5 - 1)
        found_names.append(label)
        sources.append(source)
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(images):
            raise GanvasError(f"{named('names')} has {len(names)} names for {len(images)} targets")
        found_names = names
    stacked = torch.stack(images) if images else torch.empty(0, *image_shape)
    return Targets(stacked, _unique(found_names), sources, skipped, notes)


def _as_list(items: Any) -> list:
    if isinstance(items, (str, os.PathLike, Image.Image, np.ndarray)):
        return [items]
    if isinstance(items, torch.Tensor):
        return [items]
    tensor = getattr(items, "tensor", None)  # api.Images
    if isinstance(tensor, torch.Tensor):
        return [tensor]
    return list(items)


def _label(item: Any, position: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return Path(item).stem or str(position)
    return str(position)


def _picture(item: Any, side: int) -> tuple[Image.Image, str | None, tuple[int, int]]:
    """The decoded picture, the file it came from, and its size as stored (JPEGs are decoded smaller)."""
    if isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser()
        if not path.is_file():
            raise DataError("no such file" if not path.exists() else "not a file")
        with Image.open(path) as header:  # reads the header only
            size = header.size
        return read_image(path, side), str(path), size
    if isinstance(item, Image.Image):
        return item.copy(), None, item.size
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (1, 3, 4)):
            raise DataError(f"an array target must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {item.dtype} "
                            f"{item.shape}")
        picture = Image.fromarray(item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item)
        return picture, None, picture.size
    raise DataError(f"cannot project a {type(item).__name__}: give image files, PIL images, uint8 arrays or "
                    "tensors")


def _tensor_targets(tensor: torch.Tensor, image_shape: tuple[int, int, int]) -> list[torch.Tensor]:
    batch = tensor[None] if tensor.dim() == 3 else tensor
    if batch.dim() != 4 or tuple(batch.shape[1:]) != tuple(image_shape):
        raise DataError(f"a tensor target must be shaped ({', '.join(map(str, image_shape))}) or a batch of those, "
                        f"in [-1, 1]; got {tuple(tensor.shape)}")
    batch = batch.detach().float().cpu()
    if not torch.isfinite(batch).all() or batch.min() < -1.001 or batch.max() > 1.001:
        raise DataError("a tensor target must hold finite values in [-1, 1]")
    return list(batch.clamp(-1, 1))


def _reason(err: BaseException) -> str:
    if isinstance(err, Image.UnidentifiedImageError):
        return "not an image file that Pillow can read"
    if isinstance(err, Image.DecompressionBombError):
        return "too many pixels to decode safely (Pillow's limit against decompression bombs)"
    if isinstance(err, GanvasError):
        return err.args[0]
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"cannot be read as an image ({text or type(err).__name__})"


def _unique(names: list[str]) -> list[str]:
    """The names, with -2, -3 ... added to repeats, so that each projection's files have their own name."""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}-{number}", number + 1
        taken.add(candidate)
        unique.append(candidate)
    return unique
