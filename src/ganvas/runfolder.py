"""Run folders: who is training one (a lock), what state it is in (status.json), and listing them.

A run folder holds config.json, checkpoints/, samples/, metrics.jsonl, events.jsonl, train.log,
and these two files:

- `train.lock`: held (an OS file lock) by the process training the run, with its pid, host and
  start time written inside. The OS drops the lock when that process dies, however it dies, so a
  lock left by a killed process is found stale and taken over.
- `status.json`: the run's status ("training", "finished", "stopped", "diverged", "failed"), its
  step, the latest statistics and quality, and the alarms that are on; kept up to date by the
  trainer (a listener of its events), read by `ganvas.runs`.

A `stop-request` file in the folder asks the process training it to stop at the next step boundary
and save (`request_stop`): this is how another process stops a run.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganvas.errors import RunLockedError
from ganvas.events import (Alarm, Event, QualityMeasured, Started, StepStats, Stopped)
from ganvas.files import atomic_write_text

LOCK_FILE = "train.lock"
STATUS_FILE = "status.json"
STOP_REQUEST_FILE = "stop-request"
CONFIG_FILE = "config.json"

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a lock is stale when its process is gone
    fcntl = None


def _holder_text() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["since"]))
        return f"process {holder['pid']} on {holder['host']} (since {since})"
    except (ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """The lock a trainer holds on its run folder for as long as it trains it."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._handle = None
        self.stale_holder: str | None = None  # who held it before, if it was left by a killed process

    def acquire(self) -> "RunLock":
        handle = open(self.path, "a+")
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            elif _pid_alive_in(self.path):
                raise BlockingIOError
        except BlockingIOError:
            handle.seek(0)
            holder = _describe_holder(handle.read())
            handle.close()
            raise RunLockedError(f"{self.path.parent} is being trained by {holder}; wait for it to finish, or stop "
                                 f"it (`ganvas stop {self.path.parent}`) and resume") from None
        handle.seek(0)
        previous = handle.read().strip()
        if previous:
            self.stale_holder = _describe_holder(previous)
        handle.seek(0)
        handle.truncate()
        handle.write(_holder_text())
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Empty the file, then drop the lock. The file stays: deleting it would let two trainers lock two files."""
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        if fcntl is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None


def _pid_alive_in(path: Path) -> bool:
    try:
        pid = json.loads(path.read_text())["pid"]
        os.kill(pid, 0)
        return pid != os.getpid()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def is_being_trained(run_dir: Path) -> bool:
    """Whether a process (this one included) holds the run's lock now."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return False
    if fcntl is None:
        return _pid_alive_in(path)
    with open(path) as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def request_stop(run_dir: Path) -> None:
    """Ask whoever trains the run to stop at the next step boundary and save; works from any process."""
    atomic_write_text(Path(run_dir) / STOP_REQUEST_FILE, f"{time.time()}\n")


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / STOP_REQUEST_FILE).exists()


def clear_stop_request(run_dir: Path) -> None:
    (Path(run_dir) / STOP_REQUEST_FILE).unlink(missing_ok=True)


class StatusWriter:
    """A listener that keeps the run's status.json up to date."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / STATUS_FILE
        self.status: dict[str, Any] = read_status(run_dir) or {}

    def __call__(self, event: Event) -> None:
        status = self.status
        if isinstance(event, Started):
            status.update(status="training", step=event.step, target_steps=event.target_steps, pid=os.getpid(),
                          alarms={}, reason=None)
        elif isinstance(event, StepStats):
            status.update(step=event.step, stats=event.stats, images_per_s=event.images_per_s)
        elif isinstance(event, QualityMeasured):
            status.update(quality=event.quality)
        elif isinstance(event, Alarm):
            alarms = status.setdefault("alarms", {})
            if event.active:
                alarms[event.name] = event.text
            else:
                alarms.pop(event.name, None)
        elif isinstance(event, Stopped):
            status.update(status=event.status, reason=event.reason, step=event.step,
                          checkpoint=str(event.checkpoint) if event.checkpoint else None)
        else:
            return
        status["updated"] = event.time
        atomic_write_text(self.path, json.dumps(status, indent=2) + "\n")


def read_status(run_dir: Path) -> dict[str, Any] | None:
    try:
        status = json.loads((Path(run_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


@dataclass
class RunInfo:
    """A run folder as `ganvas.runs` lists it."""

    path: Path
    status: str  # training, finished, stopped, diverged, failed, or new (nothing trained yet)
    step: int
    config: dict[str, Any]
    stats: dict[str, float] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    alarms: dict[str, str] = field(default_factory=dict)
    updated: float | None = None

    @property
    def preset(self) -> str | None:
        return self.config.get("preset")

    @property
    def model(self) -> str | None:
        return self.config.get("model")

    @property
    def dataset(self) -> str | None:
        return Path(self.config["data"]).name if self.config.get("data") else self.config.get("dataset")


def run_info(run_dir: Path) -> RunInfo | None:
    """What a run folder holds, or None if it is not a run folder."""
    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    status = read_status(run_dir) or {}
    state = status.get("status") or "new"
    training = is_being_trained(run_dir)
    if training:
        state = "training"
    elif state == "training":  # its process is gone without saying why: killed, or the machine went down
        state = "stopped"
    return RunInfo(run_dir, state, int(status.get("step") or 0), config, status.get("stats") or {},
                   status.get("quality") or {}, status.get("alarms") or {}, status.get("updated"))


def list_runs(folder: Path) -> list[RunInfo]:
    """Run folders directly under `folder` (or `folder` itself if it is one), most recently updated first."""
    folder = Path(folder)
    own = run_info(folder)
    if own is not None:
        return [own]
    if not folder.is_dir():
        return []
    found = [info for child in sorted(folder.iterdir()) if child.is_dir() and (info := run_info(child))]
    return sorted(found, key=lambda info: -(info.updated or 0))
