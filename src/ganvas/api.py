"""The Python API: train runs, load generators, list runs. The CLI, notebooks and the studio all call this.

    import ganvas
    run = ganvas.train(preset="mnist", steps=2000)          # blocks; returns a Run
    run = ganvas.train(preset="mnist", background=True)     # returns at once; run.stop(), run.wait()
    g = ganvas.load(run)                                    # or a run folder, checkpoint folder, "RUN:best"
    g.sample(16, seed=7).save("grid.png")
    ganvas.runs("runs")                                     # every run there, with its status

docs/api.md is the guide.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import queue
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ganvas import checkpoint as ckpt
from ganvas.errors import GanvasError, named, word
from ganvas.events import EVENT_TYPES, Event, Listener, Stopped, follow_events
from ganvas.runfolder import RunInfo, list_runs, request_stop, run_info

if TYPE_CHECKING:
    from ganvas.config import TrainConfig
    from ganvas.latentfile import Latent

DEFAULT_SAMPLES = 64
ROW = 8  # a conditional model's default grid: a row of 8 per class


# --- training -------------------------------------------------------------------------------------------------

def train(preset: str | None = None, run: str | Path | None = None, resume: str | Path | None = None, *,
          from_: str | Path | None = None, overwrite: bool = False, config_file: str | Path | None = None,
          device: str = "auto", listeners: Sequence[Listener] = (), progress: bool | str = "auto",
          background: bool = False, **options: Any) -> "Run":
    """Train a new run, or continue one (`resume=RUN_FOLDER`), and return it as a Run.

    Resuming continues from the newest checkpoint that loads clean (newer broken ones are renamed step-N.broken,
    with a warning), or from `from_`: a checkpoint of the run (a name such as "step-00000400" or "best", a step
    number, or a checkpoint folder). What the run saved after that checkpoint is discarded: its metrics, and its
    later checkpoints, which are set aside as step-N.discarded.

    options are the training options (`ganvas train --help`, docs/api.md): the same names as the CLI's flags and
    the keys of a YAML/JSON `config_file`; those given win over the file, which wins over the preset. A resumed
    run keeps its settings and takes only a new length (steps, epochs, minutes).

    progress: "auto" (a notebook view in Jupyter, a progress bar in a terminal), "notebook", True (a terminal
    bar), "lines" (log lines on stderr, no bar) or False (nothing shown; the run folder's logs are written anyway). listeners: more callables that receive every event (ganvas.events).
    background: train in a thread and return at once; `run.events()`, `run.stop()` and `run.wait()` follow it.
    """
    from ganvas.config import resumed_run_config
    from ganvas.trainer import train as train_run

    if preset is not None:
        options["preset"] = preset
    if from_ is not None and resume is None:
        raise GanvasError(f"{named('from_')} picks the checkpoint a run continues from: give the run with "
                          f"{named('resume')}")
    if resume is not None:
        if run is not None and Path(run) != Path(resume):
            raise GanvasError(f"give the run to continue as {named('resume')} alone, not also {named('run')}")
        if config_file is not None or overwrite:
            raise GanvasError(f"resuming continues a run with its own settings; drop "
                              f"{named('config_file') if config_file else named('overwrite')}")
        config = resumed_run_config(Path(resume), options)
        run_dir = Path(resume)
    else:
        config = _new_run_config(options, config_file)
        data_name = Path(config.data).stem if config.data else config.dataset
        run_dir = Path(run) if run is not None else Path("runs") / f"{config.preset}-{data_name}"
    handle = Run(run_dir)
    all_listeners = [*_progress_listeners(progress), *listeners, handle._queue_event]
    handle._start(lambda stop: train_run(config, run_dir, resume=resume is not None, from_checkpoint=from_,
                                         overwrite=overwrite, device=device, listeners=all_listeners, stop=stop),
                  background)
    return handle


def check_training(preset: str | None = None, config_file: str | Path | None = None, **options: Any) -> dict[str, Any]:
    """The settings `train(preset, config_file=..., **options)` would start a new run with, as a dict of options,
    after every check that needs neither the images nor the networks; raises GanvasError saying what is wrong.
    For front ends that check a form before they start anything (the studio's Train page)."""
    if preset is not None:
        options["preset"] = preset
    return _new_run_config(options, config_file).to_dict()


def _new_run_config(options: dict[str, Any], config_file: str | Path | None = None) -> "TrainConfig":
    """A new run's config from its options (the preset's choices that depend on the data count its images), checked
    as far as it can be before any work."""
    from ganvas.config import new_run_config
    from ganvas.data import count_images
    from ganvas.kinds import check_options

    config = new_run_config(options, config_file,
                            count_images=lambda c: count_images(c.data, c.dataset, c.split) - c.holdout)
    check_options(config)
    return config


def train_on_processes(train_arguments: Sequence[str], nproc_per_node: int, nnodes: int = 1,
                       rdzv_endpoint: str | None = None) -> None:
    """Run `ganvas train ARGUMENTS` as one run on nproc_per_node processes here (nnodes machines in all), as
    `torchrun --nproc-per-node N -m ganvas -- train ARGUMENTS` does (docs/distributed.md)."""
    from ganvas.distributed import launch

    if nproc_per_node < 1 or nnodes < 1:
        raise GanvasError(f"{named('nproc_per_node')} and {named('nnodes')} must be at least 1")
    if nnodes > 1 and not rdzv_endpoint:
        raise GanvasError(f"{named('nnodes', nnodes)} needs {named('rdzv_endpoint')} HOST:PORT, the address where the "
                          "machines meet (the same on every machine)")
    launch(list(train_arguments), nproc_per_node, nnodes, rdzv_endpoint)


def _progress_listeners(progress: bool | str) -> list[Listener]:
    from ganvas.listeners import NotebookProgress, TerminalProgress

    if progress == "auto":
        progress = "notebook" if _in_notebook() else True
    if progress == "notebook":
        return [NotebookProgress()]
    if progress == "lines":
        return [TerminalProgress(bar=False)]
    return [TerminalProgress()] if progress else []


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ipython = shell.get_ipython() if shell and hasattr(shell, "get_ipython") else None
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


class Run:
    """A run folder: its status and outputs, and, while this process trains it, control of that training."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._events: queue.Queue[Event] | None = None
        self._result = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        info = self.info()
        if info is None:
            return f"Run({str(self.path)!r}: not a run folder yet)"
        return f"Run({str(self.path)!r}: {info.status} at step {info.step}, preset {info.preset})"

    def __fspath__(self) -> str:
        return str(self.path)

    # status, read from the folder: the same whichever process trains it
    def info(self) -> RunInfo | None:
        return run_info(self.path)

    def _info_field(self, name: str, default: Any) -> Any:
        info = self.info()
        return getattr(info, name) if info is not None else default

    status = property(lambda self: self._info_field("status", "new"),
                      doc="training, finished, stopped, diverged, failed, or new")
    step = property(lambda self: self._info_field("step", 0))
    stats = property(lambda self: self._info_field("stats", {}), doc="the latest training statistics")
    quality = property(lambda self: self._info_field("quality", {}), doc="the latest quality measurement")
    alarms = property(lambda self: self._info_field("alarms", {}), doc="the alarms that are on: name -> advice")

    @property
    def running(self) -> bool:
        """Whether this process is training the run now."""
        return self._thread is not None and self._thread.is_alive()

    # control
    def _start(self, work, background: bool) -> None:
        self._events = queue.Queue()

        def target() -> None:
            try:
                self._result = work(self._stop)
            except BaseException as err:  # noqa: BLE001 - handed to wait(), in the caller's thread
                self._error = err

        if not background:
            target()
            self._raise_error()
            return
        self._thread = threading.Thread(target=target, name=f"ganvas-train-{self.path.name}", daemon=True)
        self._thread.start()

    def _queue_event(self, event: Event) -> None:
        if self._events is not None:
            self._events.put(event)

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def stop(self) -> None:
        """Stop training at the next step boundary, saving: this process's training at once, or another process's
        through the run folder's stop-request file."""
        if self.running:
            self._stop.set()
        else:
            request_stop(self.path)

    def wait(self, timeout: float | None = None):
        """Wait for this process's training of the run to end; returns its result (trainer.TrainResult) and raises
        what stopped it, if that was an error."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"{self.path} is still training after {timeout} s")
        self._raise_error()
        return self._result

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """The training's events as they happen, until it stops: from this process's training if it started here,
        else followed in the run's events.jsonl. timeout: give up after that many seconds with nothing new."""
        if self._events is None:
            for data in follow_events(self.path, timeout_s=timeout):
                yield event_from_dict(data)
            return
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            yield event
            if isinstance(event, Stopped):
                return

    def load(self, device: str = "cpu", checkpoint: str | None = None) -> "Generator":
        """The run's generator (latest checkpoint, or the named one, e.g. "best")."""
        return load(f"{self.path}:{checkpoint}" if checkpoint else self.path, device)


def event_from_dict(data: dict[str, Any]) -> Event:
    """An event read back from events.jsonl (paths stay strings)."""
    cls = EVENT_TYPES[data["event"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in names})


def presets() -> dict[str, str]:
    """The named training presets and what each is for."""
    from ganvas.config import PRESETS

    return {name: preset.description for name, preset in PRESETS.items()}


def runs(folder: str | Path = "runs") -> list[Run]:
    """The runs under `folder` (or `folder` itself if it is a run), most recently updated first."""
    return [Run(info.path) for info in list_runs(Path(folder))]


# --- generating -----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GeneratorInfo:
    path: Path  # the checkpoint
    step: int
    preset: str | None
    model: str
    dataset: str | None
    image_shape: tuple[int, int, int]  # channels, height, width
    z_dim: int
    classes: int | None  # number of classes of a conditional model
    quality: dict[str, float] | None  # the last quality measured in training, where the checkpoint keeps one


def load(target: str | Path | Run, device: str = "cpu") -> "Generator":
    """The generator of a run folder (its latest checkpoint), a checkpoint folder, or "RUN:NAME" (e.g. RUN:best)."""
    from ganvas.sampling import load_generator

    network, checkpoint = load_generator(target.path if isinstance(target, Run) else target, device)
    return Generator(network, checkpoint)


class Generator:
    """A trained generator: samples, walks, variations and evaluation."""

    def __init__(self, network: torch.nn.Module, checkpoint: ckpt.Checkpoint):
        self.network = network
        self.checkpoint = checkpoint
        from ganvas.sampling import generator_role

        config = checkpoint.config
        text = lambda value: value if isinstance(value, str) else None  # noqa: E731 - meta.json may hold anything
        self.info = GeneratorInfo(
            path=checkpoint.path, step=checkpoint.step, preset=text(config.get("preset")),
            model=checkpoint.networks[generator_role(checkpoint)]["model"],
            dataset=Path(config["data"]).name if text(config.get("data")) else text(config.get("dataset")),
            image_shape=tuple(network.image_shape), z_dim=network.z_dim,
            classes=getattr(network, "num_classes", None), quality=checkpoint.quality)

    def __repr__(self) -> str:
        i = self.info
        classes = f", {i.classes} classes" if i.classes else ""
        return (f"Generator({i.model} from {i.path}, step {i.step}, images {'x'.join(map(str, i.image_shape))}"
                f"{classes})")

    def sample(self, n: int | None = None, seed: int = 0, class_: int | None = None,
               truncation: float = 1.0, latent: Any = None) -> "Images":
        """n images (default 64; a conditional model: a row of 8 per class); the same seed gives the same images.
        latent: instead of seeds, the image of a latent file (or Latent), or a row of several; class_ re-renders it
        as another class of a conditional model."""
        from ganvas.sampling import generate

        if latent is not None:
            if n is not None:
                raise GanvasError(f"{named('latent')} gives the images itself: drop {named('n')}")
            return self.render(latent, class_, truncation)
        rows_per_class = self.info.classes is not None and class_ is None and n is None
        count = n if n is not None else (ROW * self.info.classes if rows_per_class else DEFAULT_SAMPLES)
        if count < 1:
            raise GanvasError(f"{named('n')} must be at least 1, got {count}")
        return Images(generate(self.network, count, seed, class_, truncation), columns=ROW if rows_per_class else None)

    def walk(self, keyframes: Sequence[Any] | torch.Tensor, frames: int = 60, loop: bool = False,
             ease: str = "linear", class_: int | None = None, truncation: float = 1.0,
             fps: float = 20) -> "Animation":
        """A walk along great-circle arcs through the latents of `keyframes`: seeds (7 or "seed:7"), latent files
        or Latents (a walk through your own projected images), or a (K, z_dim) tensor.

        A conditional model draws every frame in class_ if given; else, where keyframes are latents with classes,
        each frame takes the class of its nearest keyframe (seeds count as class 0), else class 0."""
        from ganvas.latents import keyframe_path, truncate
        from ganvas.sampling import generate_one_class

        if isinstance(keyframes, torch.Tensor):
            points, classes = keyframes.float(), [None] * len(keyframes)
        else:
            found = [self._point(item) for item in keyframes]
            points = torch.stack([z for z, _ in found]) if found else torch.empty(0, self.info.z_dim)
            classes = [c for _, c in found]
        path = keyframe_path(points, frames, loop, ease)
        if class_ is None and self.info.classes and any(c is not None for c in classes):
            nearest = torch.nn.functional.normalize(path, dim=1) @ torch.nn.functional.normalize(points, dim=1).T
            labels = torch.tensor([c or 0 for c in classes])[nearest.argmax(1)]
            return Animation(Images(self._images(truncate(path, truncation), labels)), fps=fps)
        return Animation(Images(generate_one_class(self.network, truncate(path, truncation), class_)), fps=fps)

    def variations(self, seed: int = 0, n: int = 16, strength: float = 0.3, class_: int | None = None,
                   truncation: float = 1.0, latent: Any = None) -> "Images":
        """The image of `seed` (first) and n - 1 neighbours, its latent mixed with noise by `strength` (0 to 1).
        latent: start from a latent file (or Latent) instead, in its own class unless class_ says another; the
        noise then comes from `seed`."""
        from ganvas.latents import truncate, variations, variations_around
        from ganvas.sampling import generate_one_class

        if latent is not None:
            found = self.latent(latent)
            z = truncate(variations_around(found.rendered, n, seed, strength), truncation)
            return Images(self._images(z, self._labels(len(z), found.class_ if class_ is None else class_)))
        z = truncate(variations(n, self.info.z_dim, seed, strength), truncation)
        return Images(generate_one_class(self.network, z, class_))

    # latents from files, blends and projection (docs/enhance.md)
    @functools.cached_property
    def identity(self) -> dict[str, Any]:
        """What a latent file records of this generator: checkpoint, step, model, shapes, weights' fingerprint."""
        from ganvas.latentfile import generator_identity

        return generator_identity(self.network, self.info.model, self.checkpoint.path, self.checkpoint.step)

    def latent(self, source: Any) -> "Latent":
        """A latent file (a path) or Latent, checked to belong to this generator (a GanvasError says why not)."""
        from ganvas.latentfile import Latent, check_fits, read_latent

        latent = source if isinstance(source, Latent) else read_latent(source)
        check_fits(latent, self.identity, source if not isinstance(source, Latent) else "the latent")
        return latent

    def render(self, latents: Any, class_: int | None = None, truncation: float = 1.0) -> "Images":
        """The images of one or more latent files or Latents, each in its own class, or all in class_ (a
        conditional model: the same latent drawn as another class keeps its style)."""
        from ganvas.latents import truncate

        items = latents if isinstance(latents, (list, tuple)) else [latents]
        if not items:
            raise GanvasError(f"{named('latent')}: no latents given")
        found = [self.latent(item) for item in items]
        z = truncate(torch.stack([latent.rendered for latent in found]), truncation)
        classes = [latent.class_ if class_ is None else class_ for latent in found]
        return Images(self._images(z, self._labels_for(classes)))

    def blend(self, a: Any, b: Any, ratios: Sequence[float] = (0, 0.25, 0.5, 0.75, 1), class_: int | None = None,
              truncation: float = 1.0) -> "Images":
        """A row of mixes of two latents (latent files, Latents or seeds) along their great-circle arc: ratio 0 is
        a's image, 1 is b's. A conditional model draws each mix in class_, else in the class of the nearer end."""
        from ganvas.latents import blend, truncate

        (za, ca), (zb, cb) = self._point(a), self._point(b)
        ratios = list(ratios)
        z = truncate(blend(za, zb, ratios), truncation)
        classes = [class_ if class_ is not None else (ca if r < 0.5 else cb) for r in ratios]
        return Images(self._images(z, self._labels_for(classes)), columns=len(ratios))

    def project(self, targets: Any, steps: int | None = None, class_: int | None = None, *, fit: str | None = None,
                background: str | None = None, loss: str | None = None, starts: int | None = None,
                candidates: int | None = None, seed: int = 0, frames: int | None = None,
                names: Sequence[str] | None = None,
                on_step: Callable[[int, int], None] | None = None) -> "Projections":
        """Find, for each target image, the latent (and a conditional model's class, or keep class_) whose image
        matches it (docs/enhance.md). Returns a Projection per target, in order; unreadable files are skipped
        (`.skipped` names them and why) and the others projected.

        targets: image files, PIL images, uint8 arrays or tensors in [-1, 1] (`held_out()` gives the run's held-out
        images), fitted to the model's size and channels the way training images are: fit (crop, pad, stretch)
        and background default to the run's own. on_step(done, total) reports progress.
        """
        from ganvas import projection
        from ganvas.targets import load_targets

        config = self.checkpoint.config
        fit = fit or (config.get("fit") if isinstance(config.get("fit"), str) and config.get("data") else "crop")
        background = background if background is not None else (
            config.get("background") if isinstance(config.get("background"), str) else None)
        found = load_targets(targets, self.info.image_shape, fit, background,
                             names=names if names is not None else getattr(targets, "names", None))
        if not len(found.images):
            reasons = "; ".join(f"{what}: {why}" for what, why in found.skipped[:5])
            raise GanvasError(f"nothing to project: {reasons or 'no targets given'}")
        loss = loss or projection.DEFAULT_LOSS
        result = projection.project(
            self.network, found.images, steps=projection.DEFAULT_STEPS if steps is None else steps,
            class_index=class_, loss=loss,
            discriminator=self.discriminator() if "features" in loss else None,
            starts=projection.DEFAULT_STARTS if starts is None else starts, candidates=candidates, seed=seed,
            frames=projection.DEFAULT_FRAMES if frames is None else frames, on_step=on_step)
        return Projections.of(self, found, result)

    def discriminator(self) -> torch.nn.Module:
        """The run's discriminator, as its checkpoint keeps it, in eval mode on the generator's device."""
        from ganvas.checkpoint import load_weights_into
        from ganvas.models import build_network

        recipe = self.checkpoint.networks.get("discriminator")
        if recipe is None or not self.checkpoint.has_weights("discriminator"):
            raise ckpt.CheckpointError(f"{self.checkpoint.path} keeps no discriminator")
        network = build_network(recipe)
        load_weights_into(network, self.checkpoint.weights("discriminator"), "discriminator", self.checkpoint.path)
        return network.to(next(self.network.parameters()).device).eval()

    def held_out(self, n: int | None = None) -> "Images":
        """The first n (default all) of the images the run held out of training (the holdout option), as targets
        for `project`: `.names` are holdout-<index in the data set>, `.labels` their classes where the data has
        them."""
        from ganvas.config import config_from_dict
        from ganvas.data import load_held_out_data, to_model_range

        data = load_held_out_data(config_from_dict(self.checkpoint.config, f"{self.checkpoint.path}/meta.json"))
        count = len(data) if n is None else n
        if count < 1:
            raise GanvasError(f"{named('n')} must be at least 1, got {count}")
        images = Images(to_model_range(data.images[:count]))
        images.names = [f"holdout-{int(i)}" for i in data.held_out[:count]]
        images.labels = None if data.labels is None else data.labels[:count].clone()
        return images

    def _point(self, item: Any) -> tuple[torch.Tensor, int | None]:
        """A latent and its class (None for a seed) from a seed (7, "7" or "seed:7"), a latent file or a Latent."""
        from ganvas.latents import gaussian_latents

        seed = item if isinstance(item, int) and not isinstance(item, bool) else None
        if isinstance(item, str) and (item.startswith("seed:") or item.lstrip("-").isdigit()):
            try:
                seed = int(item.removeprefix("seed:"))
            except ValueError:
                raise GanvasError(f"{item!r} is not a seed: write seed:7") from None
        if seed is not None:
            return gaussian_latents(1, self.info.z_dim, seed)[0], None
        latent = self.latent(item)
        return latent.rendered, latent.class_

    def _labels(self, count: int, class_: int | None) -> torch.Tensor | None:
        from ganvas.sampling import sample_labels

        return sample_labels(self.network, count, 0 if class_ is None and self.info.classes else class_)

    def _labels_for(self, classes: list[int | None]) -> torch.Tensor | None:
        if not self.info.classes:
            return self._labels(len(classes), next((c for c in classes if c is not None), None))
        for c in classes:
            self._labels(1, c)  # the same range check as everywhere
        return torch.tensor([0 if c is None else c for c in classes])

    def _images(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        from ganvas.models import generate_in_batches
        from ganvas.sampling import _finite

        return _finite(generate_in_batches(self.network, z, labels))

    def export(self, out: str | Path | None = None, format: str = "onnx") -> Path:
        """Write the generator for use outside Python (docs/export.md): ONNX, with the latent (and class) as inputs
        and images in [-1, 1] as output. out defaults to <run name>.onnx here. Needs the onnx extra."""
        from ganvas.export import export_generator

        return export_generator(self.network, self.checkpoint, out, format)

    def evaluate(self, n: int = 10_000, seed: int = 0, dataset: str | None = None, split: str | None = None,
                 data_dir: str | None = None, holdout: bool = False) -> "Evaluation":
        """Score n generated images against the run's own data (or a named dataset), beside the real-data floor
        on the same number of images (docs/metrics.md). holdout: against the images the run held out of training
        instead (the holdout option), which it never saw."""
        from ganvas.config import config_from_dict
        from ganvas.data import load_held_out_data, load_training_data
        from ganvas.metrics.judges import judge_for
        from ganvas.sampling import generate

        if n < 2:
            raise GanvasError(f"{named('n')} must be at least 2, got {n}")
        config = config_from_dict(self.checkpoint.config, f"{self.checkpoint.path}/meta.json")
        chosen = {key: value for key, value in {"dataset": dataset, "split": split, "data_dir": data_dir}.items()
                  if value}
        if chosen and holdout:
            raise GanvasError(f"{named('holdout')} compares with the run's own held-out images: drop "
                              f"{', '.join(named(key) for key in chosen)}")
        if chosen:  # compare with a named dataset instead of the run's own data
            config = config.replace(data=None, size=None, labels=False, holdout=0, **chosen)
        data = load_held_out_data(config) if holdout else load_training_data(config)
        device = next(self.network.parameters()).device
        judge = judge_for(data, own_images=config.data is not None, count=n, device=device)
        report = judge.report(lambda count: generate(self.network, count, seed))
        name = f"{data.name} held-out" if holdout else data.name
        return Evaluation(self.checkpoint.path, self.checkpoint.step, name, judge.measures, judge.labels, report,
                          requested=n)


@dataclasses.dataclass
class Evaluation:
    checkpoint: Path
    step: int
    dataset: str
    measures: str  # "digits" (the MNIST evaluator) or "thumbnails" (your own images)
    labels: dict[str, tuple[str, str]]
    report: Any  # metrics.quality.QualityReport
    requested: int

    @property
    def generated(self) -> dict[str, float]:
        return self.report.generated

    @property
    def real_floor(self) -> dict[str, float]:
        return self.report.real_floor

    @property
    def count(self) -> int:
        return self.report.count

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "step": self.step, "dataset": self.dataset,
                "measures": self.measures, "images": self.count, "generated": self.generated,
                "real_floor": self.real_floor}

    def table(self) -> str:
        from ganvas.metrics.quality import format_table

        return format_table(self.report, self.labels)

    def text(self, style: str = "keyword") -> str:
        """The report as a few lines and a table; style words option names for the CLI ("flag") or Python."""
        lines = [f"{self.checkpoint} (step {self.step}): {self.count} generated images against {self.count} real "
                 f"{self.dataset} images; the floor is {self.count} other real images against the same ones"]
        if self.measures == "thumbnails":
            lines.append("measured on 16x16 thumbnails, with no trained judge (docs/metrics.md, \"Your own images\")")
        if self.count < self.requested:
            lines.append(f"({named('n')} {self.requested} reduced to {self.count}: the floor needs two disjoint sets "
                         "of real images)")
        return word("\n".join([*lines, self.table()]), style)

    def __str__(self) -> str:
        return self.text()


# --- translating ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TranslatorInfo:
    path: Path  # the checkpoint
    step: int
    preset: str | None
    task: str  # upscale, colorize, sketch, inpaint, paired or cyclegan
    model: str
    directions: tuple[str, ...]  # ("a2b",) or, for cyclegan, ("a2b", "b2a")
    size: int  # the side it was trained at (it takes any size)
    scale: int  # the output's side over the input's: 4 for upscale, else 1
    quality: dict[str, float] | None


def load_translator(target: str | Path | Run, device: str = "cpu") -> "Translator":
    """The image translator of a run trained with a task (upscale, colorize, sketch, inpaint, paired, cyclegan):
    its folder (latest checkpoint), a checkpoint folder, or "RUN:NAME"."""
    from ganvas.translation import load_translator_networks

    networks, checkpoint = load_translator_networks(target.path if isinstance(target, Run) else target, device)
    return Translator(networks, checkpoint)


def evaluate(target: str | Path | Run, device: str = "cpu", **options: Any) -> "Evaluation | TranslationEvaluation":
    """Evaluate a run or checkpoint of either kind: a generator (Generator.evaluate's options) or an image translator
    (Translator.evaluate's)."""
    from ganvas.kinds import kind_of

    path = target.path if isinstance(target, Run) else target
    if kind_of(ckpt.load_checkpoint(ckpt.resolve_checkpoint(path)).config) == ckpt.IMAGE_TO_IMAGE:
        return load_translator(path, device).evaluate(**options)
    return load(path, device).evaluate(**options)


class Translator:
    """A trained image-to-image translator: enhance images of any size, evaluate on held-out pairs."""

    def __init__(self, networks: dict[str, torch.nn.Module], checkpoint: ckpt.Checkpoint):
        from ganvas.translation import DIRECTIONS, UPSCALE

        self.networks = networks
        self.checkpoint = checkpoint
        config = checkpoint.config
        self.info = TranslatorInfo(
            path=checkpoint.path, step=checkpoint.step, preset=config.get("preset"), task=config.get("task"),
            model=checkpoint.networks["generator_a2b"]["model"],
            directions=tuple(d for d, role in DIRECTIONS.items() if role in networks), size=config.get("size"),
            scale=UPSCALE if config.get("task") == "upscale" else 1, quality=checkpoint.quality)

    def __repr__(self) -> str:
        i = self.info
        return f"Translator({i.task} with {i.model} from {i.path}, step {i.step}, {' and '.join(i.directions)})"

    def _network(self, direction: str) -> torch.nn.Module:
        from ganvas.translation import DIRECTIONS

        if direction not in DIRECTIONS:
            raise GanvasError(f"{named('direction')} is a2b or b2a, not {direction!r}")
        if DIRECTIONS[direction] not in self.networks:
            raise GanvasError(f"this {self.info.task} translator goes one way, a2b; b2a needs a cyclegan run")
        return self.networks[DIRECTIONS[direction]]

    def enhance(self, source: Any, direction: str = "a2b", mask: Any = None, tile: int = 256,
                overlap: int = 64, on_step: Callable[[int, int], None] | None = None) -> Images:
        """One image translated: a file path, or a tensor (C, H, W) or (1, C, H, W) in [-1, 1] with the channels the
        run trained on. Any size: large images go through in overlapping tiles (tile, overlap: in pixels of G's
        input), blended without seams. upscale makes an image 4 times larger; inpaint fills `mask`'s light pixels
        (a file or a (H, W) bool tensor), or else the transparent ones.

        on_step(done, total) reports progress, as Generator.project's does: it is called after each tile (once,
        with (1, 1), for an image that fits in one tile). An exception it raises stops the translation before the
        next tile and propagates as it is, with no result: how a front end cancels one."""
        from ganvas.tiles import apply_tiled

        network, prepared = self._enhance_input(source, direction, mask, tile, overlap)
        return Images(apply_tiled(network, prepared, network.multiple, tile, overlap, on_step))

    def _enhance_input(self, source: Any, direction: str, mask: Any, tile: int,
                       overlap: int) -> tuple[torch.nn.Module, torch.Tensor]:
        """enhance's network and G's input for `source`, or the GanvasError that says what is wrong with them."""
        from ganvas.tiles import check_tiling
        from ganvas.translation import enhance_input, read_for, read_mask

        network = self._network(direction)
        channels = self._source_channels(direction)
        if isinstance(source, torch.Tensor):
            image = source[None] if source.dim() == 3 else source
            if image.dim() != 4 or len(image) != 1 or image.shape[1] != channels:
                raise GanvasError(f"give one image of {channels} channels as (C, H, W) or (1, C, H, W), "
                                  f"not {tuple(source.shape)}")
        else:
            image = read_for(source, channels, self.checkpoint.config.get("background"))
        if isinstance(mask, torch.Tensor):
            mask = mask.reshape(1, 1, *mask.shape[-2:]).bool()
        elif mask is not None:
            mask = read_mask(mask)
        prepared = enhance_input(self.info.task, image.float(), mask)
        try:
            check_tiling(prepared, network.multiple, tile, overlap)
        except GanvasError as err:
            raise GanvasError(f"{source if not isinstance(source, torch.Tensor) else 'the image'}: {err.args[0]}"
                              + (" after x4 bicubic enlargement" if self.info.task == "upscale" else "")) from None
        return network, prepared

    def _source_channels(self, direction: str) -> int:
        """The channels of the images a direction takes: those the run's targets (A's, for b2a B's) had."""
        from ganvas.translation import FOLDER_TASKS

        recipes = self.checkpoint.networks
        if self.info.task in FOLDER_TASKS:
            return recipes["generator_a2b"]["args"]["out_channels"]
        return self._network(direction).in_channels

    def enhance_files(self, paths: Sequence[str | Path], out: str | Path, direction: str = "a2b", mask: Any = None,
                      tile: int = 256, overlap: int = 64,
                      on_step: Callable[[Path, int, int], None] | None = None) -> list[Path]:
        """Each image file translated into `out`/<its name>.png; returns the paths written. A file that cannot be
        (unreadable, too small) does not stop the others: a GanvasError after the last names each such file and
        why. on_step(path, done, total) after each tile of each file, as enhance's on_step."""
        from ganvas.images import save_png
        from ganvas.tiles import apply_tiled, check_tile_options
        from ganvas.translation import read_mask

        out = Path(out)
        names = [Path(path).stem for path in paths]
        if len(set(names)) != len(names):
            raise GanvasError("two of the images have the same name; they would overwrite each other in the output "
                              "folder")
        # what every file shares is checked first, so that a fault in it is one error, not one per file
        check_tile_options(self._network(direction).multiple, tile, overlap)
        if mask is not None and not isinstance(mask, torch.Tensor):
            mask = read_mask(mask)
        written, failed = [], []
        for path, name in zip(paths, names):
            tiles_done = None if on_step is None else functools.partial(on_step, Path(path))
            try:
                network, prepared = self._enhance_input(path, direction, mask, tile, overlap)
            except GanvasError as err:  # this file's fault; on_step's exceptions (a cancel) still stop it all
                failed.append(str(err.args[0]))
                continue
            images = Images(apply_tiled(network, prepared, network.multiple, tile, overlap, tiles_done))
            target = out / f"{name}.png"
            save_png(images.pixels[0], target)
            written.append(target)
        if failed:
            raise GanvasError(f"{len(failed)} of the {len(paths)} images could not be enhanced (the other "
                              f"{len(written)} are in {out}/): " + "; ".join(failed))
        return written

    def evaluate(self, n: int = 10_000, seed: int = 0, dataset: str | None = None, split: str | None = None,
                 data_dir: str | None = None, holdout: bool = False) -> "TranslationEvaluation":
        """On the pairs the run held out of training (the holdout option; the translation presets hold out a tenth),
        or, where it holds none out (and holdout is False), on its first training pairs: L1, PSNR and SSIM against
        the targets beside the input itself as the output (bicubic, for upscaling), the share of pairs brought
        closer than the input (pairs_closer), and the grain on the targets' flat areas (where they have any).
        cyclegan: thumbnail precision/recall of the translations against the target folder, beside the untranslated
        images and the real-vs-real floor, the cycle error, and the style measure: the share of translations that a
        classifier of A vs B (trained on the run's training images) calls the target folder, beside the
        untranslated images and the held-out real ones. n: at most this many images; seed: inpainting's holes, the
        classifier's training."""
        from ganvas.config import config_from_dict
        from ganvas.translation import (_load_folder, evaluate_pairs, evaluate_styles, evaluate_unpaired,
                                        examples_input, load_translation_data)

        if dataset or split or data_dir:
            raise GanvasError(f"a translator is evaluated on its own run's pairs: drop {named('dataset')}, "
                              f"{named('split')} and {named('data_dir')}")
        if n < 2:
            raise GanvasError(f"{named('n')} must be at least 2, got {n}")
        config = config_from_dict(self.checkpoint.config, f"{self.checkpoint.path}/meta.json")
        data = load_translation_data(config, torch.device("cpu"))
        if holdout and not data.held_out:
            raise GanvasError(f"this run holds no images out of training; train one with {named('holdout')} N")
        first, second = (x[:n] for x in data.examples)
        device = next(self.networks["generator_a2b"].parameters()).device
        if config.task == "cyclegan":
            a2b = evaluate_unpaired(self._on(device, "a2b"), self._on(device, "b2a"), first,
                                    _load_folder(config, config.data_b), n)
            b2a = evaluate_unpaired(self._on(device, "b2a"), self._on(device, "a2b"), second,
                                    _load_folder(config, config.data), n)
            scores = {f"a2b_{k}": v for k, v in a2b.items()} | {f"b2a_{k}": v for k, v in b2a.items()}
            scores |= evaluate_styles(self._on(device, "a2b"), self._on(device, "b2a"), data, n, seed)
            count = min(len(first), len(second))
        else:
            with torch.no_grad():
                scores = evaluate_pairs(self._on(device, "a2b"), examples_input(config.task, first, seed).to(device),
                                        second.to(device))
            count = len(first)
        return TranslationEvaluation(self.checkpoint.path, self.checkpoint.step, config.task, count,
                                     data.held_out, scores)

    def _on(self, device: torch.device, direction: str) -> Callable[[torch.Tensor], torch.Tensor]:
        network = self._network(direction)
        return torch.no_grad()(lambda images: network(images.to(device)).cpu())


@dataclasses.dataclass
class TranslationEvaluation:
    checkpoint: Path
    step: int
    task: str
    count: int  # images (pairs) measured
    held_out: bool  # whether they were held out of training
    scores: dict[str, dict[str, float]]  # metric -> {"translated": ..., "baseline": ..., "floor": ...}

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "step": self.step, "task": self.task, "images": self.count,
                "held_out": self.held_out, "scores": self.scores}

    def text(self, style: str = "keyword") -> str:
        where = "held-out" if self.held_out else "training (the run holds none out)"
        baseline = {"upscale": "bicubic x4"}.get(self.task, "the input itself" if self.task != "cyclegan"
                                                 else "untranslated")
        lines = [f"{self.checkpoint} (step {self.step}): {self.task} on {self.count} {where} images; baseline: "
                 f"{baseline}" + ("; floor: other real images of the target folder" if self.task == "cyclegan"
                                  else ""),
                 f"{'metric':<20} {'translated':>10} {'baseline':>10}" + (f" {'floor':>8}" if self.task == "cyclegan"
                                                                           else "")]
        for name, row in self.scores.items():
            cells = [f"{row[key]:>10.4f}" if key in row else f"{'':>10}" for key in ("translated", "baseline")]
            if self.task == "cyclegan":
                cells.append(f"{row['floor']:>8.4f}" if "floor" in row else "")
            lines.append(f"{name:<20} {' '.join(cells)}".rstrip())
        return word("\n".join(lines), style)

    def __str__(self) -> str:
        return self.text()


# --- images ---------------------------------------------------------------------------------------------------

class Images:
    """Generated images: `.tensor` (N, C, H, W floats in [-1, 1]) and `.pixels` (uint8, (N, H, W) or (N, H, W, C)).
    A notebook shows them as a grid."""

    def __init__(self, tensor: torch.Tensor, columns: int | None = None):
        self.tensor = tensor
        self.columns = columns

    @property
    def pixels(self) -> np.ndarray:
        from ganvas.images import to_uint8

        return to_uint8(self.tensor)

    def __len__(self) -> int:
        return len(self.tensor)

    def __getitem__(self, index) -> "Images":
        picked = self.tensor[index]
        return Images(picked[None] if picked.dim() == 3 else picked)

    def __repr__(self) -> str:
        return f"Images({len(self)} x {'x'.join(map(str, self.tensor.shape[1:]))})"

    def grid(self, columns: int | None = None, scale: int | None = None):
        """One PIL image of all of them, `columns` wide (default: as square as possible), enlarged `scale` times
        (default 2 under 64 px)."""
        from PIL import Image

        from ganvas.images import display_scale, make_grid, to_pil

        pixels = self.pixels
        picture = to_pil(make_grid(pixels, columns or self.columns))
        scale = scale or display_scale(pixels)
        return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST) if scale > 1 else picture

    def save(self, path: str | Path, columns: int | None = None) -> Path:
        """A grid PNG, or the uint8 pixels as .npy when the path ends in .npy."""
        from ganvas.images import write_grid
        from ganvas.sampling import write_array

        path = Path(path)
        if path.suffix.lower() == ".npy":
            write_array(self.pixels, path)
        else:
            write_grid(self.pixels, path, columns or self.columns)
        return path

    def save_each(self, folder: str | Path) -> list[Path]:
        """One PNG per image (0.png, 1.png, ...), returned in order."""
        from ganvas.sampling import write_images

        return write_images(self.pixels, Path(folder))

    def _repr_png_(self) -> bytes:
        from ganvas.images import display_scale, make_grid, png_bytes

        pixels = self.pixels
        return png_bytes(make_grid(pixels, self.columns), display_scale(pixels))


