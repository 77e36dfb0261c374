"""Atomic writes: every file and folder ganvas writes appears whole or not at all.

Each write goes to a temporary name of its own beside the target (unique per call, so two
writers never collide), is flushed to disk, and is renamed over the target in one step. A
failure on the way (a full disk, a crash, Ctrl-C) leaves the previous version in place and no
temporary file behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Iterator

_PUBLIC = 0o644  # mkstemp makes files private; run outputs and caches are not secrets


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path for a writer that wants a file name (ffmpeg, say); the file written there replaces `path`
    only if the block succeeds. It keeps `path`'s suffix, for writers that pick the format from it."""
    path = Path(path)
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


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """A temporary folder to fill; it becomes `path` (replacing an old one) only if the block succeeds."""
    path = Path(path)
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
