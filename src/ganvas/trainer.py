"""The training loop: alternating discriminator and generator steps, with samples, metrics and checkpoints.

The loop knows models and objectives only through their registries and the run's
TrainConfig. Everything random is drawn from generators whose state is saved in
each checkpoint, and batch order is a pure function of (seed, step), so a resumed
run continues exactly as if it had never stopped.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from tqdm import tqdm

from ganvas import checkpoint as ckpt
from ganvas.config import TrainConfig, save_config, with_default_length
from ganvas.data import ImageDataset, load_training_data, to_model_range
from ganvas.devices import resolve_device
from ganvas.errors import GanvasError
from ganvas.images import to_uint8, write_grid
from ganvas.gan import GAN, STEP_STATS, Batch
from ganvas.latents import balanced_labels, gaussian_latents
from ganvas.metrics.alarms import AlarmBoard, discriminator_overpowering
from ganvas.metrics.judges import judge_for
from ganvas.metrics.quality import Judge
from ganvas.plots import plot_curves

METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
SAMPLES_DIR = "samples"
LOSS_PLOT_FILE = "losses.png"
GRID_SIZE = 64
GRID_ROW = 8  # images per class in a conditional model's grid
BEST = "best"


class BatchSampler:
    """Shuffled batches without replacement, a fresh permutation each epoch, indexed by batch number alone."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int):
        if len(images) < batch_size:
            raise GanvasError(f"the dataset has {len(images)} images, fewer than one batch of {batch_size}; "
                              "use a smaller --batch-size")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = len(images) // batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def batch(self, number: int) -> Batch:
        epoch, position = divmod(number, self.steps_per_epoch)
        if epoch != self._epoch:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch = epoch
            self._order = torch.randperm(len(self.images), generator=rng).to(self.images.device)
        indices = self._order[position * self.batch_size:(position + 1) * self.batch_size]
        return self.images[indices], None if self.labels is None else self.labels[indices]


