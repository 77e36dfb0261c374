"""The studio's jail: every path it reads, lists or writes is inside --runs or one of the --data-root folders.

A request names a run by its folder name (one path component) and a data folder by a root's index and a path
relative to it. Both are checked here before anything touches the disk: no empty or hidden names, no `..`, no
absolute paths, no backslashes or NUL bytes, and the real path (symlinks followed) must still be inside the root.
Starlette has already decoded the URL once, so an encoded `%2e%2e%2f` arrives here as `../` and is refused like
the plain one; a doubly encoded `%252e` arrives as `%2e`, which no run name may contain.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class PathRefused(Exception):
    """A path outside the studio's folders, or a malformed name; the message is safe to show."""


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def is_inside(path: Path, root: Path) -> bool:
    """Whether `path`'s real location (symlinks followed) is `root`'s real location or below it."""
    path, root = real(path), real(root)
    return path == root or path.is_relative_to(root)


def check_run_name(name: str) -> str:
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name) or ".." in name:
        raise PathRefused(f"{name!r} is not a run name: use letters, digits, '.', '_' and '-' "
                          "(starting with a letter or digit)")
    return name


def run_path(runs_root: Path, name: str) -> Path:
    """The folder of run `name` directly under runs_root (which need not exist yet), refused if it leads out."""
    check_run_name(name)
    path = runs_root / name
    if not is_inside(path, runs_root):
        raise PathRefused(f"run {name!r} is not inside the runs folder")
    return path


def relative_parts(relative: str) -> tuple[str, ...]:
    """The components of a path relative to a root, refused if it could step outside or hide anything."""
    if not isinstance(relative, str) or "\x00" in relative or "\\" in relative:
        raise PathRefused("a path may not hold NUL bytes or backslashes")
    path = PurePosixPath(relative)
    if path.is_absolute() or relative.startswith("~"):
        raise PathRefused(f"{relative!r} is absolute: give a path relative to the data folder")
    parts = tuple(part for part in path.parts if part not in ("", "."))
    for part in parts:
        if part == ".." or part.startswith("."):
            raise PathRefused(f"{relative!r} leads outside the data folder or into a hidden one")
    return parts


def inside(root: Path, relative: str) -> Path:
    """root / relative, checked: the real path must be inside root's real path."""
    path = root.joinpath(*relative_parts(relative))
    if not is_inside(path, root):
        raise PathRefused(f"{relative!r} leads outside the data folder")
    return path


def links_out(folder: Path, root: Path, limit: int = 100_000) -> list[str]:
    """Entries under `folder` (followed as the image-folder reader follows them) whose real path leaves `root`:
    a dataset that links out would be read from outside the studio's folders. Stops after `limit` entries."""
    found, seen, count = [], set(), 0
    for current, subfolders, files in os.walk(folder, followlinks=True):
        seen.add(os.path.realpath(current))
        keep = []
        for name in subfolders + files:
            count += 1
            if count > limit:
                raise PathRefused(f"{folder.name} holds more than {limit} files and folders; pick a smaller one")
            entry = Path(current, name)
            if not is_inside(entry, root):
                found.append(str(entry.relative_to(folder)))
            elif name in subfolders and os.path.realpath(entry) not in seen:
                keep.append(name)
        subfolders[:] = [name for name in subfolders if name in keep]
    return found
