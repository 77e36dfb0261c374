"""The one exception type for problems a user can fix.

The CLI prints a GanvasError as a single line (what is wrong and what to do)
and exits non-zero; anything else is a bug and keeps its traceback.

Messages name options with `named("batch_size")`, not a spelling of their own: the
same error then reads `--batch-size` in the CLI and `batch_size=` from Python
(`GanvasError.worded`).
"""

from __future__ import annotations

import re

_MARK, _VALUE = "\x1f", "\x1e"  # bracket an option (and its value) inside a message until a front end words it
_NAMED = re.compile(f"{_MARK}([A-Za-z0-9_]+)(?:{_VALUE}([^{_VALUE}{_MARK}]*){_VALUE}([^{_VALUE}{_MARK}]*))?{_MARK}")
_NO_VALUE = object()


def named(option: str, value: object = _NO_VALUE) -> str:
    """An option's name (and a value for it) in an error message, worded later as the caller spells it:
    named("loss", "wgan") reads `--loss wgan` in the CLI and `loss='wgan'` from Python."""
    if value is _NO_VALUE:
        return f"{_MARK}{option}{_MARK}"
    return f"{_MARK}{option}{_VALUE}{value}{_VALUE}{value!r}{_MARK}"


def flag(option: str) -> str:
    """The command-line spelling of an option: batch_size -> --batch-size (class_ -> --class)."""
    return "--" + option.rstrip("_").replace("_", "-")


def word(text: str, style: str = "keyword") -> str:
    """`text` with its option names as flags (style "flag": --batch-size) or keywords ("keyword": batch_size=)."""
    def spell(match: re.Match) -> str:
        option, as_text, as_python = match.groups()
        if style == "flag":
            return flag(option) + ("" if as_text is None else f" {as_text}")
        return f"{option}=" + ("" if as_python is None else as_python)

    return _NAMED.sub(spell, text)


class GanvasError(Exception):
    """A problem with the user's input, files or environment, with a message that says what to do."""

    def worded(self, style: str = "keyword") -> str:
        """The message with option names spelled for the caller: style "flag" (the CLI) or "keyword" (Python)."""
        return word(str(self.args[0]) if self.args else "", style)

    def __str__(self) -> str:
        return self.worded("keyword")


class DataError(GanvasError):
    """A dataset is missing, corrupt, or not what it claims to be."""


class CheckpointError(GanvasError):
    """A checkpoint or run folder cannot be read, or belongs to a different model."""


class RunLockedError(GanvasError):
    """Another process is training this run folder."""


class DiskFullError(GanvasError, OSError):
    """A write failed because the disk (or the user's quota) is full. Still an OSError, with its errno, for code
    that catches those; `path` is what could not be written."""

    def __init__(self, message: str, path: object = None, errno: int | None = None):
        super().__init__(message)
        self.path = path
        self.errno = errno
        self.filename = None if path is None else str(path)