@dataclass
class RunFiles:
    """Where a run keeps what it writes, and its human-readable log."""

    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)

    def log(self, message: str) -> None:
        tqdm.write(message, file=sys.stderr)
        with open(self.run_dir / LOG_FILE, "a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def load_history(self, up_to_step: int) -> None:
        """Metrics logged after the checkpoint we resume from are dropped: those steps will run again."""
        path = self.run_dir / METRICS_FILE
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            self.history = [entry for entry in lines if entry["step"] <= up_to_step]
            path.write_text("".join(json.dumps(entry) + "\n" for entry in self.history))

    def record(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        with open(self.run_dir / METRICS_FILE, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def save_samples(self, images: torch.Tensor, step: int, columns: int | None = None) -> Path:
        path = self.run_dir / SAMPLES_DIR / f"step-{step:08d}.png"
        write_grid(to_uint8(images), path, columns)
        shutil.copyfile(path, self.run_dir / SAMPLES_DIR / "latest.png")
        return path

    def plot_losses(self) -> None:
        losses = [entry for entry in self.history if "d_loss" in entry]
        if losses:
            plot_curves([e["step"] for e in losses], {name: [e[name] for e in losses] for name in ("d_loss", "g_loss")},
                        self.run_dir / LOSS_PLOT_FILE)


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """A new run needs an unused folder; an existing run is only touched with --resume or --overwrite."""
    exists = run_dir.exists() and any(run_dir.iterdir())
    if resume:
        if not (run_dir / "config.json").is_file():
            raise GanvasError(f"cannot resume {run_dir}: it is not a ganvas run folder (no config.json)")
        return
    if exists and not overwrite:
        raise GanvasError(f"run folder {run_dir} already exists; continue it with `ganvas train --resume {run_dir}` "
                          "or start over with --overwrite (deletes it)")
    if exists:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


@contextmanager
def stop_requests() -> Iterator[list[bool]]:
    """The first Ctrl-C asks the loop to stop and save at the next step boundary; a second one aborts."""
    requested = [False]

    def handler(signum: int, frame: Any) -> None:
        if requested[0]:
            raise KeyboardInterrupt
        requested[0] = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
        yield requested
        return
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    stopped_by: str
    checkpoint: Path


def train(config: TrainConfig, run_dir: Path, *, resume: bool = False, overwrite: bool = False,
          device: str = "auto", progress: bool = True) -> TrainResult:
    """Train (or continue training) the run in `run_dir` until its step target or time limit."""
    run_dir = Path(run_dir)
    config = with_default_length(config)
    torch_device = resolve_device(device)
    dataset = load_training_data(config)
    gan = GAN(config, dataset.image_shape, torch_device, dataset.num_classes)
    sampler = BatchSampler(to_model_range(dataset.images).to(torch_device),
                           dataset.labels.to(torch_device) if gan.num_classes else None,
                           config.batch_size, config.seed)
    prepare_run_dir(run_dir, resume, overwrite)  # only now: a run that cannot start leaves no folder behind
    target_steps = config.steps or (
        math.ceil(config.epochs * sampler.steps_per_epoch / config.n_critic) if config.epochs else None)
    files = RunFiles(run_dir)
    step, saved_step = 0, None
    if resume:
        checkpoints = ckpt.step_checkpoints(run_dir)
        if checkpoints:
            latest = ckpt.load_checkpoint(checkpoints[-1])
            gan.restore(latest)
            step = saved_step = latest.step
        files.load_history(step)
    save_config(config, run_dir)
    files.log(f"{'resuming at step ' + str(step) if resume else 'starting'}: {describe(config, dataset, target_steps)} "
              f"on {torch_device}{' in bf16 mixed precision' if gan.bf16 else ''}")
    monitor = QualityMonitor.for_run(config, dataset, torch_device, files, gan.num_classes)
    return _loop(gan, sampler, files, monitor, step, saved_step, target_steps, config, progress)


def describe(config: TrainConfig, dataset: ImageDataset, target_steps: int | None) -> str:
    length = f"to step {target_steps}" if target_steps else ""
    if config.minutes:
        length = (length + " or " if length else "") + f"for {config.minutes:g} min"
    return (f"preset {config.preset}, model {config.model}, loss {config.loss}, "
            f"{dataset.name}{'' if config.data else ' ' + config.split} "
            f"({len(dataset)} images {'x'.join(map(str, dataset.image_shape))}), "
            f"batch {config.batch_size}{', DiffAugment ' + config.augment if config.augment else ''}, {length}")


class QualityMonitor:
    """Quality metrics every eval_every steps, alarms, and the `best` checkpoint where the judge ranks one.

    Named datasets (digits) are judged by the MNIST evaluator; your own images (--data) on thumbnails.
    """

    def __init__(self, judge: Judge | None, config: TrainConfig, files: RunFiles, num_classes: int | None):
        self.judge = judge
        self.files = files
        self.latents = gaussian_latents(judge.count, config.z_dim, config.seed + 2) if judge else None
        self.labels = balanced_labels(judge.count, num_classes) if judge and num_classes else None
        self.alarms = AlarmBoard()
        best = files.run_dir / ckpt.CHECKPOINTS_DIR / BEST
        quality = ckpt.load_checkpoint(best).meta.get("quality") if best.is_dir() else None
        self.best = quality[judge.best_key] if quality and judge and judge.best_key else math.inf

    @classmethod
    def for_run(cls, config: TrainConfig, dataset: ImageDataset, device: torch.device, files: RunFiles,
                num_classes: int | None) -> "QualityMonitor":
        if config.eval_every == 0:
            return cls(None, config, files, num_classes)
        try:
            judge = judge_for(dataset, own_images=config.data is not None, count=config.eval_images, device=device)
        except GanvasError as why:
            files.log(f"no quality metrics for this run: {why}")
            return cls(None, config, files, num_classes)
        return cls(judge, config, files, num_classes)

    def check_losses(self, step: int) -> None:
        self._say(step, {"d_overpowering_g": discriminator_overpowering(
            [entry for entry in self.files.history if "d_accuracy" in entry])})

    def evaluate(self, gan: GAN, step: int) -> dict[str, float] | None:
        if self.judge is None:
            return None
        quality = self.judge.judge(gan.generate(self.latents, self.labels))
        self.files.record({"step": step, "quality": quality})
        self._say(step, self.judge.alarms(quality))
        key = self.judge.best_key
        if key and quality[key] < self.best:
            self.best = quality[key]
            gan.save(self.files.run_dir, step, name=BEST, quality=quality)
        return quality

    def _say(self, step: int, alarms: dict[str, str | None]) -> None:
        for line in self.alarms.update(step, alarms):
            self.files.log(line)


def _loop(gan: GAN, sampler: BatchSampler, files: RunFiles, monitor: QualityMonitor, step: int,
          saved_step: int | None, target_steps: int | None, config: TrainConfig, progress: bool) -> TrainResult:
    # A conditional grid has one row per class.
    grid_size = GRID_ROW * gan.num_classes if gan.num_classes else GRID_SIZE
    fixed_z = gaussian_latents(grid_size, config.z_dim, config.seed)
    fixed_labels = balanced_labels(grid_size, gan.num_classes) if gan.num_classes else None
    columns = GRID_ROW if gan.num_classes else None
    started = time.monotonic()
    deadline = started + config.minutes * 60 if config.minutes else math.inf
    window_start, window = time.monotonic(), []
    stopped_by = "steps"
    bar = tqdm(total=target_steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
               file=sys.stderr, mininterval=0.5)
    with stop_requests() as stop, bar:
        while target_steps is None or step < target_steps:
            if time.monotonic() >= deadline:
                stopped_by = "time"
                break
            if stop[0]:
                stopped_by = "interrupt"
                break
            stats = gan.train_step(step, lambda i: sampler.batch(step * config.n_critic + i)).tolist()
            if not all(map(math.isfinite, stats)):
                _roll_back(gan, files, step + 1, dict(zip(STEP_STATS, stats)))
            step += 1
            window.append(stats)
            if step % 10 == 0 or step == target_steps:
                bar.update(step - bar.n)
            if step % config.log_every == 0:
                now = time.monotonic()
                entry = {"step": step, "epoch": round(step / sampler.steps_per_epoch, 3),
                         **{name: sum(column) / len(window) for name, column in zip(STEP_STATS, zip(*window))},
                         "images_per_s": len(window) * config.batch_size / (now - window_start),
                         "elapsed_s": round(now - started, 2)}
                files.record(entry)
                monitor.check_losses(step)
                bar.set_postfix(d_loss=f"{entry['d_loss']:.3f}", g_loss=f"{entry['g_loss']:.3f}",
                                img_s=f"{entry['images_per_s']:.0f}", refresh=False)
                window_start, window = now, []
            if config.eval_every and step % config.eval_every == 0:
                quality = monitor.evaluate(gan, step)
                if quality:
                    bar.set_postfix(monitor.judge.summary(quality), refresh=False)
            if step % config.sample_every == 0:
                files.save_samples(gan.generate(fixed_z, fixed_labels), step, columns)
                files.plot_losses()
            if step % config.checkpoint_every == 0:
                _save(gan, files, step, config)
                saved_step = step
    if saved_step != step:
        _save(gan, files, step, config)
    grid = files.save_samples(gan.generate(fixed_z, fixed_labels), step, columns)
    files.plot_losses()
    reason = {"steps": "reached the step target", "time": "time is up", "interrupt": "stopped by Ctrl-C"}[stopped_by]
    files.log(f"step {step}: {reason}; samples in {grid}, resume with `ganvas train --resume {files.run_dir}`")
    return TrainResult(files.run_dir, step, stopped_by, ckpt.step_checkpoints(files.run_dir)[-1])


def _save(gan: GAN, files: RunFiles, step: int, config: TrainConfig) -> None:
    if not gan.weights_are_finite():
        _roll_back(gan, files, step, {"weights": math.nan})
    path = gan.save(files.run_dir, step)
    ckpt.prune_checkpoints(files.run_dir, config.keep_checkpoints)
    files.log(f"step {step}: saved {path}")


def _roll_back(gan: GAN, files: RunFiles, step: int, values: dict[str, float]) -> None:
    """A NaN or Inf: go back to the last good checkpoint, say so, and stop with advice. Never saves."""
    what = ", ".join(f"{name}={value:.4g}" for name, value in values.items())
    checkpoints = ckpt.step_checkpoints(files.run_dir)
    if checkpoints:
        good = ckpt.load_checkpoint(checkpoints[-1])
        gan.restore(good)
        where = f"rolled back to the last good checkpoint, step {good.step}"
    else:
        where = "no checkpoint was saved yet"
    files.log(f"step {step}: training diverged ({what}); {where}")
    raise GanvasError(f"training diverged at step {step} ({what}); {where}, nothing after it was saved. "
                      f"Resume with a lower --lr-g/--lr-d (or another --seed) to continue")
