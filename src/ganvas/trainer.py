"""The training loop: alternating discriminator and generator steps, with samples, metrics and checkpoints.

The loop knows models and objectives only through their registries and the run's
TrainConfig, and front ends only as listeners: it reports what happens as events
(ganvas.events) and prints nothing. It stops at a step boundary, saving, when asked:
by a `stop` event object (another thread), a stop-request file in the run folder
(another process, runfolder.request_stop), SIGTERM, or Ctrl-C (the last two only
when it runs in the main thread). It works in any thread.

Everything random is drawn from generators whose state is saved in each checkpoint,
and batch order is a pure function of (seed, step), so a resumed run continues
exactly as if it had never stopped.

Resuming takes the newest checkpoint that loads and checks clean (or the one asked
for); newer ones that are broken are set aside as `step-N.broken` with a warning, and
the history after the checkpoint resumed from is discarded: its metrics.jsonl lines
are dropped and later checkpoints set aside as `step-N.discarded` (`best.discarded`).
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

from ganvas import checkpoint as ckpt
from ganvas.config import TrainConfig, save_config, with_default_length
from ganvas.batches import Batch, BatchSampler
from ganvas.data import ImageDataset
from ganvas.data.holdout import write_holdout_record
from ganvas.distributed import Processes, shutdown
from ganvas.errors import CheckpointError, DiskFullError, GanvasError, named
from ganvas.events import (Alarm, CheckpointSaved, Event, Listener, Note, Progress, QualityMeasured,
                           SamplesWritten, Started, StepStats, Stopped)
from ganvas.files import append_text, atomic_write_bytes, atomic_write_text, is_temporary
from ganvas.images import to_uint8, write_grid
from ganvas.kinds import Session, Trainee, kind_of, set_up
from ganvas.listeners import EventLog, TensorBoardLog, TrainLog
from ganvas.metrics.alarms import AlarmBoard, discriminator_overpowering
from ganvas.metrics.quality import Judge
from ganvas.plots import plot_curves
from ganvas.runfolder import LOCK_FILE, RunLock, StatusWriter, clear_stop_request, stop_requested

METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
LOSS_PLOT_FILE = "losses.png"
BEST = "best"


class DivergedError(GanvasError):
    """Training met a NaN or Inf and stopped, after rolling back to the last good checkpoint."""


class Broadcast:
    """Sends each event to every listener. A listener that raises is reported once and gets no more events:
    a broken plot must not cost a training run. A full disk is different: nothing more could be saved, so once every
    listener has the event the DiskFullError is raised, and training stops (except on the last event, Stopped)."""

    def __init__(self, listeners: Iterable[Listener]):
        self.listeners = list(listeners)

    def __call__(self, event: Event) -> None:
        disk_full = None
        for listener in list(self.listeners):
            try:
                listener(event)
            except DiskFullError as err:
                disk_full = disk_full or err
            except Exception as err:  # noqa: BLE001 - whatever a listener does wrong, training goes on
                self.listeners.remove(listener)
                self(Note(event.step, text=f"a listener ({getattr(listener, '__name__', type(listener).__name__)}) "
                                           f"failed and was removed: {type(err).__name__}: {err}"))
        if disk_full is not None and not isinstance(event, Stopped):
            raise disk_full


@dataclass
class RunFiles:
    """Where a run keeps the metrics, grids and plots it writes, and the metrics logged so far."""

    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)

    def load_history(self, up_to_step: int) -> None:
        """Metrics logged after the checkpoint we resume from are dropped: those steps will run again. A last line
        cut short by a crash is dropped too."""
        path = self.run_dir / METRICS_FILE
        if path.exists():
            entries = []
            for line in path.read_text().splitlines():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            self.history = [entry for entry in entries if isinstance(entry, dict) and entry.get("step", 0) <= up_to_step]
            atomic_write_text(path, "".join(json.dumps(entry) + "\n" for entry in self.history))

    def record(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        append_text(self.run_dir / METRICS_FILE, json.dumps(entry) + "\n")

    def save_samples(self, images: torch.Tensor, columns: int | None = None, *, step: int) -> Path:
        path = self.run_dir / SAMPLES_DIR / f"step-{step:08d}.png"
        write_grid(to_uint8(images), path, columns)
        atomic_write_bytes(self.run_dir / SAMPLES_DIR / "latest.png", path.read_bytes())
        return path

    def plot_losses(self) -> None:
        losses = [entry for entry in self.history if "d_loss" in entry]
        if losses:
            plot_curves([e["step"] for e in losses], {name: [e[name] for e in losses] for name in ("d_loss", "g_loss")},
                        self.run_dir / LOSS_PLOT_FILE)


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> RunLock:
    """Lock the run folder for this trainer. A new run needs an unused folder; an existing run is only touched
    when resuming or overwriting it, and never while another process trains it."""
    if resume:
        if not (run_dir / "config.json").is_file():
            raise GanvasError(f"cannot resume {run_dir}: it is not a ganvas run folder (no config.json)")
        return RunLock(run_dir).acquire()
    exists = run_dir.exists() and any(p.name != LOCK_FILE for p in run_dir.iterdir())
    if exists and not overwrite:
        raise GanvasError(f"run folder {run_dir} already exists; continue it with `ganvas train --resume {run_dir}` "
                          f"or start over with {named('overwrite')} (deletes it)")
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir).acquire()
    for path in run_dir.iterdir():  # overwrite: everything but the lock we hold
        if path.name != LOCK_FILE:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return lock


class StopRequests:
    """Asks the loop to stop at the next step boundary: `stop` (a threading.Event, from another thread), the run's
    stop-request file (another process), and in the main thread SIGTERM and Ctrl-C (a second Ctrl-C aborts)."""

    def __init__(self, run_dir: Path, stop: threading.Event | None):
        self.run_dir = run_dir
        self.stop = stop
        self.signalled: str | None = None

    def reason(self) -> str | None:
        if self.signalled:
            return self.signalled
        if self.stop is not None and self.stop.is_set() or stop_requested(self.run_dir):
            return "stop_request"
        return None

    @contextmanager
    def handling_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only; there, Ctrl-C behaves as usual
            return

        def on_signal(signum: int, frame: Any) -> None:
            if signum == signal.SIGINT and self.signalled:
                raise KeyboardInterrupt
            self.signalled = "interrupt" if signum == signal.SIGINT else "stop_request"

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    stopped_by: str  # a key of events.STOP_REASONS
    checkpoint: Path
    main_process: bool = True  # False in the other processes of a run trained on several
    kind: str = ckpt.NOISE_TO_IMAGE  # what it trains (kinds.kind_of)


def train(config: TrainConfig, run_dir: Path, *, resume: bool = False, from_checkpoint: str | Path | None = None,
          overwrite: bool = False, device: str = "auto", listeners: Iterable[Listener] = (),
          stop: threading.Event | None = None) -> TrainResult:
    """Train (or continue training) the run in `run_dir` until its step target or time limit, or a stop request.

    Resuming continues from the newest checkpoint that loads clean, or from `from_checkpoint` (a checkpoint name in
    the run such as step-00000400 or best, a step number, or a checkpoint folder); see `resume_from`.
    Events go to `listeners` and to the run folder's train.log, events.jsonl and status.json (and its TensorBoard
    events, with the tensorboard option).
    """
    run_dir = Path(run_dir)
    config = with_default_length(config)
    processes, torch_device = Processes.from_environment(device)
    try:
        if processes.distributed and not processes.is_main:
            return _train_beside_the_main_process(config, run_dir, processes, torch_device)
        return _train(config, run_dir, processes, torch_device, resume, from_checkpoint, overwrite, listeners, stop)
    finally:
        if processes.distributed:
            shutdown()


def _train_beside_the_main_process(config: TrainConfig, run_dir: Path, processes: Processes,
                                   device: torch.device) -> TrainResult:
    """A process other than the main one: it trains its shard and writes nothing; the main process prepares the run
    folder, picks the checkpoint to resume from, and tells it (or why it could not start)."""
    try:
        session = set_up(config, processes, device)
    finally:
        problem, start = processes.broadcast(None)  # the main process's (problem, (step, checkpoint)) after setup
    if problem:
        raise GanvasError(f"the main process could not start the run: {problem}")
    step, checkpoint = start
    if checkpoint is not None:
        session.trainee.restore(ckpt.load_checkpoint(checkpoint))
    files, silent = RunFiles(run_dir), Broadcast([])  # read, never written, by this process
    loop = Loop(session, files, QualityMonitor(None, None, session.trainee, files, silent), silent, config,
                target_steps(config, session.sampler), StopRequests(run_dir, None), processes)
    return loop.run(step, step if checkpoint is not None else None)


def target_steps(config: TrainConfig, sampler: BatchSampler) -> int | None:
    """The run's total step count, from steps or epochs (None: only a time limit)."""
    return config.steps or (math.ceil(config.epochs * sampler.steps_per_epoch / config.n_critic) if config.epochs
                            else None)


