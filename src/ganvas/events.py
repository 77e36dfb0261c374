"""What a training run reports while it trains: events, sent to listeners.

The training loop prints nothing itself. It sends each event to every listener (any callable
taking an event); the terminal progress bar, the notebook view, the run's train.log and its
events.jsonl stream (ganvas.listeners) are all listeners, and so can be a user's function.

Every event has the run's `step` and a `kind`; `message()` is the line a log shows for it
(None for events too frequent to log), and `to_dict()` is its JSON form, with `time` in
seconds since the epoch. `read_events` reads a run's stream back, as another process sees it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

EVENTS_FILE = "events.jsonl"


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    step: int
    time: float = field(default_factory=time.time, kw_only=True)

    def message(self) -> str | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **{f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}}


@dataclass(frozen=True)
class Started(Event):
    """Training starts (or resumes) at `step`."""
    kind: ClassVar[str] = "started"
    run_dir: Path
    target_steps: int | None
    minutes: float | None
    description: str
    resumed: bool

    def message(self) -> str:
        return f"{'resuming at step ' + str(self.step) if self.resumed else 'starting'}: {self.description}"


@dataclass(frozen=True)
class Progress(Event):
    """A training step finished. Sent every step: listeners that show it keep their own pace."""
    kind: ClassVar[str] = "progress"
    target_steps: int | None
    elapsed_s: float
    minutes: float | None


@dataclass(frozen=True)
class StepStats(Event):
    """Training statistics averaged over the steps since the last ones (a metrics.jsonl line)."""
    kind: ClassVar[str] = "stats"
    stats: dict[str, float]  # d_loss, g_loss, d_accuracy and every other loss term the run uses
    epoch: float
    images_per_s: float
    elapsed_s: float


@dataclass(frozen=True)
class QualityMeasured(Event):
    kind: ClassVar[str] = "quality"
    quality: dict[str, float]
    summary: dict[str, str]  # the few numbers worth showing in a progress bar

    def message(self) -> str:
        return f"step {self.step}: quality " + ", ".join(f"{k} {v}" for k, v in self.summary.items())


@dataclass(frozen=True)
class Alarm(Event):
    """An alarm goes on (`active`) with advice, or is cleared."""
    kind: ClassVar[str] = "alarm"
    name: str
    text: str
    active: bool

    def message(self) -> str:
        return f"step {self.step}: ALARM {self.text}" if self.active else \
            f"step {self.step}: cleared: {self.name.replace('_', ' ')}"


@dataclass(frozen=True)
class SamplesWritten(Event):
    kind: ClassVar[str] = "samples"
    path: Path


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    path: Path
    name: str  # step-N, or best

    def message(self) -> str:
        return f"step {self.step}: saved {self.path}"


@dataclass(frozen=True)
class Note(Event):
    """Anything else worth a line in the log (a measure that is off for this run, a rollback)."""
    kind: ClassVar[str] = "note"
    text: str

    def message(self) -> str:
        return self.text


# Why a run stopped, and the status that leaves the run in (ganvas.runs).
STOP_REASONS = {
    "steps": ("finished", "reached the step target"),
    "time": ("stopped", "time is up"),
    "stop_request": ("stopped", "stopped on request"),
    "interrupt": ("stopped", "stopped by Ctrl-C"),
    "diverged": ("diverged", "training diverged"),
    "disk_full": ("stopped", "the disk is full"),
    "error": ("failed", "training failed"),
}


@dataclass(frozen=True)
class Stopped(Event):
    """Training ended: `reason` is a key of STOP_REASONS; `checkpoint` is the one to resume or sample from."""
    kind: ClassVar[str] = "stopped"
    reason: str
    checkpoint: Path | None
    detail: str = ""

    @property
    def status(self) -> str:
        return STOP_REASONS[self.reason][0]

    def message(self) -> str:
        said = STOP_REASONS[self.reason][1]
        return f"step {self.step}: {said}{'; ' + self.detail if self.detail else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "status": self.status}


Listener = Callable[[Event], None]
EVENT_TYPES = {cls.kind: cls for cls in (Started, Progress, StepStats, QualityMeasured, Alarm, SamplesWritten,
                                         CheckpointSaved, Note, Stopped)}


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def read_events(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """The events a run has written to its events.jsonl so far, as dicts; a line still being written is skipped."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.is_file():
        return
    with open(path) as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def follow_events(run_dir: str | Path, poll_s: float = 0.2, timeout_s: float | None = None) -> Iterator[dict[str, Any]]:
    """The events of the run's latest training session as they are written, from any thread or process: like
    `tail -f` on events.jsonl from the last `started` event. Ends after the session's `stopped` event, or when
    timeout_s seconds pass with nothing new (None: wait as long as it takes)."""
    path = Path(run_dir) / EVENTS_FILE
    position, pending, session_found, quiet_since = 0, "", False, time.monotonic()
    while True:
        if path.is_file():
            with open(path) as handle:
                handle.seek(position)
                pending += handle.read()
                position = handle.tell()
            *lines, pending = pending.split("\n")
            events = []
            for line in lines:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            if not session_found:  # skip the sessions before the latest one
                starts = [i for i, event in enumerate(events) if event.get("event") == Started.kind]
                if starts:
                    events, session_found = events[starts[-1]:], True
                else:
                    events = []
            for event in events:
                quiet_since = time.monotonic()
                yield event
                if event.get("event") == Stopped.kind:
                    return
        if timeout_s is not None and time.monotonic() - quiet_since > timeout_s:
            return
        time.sleep(poll_s)
