"""Uploaded images, checked before anything keeps them.

An upload is one request whose body is one file: an image, or a zip of images. Its bytes are counted as they
arrive and the request is refused past `Limits.upload_bytes`. Each image is opened (reading its header only),
refused if it has more than `Limits.image_pixels` pixels (decompression bombs: a few KB of PNG can declare
gigapixels), then decoded in full, so a corrupt or truncated file is caught here with a message rather than
later in training. A zip's members are checked one by one the same way, with caps on their number and their
total unpacked size; the images are written under new names of the studio's own making (never the member's
path), so nothing in a zip can name a place to write. Uploads live in RUNS/.studio/uploads/<id>/, a folder the
Train page can then train on.
"""

from __future__ import annotations

import io
import re
import secrets
import shutil
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from PIL import Image, UnidentifiedImageError

from ganvas.files import atomic_write_bytes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")  # what training reads
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
UPLOAD_ID = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class Limits:
    """Bounds on everything a request can ask for."""
    upload_bytes: int = 64 * 2**20  # one request's body
    upload_set_bytes: int = 512 * 2**20  # all the images of one upload set, unpacked
    image_pixels: int = 4096 * 4096  # one image
    zip_members: int = 20_000
    images: int = 100  # images in one grid or variations request
    frames: int = 240  # frames of a walk
    keyframes: int = 16
    scale: int = 8  # nearest-neighbour enlargement of a downloaded picture
    steps: int = 10_000_000  # a run's step target
    minutes: float = 7 * 24 * 60
    log_lines: int = 2000
    streams: int = 32  # open live-update connections
    seed: int = 2**31 - 1


def size_text(count: int) -> str:
    return f"{count / 2**20:.0f} MB" if count >= 2**20 else f"{count:,} bytes"


class UploadRefused(Exception):
    """The file is too large, not an image, or corrupt; the message is for the page."""


def check_image(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """The decoded image, or UploadRefused saying why it cannot be used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise UploadRefused(f"{name} is {width}x{height} pixels, over the limit of {max_pixels:,} "
                                        "pixels an image may have; scale it down first")
                image.load()
                return image
        except UploadRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadRefused(f"{name} declares more pixels than an image may have (over the limit of "
                                f"{max_pixels:,}); scale it down first") from None
        except UnidentifiedImageError:
            if data.startswith(IMAGE_SIGNATURES):
                raise UploadRefused(f"{name} is a damaged image: it starts as one, but could not be read") from None
            raise UploadRefused(f"{name} is not an image ganvas can read (use PNG, JPEG, WebP, BMP, GIF or "
                                "TIFF)") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError):
            raise UploadRefused(f"{name} is a damaged image: it could not be decoded") from None


def safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", PurePosixPath(name).stem).strip("_")
    return stem[:60] or "image"


class UploadStore:
    """Upload sets under `root` (RUNS/.studio/uploads)."""

    def __init__(self, root: Path, limits: Limits):
        self.root = root
        self.limits = limits

    def folder(self, upload_id: str) -> Path:
        if not isinstance(upload_id, str) or not UPLOAD_ID.fullmatch(upload_id):
            raise UploadRefused(f"{upload_id!r} is not an upload id")
        path = self.root / upload_id
        if not path.is_dir():
            raise UploadRefused(f"no upload {upload_id}; upload the images again")
        return path

    def new(self) -> tuple[str, Path]:
        upload_id = secrets.token_hex(6)
        path = self.root / upload_id
        path.mkdir(parents=True)
        return upload_id, path

    def images(self, folder: Path) -> list[Path]:
        return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_EXTENSIONS)

    def add(self, body: IO[bytes], name: str, upload_id: str | None = None) -> dict:
        """Check `body` (an image or a zip of images called `name`) and keep its images in an upload set: a new
        one, or `upload_id`'s. Raises UploadRefused when nothing in it is usable."""
        folder = self.folder(upload_id) if upload_id else None
        body.seek(0)
        is_zip = zipfile.is_zipfile(body)
        body.seek(0)
        candidates = self._zip_members(body, name) if is_zip else [(name, body.read())]
        added, skipped, kept = [], [], []
        used = sum(path.stat().st_size for path in self.images(folder)) if folder else 0
        for member, data in candidates:
            try:
                image = check_image(data, member, self.limits.image_pixels)
            except UploadRefused as refused:
                skipped.append({"name": member, "reason": str(refused)})
                continue
            used += len(data)
            if used > self.limits.upload_set_bytes:
                skipped.append({"name": member, "reason": f"the upload set is over its "
                                f"{size_text(self.limits.upload_set_bytes)} limit"})
                break
            extension = "." + (image.format or "png").lower().replace("jpeg", "jpg")
            if extension not in IMAGE_EXTENSIONS:
                extension = PurePosixPath(member).suffix.lower()
            kept.append((safe_stem(member) + extension, data))
        if not kept:
            reason = skipped[0]["reason"] if len(skipped) == 1 else \
                f"none of the {len(skipped)} files in {name} is a usable image" + \
                (f" (e.g. {skipped[0]['reason']})" if skipped else "")
            raise UploadRefused(reason if candidates else f"{name} holds no images")
        if folder is None:
            upload_id, folder = self.new()
        start = len(self.images(folder))
        for index, (file_name, data) in enumerate(kept, start):
            atomic_write_bytes(folder / f"{index:05d}-{file_name}", data)
            added.append(file_name)
        return {"upload": upload_id, "images": len(self.images(folder)), "added": len(added),
                "skipped": skipped[:20], "skipped_count": len(skipped)}

    def _zip_members(self, body: IO[bytes], name: str) -> list[tuple[str, bytes]]:
        try:
            archive = zipfile.ZipFile(body)
        except (zipfile.BadZipFile, OSError):
            raise UploadRefused(f"{name} is a damaged zip file") from None
        members, total = [], 0
        with archive:
            entries = [info for info in archive.infolist() if not info.is_dir()
                       and not any(part.startswith(".") or part == "__MACOSX" for part in info.filename.split("/"))
                       and PurePosixPath(info.filename).suffix.lower() in IMAGE_EXTENSIONS]
            if len(entries) > self.limits.zip_members:
                raise UploadRefused(f"{name} holds {len(entries)} images, over the limit of {self.limits.zip_members}")
            for info in entries:
                total += info.file_size
                if info.file_size > self.limits.upload_bytes or total > self.limits.upload_set_bytes:
                    raise UploadRefused(f"{name} unpacks to more than the {size_text(self.limits.upload_set_bytes)} "
                                        "an upload may hold")
                try:
                    with archive.open(info) as member:
                        data = member.read(info.file_size + 1)  # never more than the header declares (+1 to see a lie)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
                    members.append((info.filename, b""))  # reported as damaged below
                    continue
                if len(data) > info.file_size:
                    raise UploadRefused(f"{name} is a damaged zip file ({info.filename} is larger than it says)")
                members.append((info.filename, data))
        return members

    def delete(self, upload_id: str) -> None:
        shutil.rmtree(self.folder(upload_id))