class Animation:
    """Frames of a walk; saves as GIF or MP4 and plays inline in a notebook."""

    def __init__(self, frames: Images, fps: float = 20, scale: int | None = None, background: str | None = None):
        self.frames = frames
        self.fps = fps
        self.scale = scale
        self.background = background

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        return f"Animation({len(self)} frames at {self.fps:g} fps)"

    def save(self, path: str | Path) -> Path:
        """path ends in .gif or .mp4 (MP4 needs the video extra: pip install 'ganvas[video]')."""
        from ganvas.animation import write_animation
        from ganvas.images import display_scale

        pixels = self.frames.pixels
        write_animation(pixels, Path(path), self.fps, self.scale or display_scale(pixels), self.background)
        return Path(path)

    def gif_bytes(self) -> bytes:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            return self.save(Path(folder) / "walk.gif").read_bytes()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.gif_bytes()).decode("ascii")
        return f'<img src="data:image/gif;base64,{data}" alt="{len(self)}-frame walk"/>'


# --- projection: existing images into the generator (docs/enhance.md) -----------------------------------------

class Projection:
    """One target projected into a generator: the latent found (`latent`, `class_`), its image, how well it matches
    (`loss`, `psnr`, `ssim`, beside the best random sample's `random_psnr`, `random_ssim`) and the optimisation
    (`animation`). `save(folder)` writes its files; `reclass(k)` draws the same latent as class k."""

    def __init__(self, generator: Generator, name: str, source: str | None, target: torch.Tensor,
                 image: torch.Tensor, start: torch.Tensor, frames: torch.Tensor, latent: "Latent", starts: int):
        self.generator, self.name, self.source, self.latent, self.starts = generator, name, source, latent, starts
        self.target, self.image, self.start = Images(target[None]), Images(image[None]), Images(start[None])
        self.frames = frames
        for key in ("loss", "psnr", "ssim", "random_psnr", "random_ssim"):
            setattr(self, key, latent.extra[key])

    @property
    def class_(self) -> int | None:
        return self.latent.class_

    def __repr__(self) -> str:
        return f"Projection({self.summary()})"

    def summary(self) -> str:
        """One line: PSNR and SSIM, the class found, and the best random sample's."""
        of_class = f", class {self.class_}" if self.class_ is not None else ""
        return (f"{self.name}: PSNR {self.psnr:.2f} dB, SSIM {self.ssim:.3f}{of_class}; the best of {self.starts:,} "
                f"random samples: {self.random_psnr:.2f} dB, SSIM {self.random_ssim:.3f} "
                f"({self.psnr - self.random_psnr:+.2f} dB)")

    def reclass(self, class_: int) -> Images:
        """The projected latent drawn as another class of a conditional model: its style, another class."""
        return self.generator.render(self.latent, class_)

    def compare(self) -> Images:
        """Target and projection side by side."""
        return Images(torch.cat([self.target.tensor, self.image.tensor]), columns=2)

    @property
    def animation(self) -> Animation:
        """The optimisation from the best random start to the projection, beside the target, as an Animation."""
        count = len(self.frames)
        gap = torch.full((count, self.frames.shape[1], self.frames.shape[2], 2), -1.0)
        side_by_side = torch.cat([self.target.tensor.expand(count, -1, -1, -1), gap, self.frames], dim=3)
        return Animation(Images(side_by_side), fps=10)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """NAME.json (the latent), NAME.png (the projection), NAME-compare.png (target | projection) and NAME.gif
        (the optimisation) in `folder`; returns them by kind."""
        folder = Path(folder)
        paths = {"latent": folder / f"{self.name}.json", "image": folder / f"{self.name}.png",
                 "compare": folder / f"{self.name}-compare.png", "animation": folder / f"{self.name}.gif"}
        self.latent.save(paths["latent"])
        self.image.save(paths["image"])
        self.compare().save(paths["compare"])
        self.animation.save(paths["animation"])
        return paths

    def _repr_png_(self) -> bytes:
        return self.compare()._repr_png_()


