"""Listeners: what shows or keeps a training run's events (ganvas.events).

- `TrainLog` and `EventLog` are part of every run folder: the human-readable train.log and the
  events.jsonl stream another process can follow (`ganvas.events.follow_events`).
- `TerminalProgress` is `ganvas train`'s progress bar and log lines on stderr.
- `NotebookProgress` is a notebook's view: a tqdm.auto bar and a loss plot redrawn in place.

A listener is any callable taking one event; write your own in one line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ganvas.events import EVENTS_FILE, Event, Progress, QualityMeasured, Started, StepStats, Stopped
from ganvas.files import append_text
from ganvas.images import png_bytes
from ganvas.plots import curves_image

LOG_FILE = "train.log"


class TrainLog:
    """Each event's message, time-stamped, in the run's train.log."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOG_FILE

    def __call__(self, event: Event) -> None:
        message = event.message()
        if message:
            append_text(self.path, f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(event.time))} {message}\n")


class EventLog:
    """Every event as a JSON line in the run's events.jsonl, flushed at once so a follower sees it; progress at most
    once every `progress_every_s` seconds (a step can take a millisecond)."""

    def __init__(self, run_dir: Path, progress_every_s: float = 1.0):
        self.path = Path(run_dir) / EVENTS_FILE
        self.progress_every_s = progress_every_s
        self._last_progress = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            if event.time - self._last_progress < self.progress_every_s:
                return
            self._last_progress = event.time
        append_text(self.path, json.dumps(event.to_dict()) + "\n")


class TerminalProgress:
    """A tqdm bar (steps, ETA, d/g loss, images/s, quality) and every message as a line above it, on stderr."""

    def __init__(self, bar: bool = True, stream=None):
        self.show_bar = bar
        self.stream = stream or sys.stderr
        self.bar = None

    def _tqdm(self):
        from tqdm import tqdm

        return tqdm

    def __call__(self, event: Event) -> None:
        tqdm = self._tqdm()
        if isinstance(event, Started) and self.show_bar:
            self.bar = tqdm(total=event.target_steps, initial=event.step, unit="step", dynamic_ncols=True,
                            file=self.stream, mininterval=0.5)
        elif isinstance(event, Progress) and self.bar is not None:
            self.bar.update(event.step - self.bar.n)
        elif isinstance(event, StepStats) and self.bar is not None:
            self.bar.set_postfix(d_loss=f"{event.stats['d_loss']:.3f}", g_loss=f"{event.stats['g_loss']:.3f}",
                                 img_s=f"{event.images_per_s:.0f}", refresh=False)
        elif isinstance(event, QualityMeasured) and self.bar is not None:
            self.bar.set_postfix(event.summary, refresh=False)
        if isinstance(event, Stopped) and self.bar is not None:
            self.bar.close()
            self.bar = None
        message = event.message()
        if message and not isinstance(event, QualityMeasured):  # quality shows in the bar, and in train.log
            tqdm.write(message, file=self.stream)


class NotebookProgress(TerminalProgress):
    """In Jupyter: a tqdm.auto progress bar, log lines, and a d/g loss plot that is redrawn in place each time new
    statistics arrive (at most every `plot_every_s` seconds)."""

    def __init__(self, plot: bool = True, plot_every_s: float = 2.0):
        super().__init__(bar=True, stream=sys.stdout)
        self.plot = plot
        self.plot_every_s = plot_every_s
        self.steps: list[int] = []
        self.curves: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
        self._handle = None
        self._last_plot = 0.0

    def _tqdm(self):
        from tqdm.auto import tqdm

        return tqdm

    def __call__(self, event: Event) -> None:
        super().__call__(event)
        if not self.plot:
            return
        if isinstance(event, StepStats):
            self.steps.append(event.step)
            for name, values in self.curves.items():
                values.append(event.stats[name])
            if event.time - self._last_plot >= self.plot_every_s:
                self._draw()
        elif isinstance(event, Stopped) and self.steps:
            self._draw()

    def _draw(self) -> None:
        from IPython.display import Image, display

        self._last_plot = time.time()
        picture = Image(data=png_bytes(curves_image(self.steps, self.curves)), format="png")
        if self._handle is None:
            self._handle = display(picture, display_id=True)
        else:
            self._handle.update(picture)
