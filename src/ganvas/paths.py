"""Where ganvas keeps files between runs (downloads, cached reference statistics)."""

from __future__ import annotations

import os
from pathlib import Path


def ganvas_home() -> Path:
    """$GANVAS_HOME if set, else ~/.cache/ganvas."""
    home = os.environ.get("GANVAS_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "ganvas"
