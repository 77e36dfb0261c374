"""Listeners: what shows or keeps a training run's events (ganvas.events).

- `TrainLog` and `EventLog` are part of every run folder: the human-readable train.log and the
  events.jsonl stream another process can follow (`ganvas.events.follow_events`).
- `TensorBoardLog` writes the statistics, quality and sample grids as TensorBoard events in
  RUN/tensorboard, for runs with the `tensorboard` option (the tensorboard extra).
- `TerminalProgress` is `ganvas train`'s progress bar and log lines on stderr.
- `NotebookProgress` is a notebook's view: a tqdm.auto bar and a loss plot redrawn in place.

A listener is any callable taking one event; write your own in one line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ganvas.errors import GanvasError, named
from ganvas.events import EVENTS_FILE, Event, Progress, QualityMeasured, SamplesWritten, Started, StepStats, Stopped
from ganvas.files import append_text
from ganvas.images import png_bytes
from ganvas.plots import curves_image

LOG_FILE = "train.log"
TENSORBOARD_DIR = "tensorboard"


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


class TensorBoardLog:
    """TensorBoard event files in RUN/tensorboard (`tensorboard --logdir RUN`): each training statistic as a
    scalar `train/<name>` (d_loss, g_loss, d_accuracy, every other loss term the run has, images_per_s), each
    quality measure as `quality/<name>`, and each sample grid as the image `samples`, all at their step.

    The writer is torch.utils.tensorboard's SummaryWriter, from the tensorboard package (the tensorboard extra);
    without it, making this listener is a GanvasError. A resumed session hides what the run logged after the step
    it resumes from, since those steps run again (the writer's purge_step).
    """

    def __init__(self, run_dir: Path, flush_secs: float = 10):
        self.folder = Path(run_dir) / TENSORBOARD_DIR
        self.flush_secs = flush_secs
        self.writer = None
        self._writer_class = summary_writer_class()
        self._grid_step: int | None = None  # the loop writes a last grid at the end, maybe of a step that has one

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            self.close()
            # Steps up to and including the one resumed from stay; the later ones are written again.
            self.writer = self._writer_class(log_dir=str(self.folder), flush_secs=self.flush_secs,
                                             purge_step=event.step + 1 if event.resumed else None)
        if self.writer is None:
            return
        if isinstance(event, StepStats):
            for name, value in event.stats.items():
                self.writer.add_scalar(f"train/{name}", value, event.step, walltime=event.time)
            self.writer.add_scalar("train/images_per_s", event.images_per_s, event.step, walltime=event.time)
        elif isinstance(event, QualityMeasured):
            for name, value in event.quality.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(f"quality/{name}", value, event.step, walltime=event.time)
        elif isinstance(event, SamplesWritten) and event.step != self._grid_step:
            from PIL import Image

            self._grid_step = event.step
            with Image.open(event.path) as picture:
                pixels = np.asarray(picture)
            self.writer.add_image("samples", pixels, event.step, walltime=event.time,
                                  dataformats="HW" if pixels.ndim == 2 else "HWC")
        elif isinstance(event, Stopped):
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def summary_writer_class():
    """torch.utils.tensorboard.SummaryWriter, or a GanvasError saying how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise GanvasError(f"{named('tensorboard')} needs the tensorboard package ({err}): "
                          "pip install 'ganvas[tensorboard]'") from None
    return SummaryWriter


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