def _train(config: TrainConfig, run_dir: Path, processes: Processes, torch_device: torch.device, resume: bool,
           from_checkpoint: str | Path | None, overwrite: bool, listeners: Iterable[Listener],
           stop: threading.Event | None) -> TrainResult:
    """The main process (the only one, or rank 0): it prepares and writes the run folder."""
    announced = []  # the other processes are told once: where to start, or why the run cannot start

    def announce(start: tuple[int, Path | None]) -> None:
        processes.broadcast((None, start))
        announced.append(start)

    try:
        return _train_main(config, run_dir, processes, torch_device, resume, from_checkpoint, overwrite, listeners,
                           stop, announce)
    except GanvasError as problem:
        if processes.distributed and not announced:
            processes.broadcast((problem.worded("flag"), None))
        raise


def _train_main(config: TrainConfig, run_dir: Path, processes: Processes, torch_device: torch.device, resume: bool,
                from_checkpoint: str | Path | None, overwrite: bool, listeners: Iterable[Listener],
                stop: threading.Event | None, announce: Callable[[tuple[int, Path | None]], None]) -> TrainResult:
    session = set_up(config, processes, torch_device, run_dir if resume else None)
    dataset, trainee = session.dataset, session.trainee
    outputs = [TensorBoardLog(run_dir)] if config.tensorboard else []  # fails here if the extra is missing
    lock = prepare_run_dir(run_dir, resume, overwrite)  # only now: a run that cannot start leaves no folder behind
    try:
        clear_stop_request(run_dir)  # a request left from an earlier session is not for this one
        for leftover in (run_dir / ckpt.CHECKPOINTS_DIR).glob(".*"):  # writes cut short by a killed process
            if is_temporary(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
        emit = Broadcast([TrainLog(run_dir), EventLog(run_dir), StatusWriter(run_dir), *outputs, *listeners])
        if lock.stale_holder:
            emit(Note(0, text=f"took over the run from {lock.stale_holder}, which is gone"))
        total_steps = target_steps(config, session.sampler)
        files = RunFiles(run_dir)
        step, saved_step, notes, resumed = 0, None, [], None
        if resume:
            resumed, notes = resume_from(trainee, run_dir, from_checkpoint)
            if resumed is not None:
                step = saved_step = resumed.step
                if resumed.processes != processes.world_size:
                    notes.append(f"this checkpoint was trained on {resumed.processes} processes, resumed on "
                                 f"{processes.world_size}: the global batch, its order and every random draw stay the "
                                 "same, but each batch is split differently, so results differ from an uninterrupted "
                                 "run by float rounding (and, on CPUs, by batch-norm statistics of the shards)")
            files.load_history(step)
        announce((step, resumed.path if resumed is not None else None))
        save_config(config, run_dir)
        write_holdout_record(run_dir, dataset, config.seed)
        session.write_run_files(run_dir)
        where = f"{processes.world_size} processes ({torch_device.type})" if processes.distributed else torch_device
        emit(Started(step, run_dir=run_dir, target_steps=total_steps, minutes=config.minutes, resumed=resume,
                     description=f"{describe(config, dataset, total_steps)} on {where}"
                                 f"{' in bf16 mixed precision' if trainee.bf16 else ''}"))
        for text in [*session.notes, *notes]:  # after Started, so that whoever follows this session's events sees them
            emit(Note(step, text=text))
        monitor = QualityMonitor.for_run(config, session, torch_device, files, emit)
        loop = Loop(session, files, monitor, emit, config, total_steps, StopRequests(run_dir, stop), processes)
        return loop.run(step, saved_step)
    finally:
        lock.release()


def resume_from(trainee: Trainee, run_dir: Path, chosen: str | Path | None = None) -> tuple[ckpt.Checkpoint | None, list[str]]:
    """Restore `trainee` for resuming the run: from the chosen checkpoint (whose errors are the caller's to see), else
    from the newest one that loads and checks clean, setting aside the broken ones after it (renamed step-N.broken).
    Checkpoints after the one restored are set aside too (step-N.discarded, best.discarded): that history is
    discarded, as its metrics are. Returns the checkpoint (None: the run has none yet) and warnings to log."""
    if chosen is not None:
        checkpoint = ckpt.load_checkpoint(ckpt.find_checkpoint(run_dir, chosen))
        trainee.restore(checkpoint)
        notes = [f"resuming from the chosen checkpoint {checkpoint.path} (step {checkpoint.step})"]
    else:
        checkpoint, notes = restore_newest_good(trainee, run_dir, "resuming from")
        if checkpoint is None:
            return None, notes
    return checkpoint, notes + discard_after(run_dir, checkpoint.step)


def restore_newest_good(trainee: Trainee, run_dir: Path, doing: str) -> tuple[ckpt.Checkpoint | None, list[str]]:
    """Restore the newest step checkpoint that loads and checks clean (finite weights that fit, a usable training
    state), and set aside the newer broken ones, with a warning for each that says why and what `doing` (e.g.
    "resuming from") took instead. With none clean nothing is renamed and the first reason is raised, since every
    checkpoint failing points at something else than damaged files. Returns (None, []) for a run with none yet."""
    broken: list[tuple[Path, CheckpointError]] = []
    for path in reversed(ckpt.step_checkpoints(run_dir)):
        try:
            checkpoint = ckpt.load_checkpoint(path)
            trainee.restore(checkpoint)
        except CheckpointError as why:
            broken.append((path, why))
            continue
        notes = []
        for bad, why in broken:
            aside = ckpt.set_aside(bad, ckpt.BROKEN)
            notes.append(f"WARNING: checkpoint {bad.name} is broken ({why.args[0]}); renamed it {aside.name}, "
                         f"{doing} {path.name} (step {checkpoint.step})")
        return checkpoint, notes
    if broken:
        reasons = "; ".join(f"{path.name}: {why.args[0]}" for path, why in broken[:3])
        raise CheckpointError(f"no checkpoint of {run_dir} loads clean ({reasons}); pick one with {named('from_')} "
                              f"or start over with {named('overwrite')}")
    return None, []


def discard_after(run_dir: Path, step: int) -> list[str]:
    """Set aside what the run saved after `step` (step checkpoints, and `best` if it is later or broken), since
    training continues from `step`; returns a note for each."""
    notes = []
    for path in ckpt.step_checkpoints(run_dir):
        if ckpt.checkpoint_number(path) > step:
            aside = ckpt.set_aside(path, ckpt.DISCARDED)
            notes.append(f"set aside {path.name} as {aside.name}: training continues from step {step}")
    best = ckpt.named_checkpoint(run_dir, BEST)
    if best.is_dir():
        try:
            later = ckpt.load_checkpoint(best).step > step
        except CheckpointError as why:
            aside = ckpt.set_aside(best, ckpt.BROKEN)
            notes.append(f"WARNING: checkpoint {BEST} is broken ({why.args[0]}); renamed it {aside.name}")
        else:
            if later:
                aside = ckpt.set_aside(best, ckpt.DISCARDED)
                notes.append(f"set aside {BEST} as {aside.name}: it is later than step {step}, "
                             "where training continues")
    return notes


def describe(config: TrainConfig, dataset: ImageDataset, target_steps: int | None) -> str:
    length = f"to step {target_steps}" if target_steps else ""
    if config.minutes:
        length = (length + " or " if length else "") + f"for {config.minutes:g} min"
    task = "" if config.task == "generate" else f"task {config.task}, "
    augmented = "" if not config.augment else (f", DiffAugment {config.augment}" if config.task == "generate"
                                                else f", pairs augmented by {config.augment}")
    return (f"preset {config.preset}, {task}model {config.model}, loss {config.loss}, "
            f"{dataset.name}{'' if config.data else ' ' + config.split} "
            f"({len(dataset)} images {'x'.join(map(str, dataset.image_shape))}"
            f"{f', {config.holdout} held out' if config.holdout else ''}), "
            f"batch {config.batch_size}{augmented}"
            f"{f' (ADA, target {config.ada_target:g})' if config.ada_target else ''}"
            f"{f', self-conditioned on {config.self_condition} clusters' if config.self_condition else ''}, {length}")


class QualityMonitor:
    """Quality metrics every eval_every steps, alarms, and the `best` checkpoint where the judge ranks one.

    The run's kind picks the judge and what it judges (kinds.Session.judge): for a noise-to-image GAN the MNIST
    evaluator on named datasets (digits) and thumbnails on your own images (the data option).
    """

    def __init__(self, judge: Judge | None, produce: Callable[[], torch.Tensor] | None, trainee: Trainee,
                 files: RunFiles, emit: Listener):
        self.judge, self.produce, self.trainee = judge, produce, trainee
        self.files = files
        self.emit = emit
        self.alarms = AlarmBoard()
        self.last: dict[str, float] | None = None  # the latest measurement, which each checkpoint keeps
        best = ckpt.named_checkpoint(files.run_dir, BEST)
        try:
            quality = ckpt.load_checkpoint(best).quality if best.is_dir() else None
        except CheckpointError:  # a broken best is beaten by the first measurement
            quality = None
        value = quality.get(judge.best_key) if quality and judge and judge.best_key else None
        self.best = value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.inf

    @classmethod
    def for_run(cls, config: TrainConfig, session: Session, device: torch.device, files: RunFiles,
                emit: Listener) -> "QualityMonitor":
        if config.eval_every == 0:
            return cls(None, None, session.trainee, files, emit)
        try:
            judge, produce = session.judge(config.eval_images, device)
        except GanvasError as why:
            emit(Note(0, text=f"no quality metrics for this run: {why}"))
            return cls(None, None, session.trainee, files, emit)
        return cls(judge, produce, session.trainee, files, emit)

    def check_losses(self, step: int) -> None:
        self._say(step, {"d_overpowering_g": discriminator_overpowering(
            [entry for entry in self.files.history if "d_accuracy" in entry])})

    def evaluate(self, step: int) -> None:
        if self.judge is None:
            return
        quality = self.judge.judge(self.produce())
        self.last = quality
        self.files.record({"step": step, "quality": quality})
        self.emit(QualityMeasured(step, quality=quality, summary=self.judge.summary(quality)))
        self._say(step, self.judge.alarms(quality))
        key = self.judge.best_key
        if key and quality[key] < self.best:
            self.best = quality[key]
            path = self.trainee.save(self.files.run_dir, step, name=BEST, quality=quality)
            self.emit(CheckpointSaved(step, path=path, name=BEST))

    def _say(self, step: int, alarms: dict[str, str | None]) -> None:
        for name, text, active in self.alarms.update(alarms):
            self.emit(Alarm(step, name=name, text=text, active=active))


class Loop:
    """One training session of a run: steps until a length or a stop request, with its outputs on the way."""

    def __init__(self, session: Session, files: RunFiles, monitor: QualityMonitor, emit: Listener,
                 config: TrainConfig, target_steps: int | None, stops: StopRequests,
                 processes: Processes = Processes()):
        self.session, self.trainee, self.sampler = session, session.trainee, session.sampler
        self.files, self.monitor, self.emit = files, monitor, emit
        self.config, self.target_steps, self.stops = config, target_steps, stops
        # With several processes only the main one writes the run folder; all take every decision together.
        self.processes = processes
        self.writes = processes.is_main

    def run(self, step: int, saved_step: int | None) -> TrainResult:
        config, target_steps = self.config, self.target_steps
        started = time.monotonic()
        deadline = started + config.minutes * 60 if config.minutes else math.inf
        window_start, window = time.monotonic(), []
        stopped_by = "steps"
        try:
            with self.stops.handling_signals():
                while target_steps is None or step < target_steps:
                    reason = self.stops.reason()
                    time_up, stop_requested, interrupted = self.processes.agree(
                        [time.monotonic() >= deadline, reason == "stop_request", reason == "interrupt"])
                    if time_up:
                        stopped_by = "time"
                        break
                    if stop_requested or interrupted:
                        stopped_by = "interrupt" if interrupted else "stop_request"
                        break
                    stats = self.trainee.train_step(
                        step, lambda i: self._shard(self.sampler.batch(step * config.n_critic + i)))
                    # The whole batch's statistics (the mean of the shards'), read in one device sync.
                    values = dict(zip(stats, self.processes.mean(torch.stack(list(stats.values()))).tolist()))
                    if not all(map(math.isfinite, values.values())):
                        self._roll_back(step + 1, values)
                    step += 1
                    window.append(values)
                    self.emit(Progress(step, target_steps=target_steps, elapsed_s=time.monotonic() - started,
                                       minutes=config.minutes))
                    if step % config.log_every == 0:
                        now = time.monotonic()
                        self._log_stats(step, window, now - window_start, now - started)
                        window_start, window = now, []
                    if config.eval_every and step % config.eval_every == 0 and self.writes:
                        self.monitor.evaluate(step)  # once, by the main process
                    if step % config.sample_every == 0 and self.writes:
                        self._save_samples(step)
                    if step % config.checkpoint_every == 0:
                        self._save(step)
                        saved_step = step
            if saved_step != step:
                self._save(step)
            grid = self._save_samples(step) if self.writes else None
        except DivergedError as err:
            self.emit(Stopped(step, reason="diverged", checkpoint=_latest(self.files.run_dir), detail=str(err)))
            raise
        except DiskFullError as err:
            latest = _latest(self.files.run_dir)
            kept = f"the latest checkpoint, {latest.name}, is complete" if latest else "no checkpoint was saved yet"
            full = DiskFullError(f"the disk is full: {err.path} could not be written, so training stopped at step "
                                 f"{step}; {kept}. Free space on that disk (nothing was left half-written), then "
                                 f"continue with {named('resume', str(self.files.run_dir))}", err.path, err.errno)
            self.emit(Stopped(step, reason="disk_full", checkpoint=latest,
                              detail=str(full).removeprefix("the disk is full: ")))
            raise full from None
        except KeyboardInterrupt:
            self.emit(Stopped(step, reason="interrupt", checkpoint=_latest(self.files.run_dir),
                              detail="aborted by a second Ctrl-C, nothing saved since the last checkpoint"))
            raise
        except BaseException as err:
            self.emit(Stopped(step, reason="error", checkpoint=_latest(self.files.run_dir),
                              detail=f"{type(err).__name__}: {err}"))
            raise
        run_dir = self.files.run_dir
        self.emit(Stopped(step, reason=stopped_by, checkpoint=_latest(run_dir),
                          detail=f"samples in {grid}, resume with `ganvas train --resume {run_dir}`"))
        if stopped_by == "stop_request" and self.writes:
            clear_stop_request(run_dir)
        self.processes.barrier()  # the others return once the main process has saved
        return TrainResult(run_dir, step, stopped_by, _latest(run_dir), self.writes, kind_of(config))

    def _shard(self, batch: Batch) -> Batch:
        """This process's part of a global batch (all of it with one process)."""
        if not self.processes.distributed:
            return batch
        size = self.processes.shard_size(len(batch[0]))
        cut = slice(self.processes.rank * size, (self.processes.rank + 1) * size)
        images, second = batch  # labels, a second set of images, or None
        return images[cut], None if second is None else second[cut]

    def _log_stats(self, step: int, window: list[dict[str, float]], window_s: float, elapsed_s: float) -> None:
        # Terms applied on some steps only (lazy R1) are averaged over the steps that have them.
        names = list(dict.fromkeys(name for values in window for name in values))
        stats = {name: sum(column) / len(column)
                 for name in names if (column := [values[name] for values in window if name in values])}
        entry = {"step": step, "epoch": round(step / self.sampler.steps_per_epoch, 3), **stats,
                 "images_per_s": len(window) * self.config.batch_size / window_s, "elapsed_s": round(elapsed_s, 2)}
        if not self.writes:
            return
        self.files.record(entry)
        self.emit(StepStats(step, stats=stats, epoch=entry["epoch"], images_per_s=entry["images_per_s"],
                            elapsed_s=entry["elapsed_s"]))
        self.monitor.check_losses(step)

    def _save_samples(self, step: int) -> Path:
        path = self.files.save_samples(*self.session.grid(), step=step)
        self.files.plot_losses()
        self.emit(SamplesWritten(step, path=path))
        return path

    def _save(self, step: int) -> None:
        if not self.trainee.weights_are_finite():  # the same weights on every process: all take this branch together
            self._roll_back(step, {"weights": math.nan})
        if not self.writes:
            return
        path = self.trainee.save(self.files.run_dir, step, quality=self.monitor.last)
        ckpt.prune_checkpoints(self.files.run_dir, self.config.keep_checkpoints)
        self.emit(CheckpointSaved(step, path=path, name=path.name))

    def _roll_back(self, step: int, values: dict[str, float]) -> None:
        """A NaN or Inf: go back to the last good checkpoint, say so, and stop with advice. Never saves."""
        what = ", ".join(f"{name}={value:.4g}" for name, value in values.items())
        if not self.writes:  # the main process rolls the run back and says so
            raise DivergedError(f"training diverged at step {step} ({what})")
        try:
            good, notes = restore_newest_good(self.trainee, self.files.run_dir, "rolling back to")
        except CheckpointError as why:
            good, notes = None, [f"no checkpoint to roll back to loads clean: {why.args[0]}"]
        for text in notes:
            self.emit(Note(step, text=text))
        if good is not None:
            where = f"rolled back to the last good checkpoint, {good.path.name} (step {good.step})"
        elif notes:
            where = "no checkpoint loads clean"
        else:
            where = "no checkpoint was saved yet"
        self.emit(Note(step, text=f"step {step}: training diverged ({what}); {where}"))
        raise DivergedError(f"training diverged at step {step} ({what}); {where}, nothing after it was saved. "
                            f"Resume with a lower {named('lr_g')}/{named('lr_d')} (or another {named('seed')}) "
                            "to continue")


def _latest(run_dir: Path) -> Path | None:
    checkpoints = ckpt.step_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None