class Projections(list):
    """The Projection of each target, in order; `skipped` lists (target, reason) for those that could not be read
    and `notes` how targets were fitted."""

    skipped: list[tuple[str, str]]
    notes: list[str]

    @classmethod
    def of(cls, generator: Generator, found, result) -> "Projections":
        from ganvas.latentfile import Latent
        from ganvas.projection import psnr, ssim

        targets = found.images
        scores = {"psnr": psnr(result.images, targets), "ssim": ssim(result.images, targets),
                  "random_psnr": psnr(result.start_images, targets),
                  "random_ssim": ssim(result.start_images, targets)}
        made = cls()
        for i, name in enumerate(found.names):
            extra = {"loss": float(result.loss[i]), **{key: float(value[i]) for key, value in scores.items()},
                     "target": found.sources[i] or name}
            latent = Latent(result.z[i].clone(), None if result.labels is None else int(result.labels[i]), 1.0,
                            generator.identity, extra)
            made.append(Projection(generator, name, found.sources[i], targets[i], result.images[i],
                                   result.start_images[i], result.frames[i], latent, result.starts))
        made.skipped, made.notes = list(found.skipped), list(found.notes)
        return made

    def save(self, folder: str | Path) -> list[Path]:
        """Every projection's files (Projection.save) in `folder`, and summary.txt with one line per image."""
        from ganvas.files import atomic_write_text

        folder = Path(folder)
        written = [path for projection in self for path in projection.save(folder).values()]
        lines = [projection.summary() for projection in self]
        lines += [f"skipped {what}: {why}" for what, why in self.skipped]
        atomic_write_text(folder / "summary.txt", "\n".join(lines) + "\n")
        return written + [folder / "summary.txt"]

    def grid(self) -> Images:
        """Targets (first row) above their projections (second row)."""
        targets, images = (torch.cat([getattr(p, part).tensor for p in self]) for part in ("target", "image"))
        return Images(torch.cat([targets, images]), columns=len(self))

    def _repr_png_(self) -> bytes:
        return self.grid()._repr_png_()
