"""What the studio shows of a run folder: its card, curves, grids over time, checkpoints, config and log.

Everything here reads the run folder as another process sees it (ganvas.Run's status, status.json,
metrics.jsonl, events.jsonl, samples/, checkpoints/, train.log), so runs trained by the studio's own workers,
by `ganvas train` in a shell or by a previous studio all look the same.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import ganvas
from ganvas.runfolder import read_status

SAMPLE_FILE = re.compile(r"^step-(\d{1,12})\.png$")
CHECKPOINT_DIR = re.compile(r"^(step-\d{1,12}|best)$")
MAX_POINTS = 2000  # a curve longer than this is thinned, evenly, for the page
LOG_BYTES = 256 * 1024  # the most of train.log's end read for its tail


def finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: those become None (a gap in a chart)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def sample_steps(run_dir: Path) -> list[int]:
    folder = run_dir / "samples"
    if not folder.is_dir():
        return []
    return sorted(int(match[1]) for path in folder.iterdir() if (match := SAMPLE_FILE.match(path.name)))


def checkpoints(run_dir: Path) -> list[dict[str, Any]]:
    """The run's checkpoints that are complete (a meta.json), oldest first, `best` last."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if CHECKPOINT_DIR.match(path.name) and (path / "meta.json").is_file():
            try:
                step = int(json.loads((path / "meta.json").read_text()).get("step", 0))
            except (OSError, ValueError, TypeError, AttributeError):
                continue
            found.append({"name": path.name, "step": step})
    return sorted(found, key=lambda item: (item["name"] == "best", item["step"]))


def latest_checkpoint(run_dir: Path) -> str | None:
    steps = [item for item in checkpoints(run_dir) if item["name"] != "best"]
    return steps[-1]["name"] if steps else None


def card(run_dir: Path) -> dict[str, Any] | None:
    """A run as a card on the Runs page; None if the folder is not a run (yet)."""
    info = ganvas.Run(run_dir).info()
    if info is None:
        return None
    status = read_status(run_dir) or {}
    latest = run_dir / "samples" / "latest.png"
    grid_version = latest.stat().st_mtime_ns if latest.is_file() else None
    return {
        "name": run_dir.name, "status": info.status, "step": info.step,
        "target_steps": status.get("target_steps"), "reason": status.get("reason"),
        "preset": info.preset, "model": info.model, "dataset": info.dataset,
        "task": info.config.get("task") or "generate",  # image-to-image runs: upscale, ..., cyclegan
        "stats": {key: finite(value) for key, value in info.stats.items()},
        "quality": {key: finite(value) for key, value in info.quality.items()},
        "alarms": info.alarms, "updated": info.updated, "images_per_s": finite(status.get("images_per_s")),
        "grid": f"/api/runs/{run_dir.name}/samples/latest.png?v={grid_version}" if grid_version else None,
        "has_checkpoint": latest_checkpoint(run_dir) is not None,
    }


def detail(run_dir: Path) -> dict[str, Any] | None:
    """A run's card with its config, checkpoints and the steps of its sample grids."""
    found = card(run_dir)
    if found is None:
        return None
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    found.update(config={key: finite(value) for key, value in config.items()} if isinstance(config, dict) else {},
                 checkpoints=checkpoints(run_dir), samples=sample_steps(run_dir))
    return found


def thin(rows: list[dict[str, Any]], limit: int = MAX_POINTS) -> list[dict[str, Any]]:
    """At most `limit` rows, evenly spaced, always keeping the last."""
    if len(rows) <= limit:
        return rows
    stride = math.ceil(len(rows) / limit)
    kept = rows[::stride]
    return kept if kept[-1] is rows[-1] else [*kept, rows[-1]]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    with open(path) as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a crash, or still being written
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def stats_row(row: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(row.get("step"), int):
        return None
    return {key: finite(value) for key, value in row.items() if isinstance(value, (int, float))}


def quality_row(row: dict[str, Any]) -> dict[str, Any] | None:
    quality = row.get("quality")
    if not isinstance(quality, dict) or not isinstance(row.get("step"), int):
        return None
    return {"step": row["step"], **{key: finite(value) for key, value in quality.items()
                                    if isinstance(value, (int, float)) and not isinstance(value, bool)}}


def curves(run_dir: Path) -> dict[str, Any]:
    """The run's training statistics and quality measurements by step, from metrics.jsonl (which holds both, and
    drops what a resumed run trains again)."""
    stats, quality = [], []
    for row in read_jsonl(run_dir / "metrics.jsonl"):
        if "quality" in row:
            if measured := quality_row(row):
                quality.append(measured)
        elif (line := stats_row(row)) and len(line) > 1:
            stats.append(line)
    return {"stats": thin(stats), "quality": thin(quality)}


def log_tail(run_dir: Path, lines: int) -> list[str]:
    path = run_dir / "train.log"
    if not path.is_file():
        return []
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - LOG_BYTES))
        text = handle.read().decode("utf-8", errors="replace")
    kept = text.splitlines()
    if size > LOG_BYTES:
        kept = kept[1:]  # the first line read is probably cut
    return kept[-lines:]
