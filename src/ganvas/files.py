"""Writes: every file and folder ganvas writes appears whole or not at all.

Each write goes to a temporary name of its own beside the target (unique per call, so two
writers never collide), is flushed to disk, and is renamed over the target in one step. A
failure on the way (a full disk, a crash, Ctrl-C) leaves the previous version in place and no
temporary file behind.

The only other writes are appends to logs (metrics.jsonl, events.jsonl, train.log: `append_text`),
which a failure leaves as they were, with no half line.

A full disk (or quota) is a DiskFullError, a GanvasError that names the file; everything else
stays the OSError it is. Every write opens its file with this module's `open`: the one seam a
test needs to fill the disk.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Iterator

from ganvas.errors import DiskFullError

_PUBLIC = 0o644  # mkstemp makes files private; run outputs and caches are not secrets
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_FULL


@contextmanager
def disk_full_is_an_error(path: str | Path) -> Iterator[None]:
    """Turn a full disk while writing `path` into a DiskFullError naming it."""
    try:
        yield
    except OSError as err:  # a DiskFullError from a write inside this one (a file of a folder) is named after this
        if not is_disk_full(err):
            raise
        raise DiskFullError(f"the disk is full: {path} could not be written ({os.strerror(err.errno)}); free space "
                            "on that disk (or write somewhere else) and try again", path, err.errno) from None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path for a writer that wants a file name (ffmpeg, say); the file written there replaces `path`
    only if the block succeeds. It keeps `path`'s suffix, for writers that pick the format from it."""
    path = Path(path)
    with disk_full_is_an_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
        os.close(handle)
        try:
            yield Path(temporary)
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.chmod(temporary, _PUBLIC)
            os.replace(temporary, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file to write `path`'s new content; it replaces `path` only if the block succeeds."""
    with atomic_path(path) as temporary, open(temporary, mode) as out:
        yield out


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_write(path, "w") as out:
        out.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as out:
        out.write(data)


def write_bytes(path: str | Path, data: bytes) -> None:
    """A plain write, for a file inside a folder that atomic_directory is filling."""
    with disk_full_is_an_error(path), open(path, "wb") as out:
        out.write(data)


def append_text(path: str | Path, text: str) -> None:
    """Append `text` to a log, unbuffered so that another process sees it at once; a failure (a full disk) cuts the
    file back to where it was, so that it never ends in half a line."""
    with disk_full_is_an_error(path), open(path, "ab", buffering=0) as out:
        start = out.seek(0, os.SEEK_END)
        try:
            rest = memoryview(text.encode())
            while rest:
                rest = rest[out.write(rest):]
        except BaseException:
            with suppress(OSError):
                out.truncate(start)
            raise


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """A temporary folder to fill; it becomes `path` (replacing an old one) only if the block succeeds."""
    path = Path(path)
    with disk_full_is_an_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        try:
            yield temporary
            for file in temporary.iterdir():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
            os.chmod(temporary, 0o755)
            if path.exists():  # e.g. `best` being replaced: move the old one aside, swap, then delete it
                old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
                os.replace(path, old)
                os.replace(temporary, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(temporary, path)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise


def is_temporary(path: Path) -> bool:
    """Whether `path` is an unfinished write of this module (left only by a process killed mid-write)."""
    return path.name.startswith(".") and (".tmp" in path.name or path.name.endswith(".old"))
