"""Training kinds: what a run trains, picked from its config by a small registry.

The trainer's loop is the same for every kind. A kind sets up a `Session` for it: the training
images, the `Trainee` (networks, optimizers and one training step; it saves and restores its own
checkpoints, whose `kind` names it), the batches, the sample grid and the quality judge. The
noise-to-image kind is ganvas.gan's GAN; the image-to-image kind is ganvas.translation's TranslationGAN
(pix2pix-style tasks and CycleGAN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import torch

from ganvas import checkpoint as ckpt
from ganvas.batches import Batch, BatchSampler
from ganvas.config import TrainConfig
from ganvas.data import ImageDataset
from ganvas.distributed import Processes
from ganvas.errors import GanvasError, named

if TYPE_CHECKING:
    from ganvas.metrics.quality import Judge

GRID_SIZE = 64
GRID_ROW = 8  # images per class in a conditional model's grid


class Trainee(Protocol):
    bf16: bool

    def train_step(self, step: int, next_batch: Callable[[int], Batch]) -> dict[str, torch.Tensor]: ...

    def weights_are_finite(self) -> bool: ...

    def save(self, run_dir: Path, step: int, name: str | None = None, quality: dict | None = None) -> Path: ...

    def restore(self, checkpoint: ckpt.Checkpoint) -> None: ...


class Sampler(Protocol):
    steps_per_epoch: int

    def batch(self, number: int) -> Batch: ...


@dataclass
class Session:
    """What the trainer needs of a kind for one run."""

    dataset: ImageDataset  # the training images (described in the log, recorded in holdout.json)
    trainee: Trainee
    sampler: Sampler
    grid: Callable[[], tuple[torch.Tensor, int | None]]  # the sample grid's images (on the CPU) and its columns
    # The quality judge of eval_images and a function giving what it judges; raises GanvasError where there is none.
    judge: Callable[[int, torch.device], tuple["Judge", Callable[[], torch.Tensor]]]
    num_classes: int | None = None
    notes: list[str] = field(default_factory=list)  # said in the log as the run starts
    # Writes what the kind keeps in the run folder beside config.json (a self-conditioned run's clusters.json).
    write_run_files: Callable[[Path], None] = lambda run_dir: None


def noise_to_image_session(config: TrainConfig, processes: Processes, device: torch.device,
                           resumed_run: Path | None) -> Session:
    """A self-conditioned run labels its images by cluster: read from the run folder when the main process resumes,
    else found again, which the other processes of a run on several always do (k-means with the run's seed finds
    the same clusters on each)."""
    from ganvas.data import load_training_data, to_model_range
    from ganvas.selfcondition import self_conditioned, write_clusters
    from ganvas.gan import GAN
    from ganvas.latents import balanced_labels, gaussian_latents
    from ganvas.metrics.judges import judge_for

    dataset = load_training_data(config)
    if config.self_condition:
        dataset = self_conditioned(dataset, config.self_condition, config.seed, resumed_run)
    gan = GAN(config, dataset.image_shape, device, dataset.num_classes, processes)
    sampler = BatchSampler(to_model_range(dataset.images).to(device),
                           dataset.labels.to(device) if gan.num_classes else None, config.batch_size, config.seed)
    # A conditional grid has one row per class.
    grid_size = GRID_ROW * gan.num_classes if gan.num_classes else GRID_SIZE
    fixed_z = gaussian_latents(grid_size, config.z_dim, config.seed)
    fixed_labels = balanced_labels(grid_size, gan.num_classes) if gan.num_classes else None

    def judge(count: int, judge_device: torch.device) -> tuple["Judge", Callable[[], torch.Tensor]]:
        chosen = judge_for(dataset, own_images=config.data is not None, count=count, device=judge_device)
        latents = gaussian_latents(chosen.count, config.z_dim, config.seed + 2)
        labels = balanced_labels(chosen.count, gan.num_classes) if gan.num_classes else None
        return chosen, lambda: gan.generate(latents, labels)

    return Session(dataset, gan, sampler, lambda: (gan.generate(fixed_z, fixed_labels),
                                                   GRID_ROW if gan.num_classes else None),
                   judge, gan.num_classes,
                   write_run_files=(lambda run_dir: write_clusters(run_dir, dataset)) if config.self_condition
                   else lambda run_dir: None)


def check_noise_to_image(config: TrainConfig, processes: Processes) -> None:
    from ganvas.models import get_model

    if get_model(config.model).kind != ckpt.NOISE_TO_IMAGE:
        raise GanvasError(f"model {config.model!r} translates images: give it a {named('task')} (upscale, colorize, "
                          f"sketch, inpaint, paired or cyclegan), or choose a noise-to-image model")
    # Mode seeking pairs images within each process's shard, so every shard needs a pair.
    if config.mode_seeking_weight and processes.distributed and config.batch_size < 2 * processes.world_size:
        raise GanvasError(f"{named('mode_seeking_weight')} compares pairs of generated images within each of the "
                          f"{processes.world_size} processes' shares of the batch: give {named('batch_size')} of at "
                          f"least {2 * processes.world_size}, or {named('mode_seeking_weight', 0)}")


def image_to_image_session(config: TrainConfig, processes: Processes, device: torch.device,
                           resumed_run: Path | None) -> Session:
    from ganvas.translation import translation_session

    return translation_session(config, processes, device)


def check_image_to_image(config: TrainConfig, processes: Processes) -> None:
    from ganvas.translation import check_translation_config

    check_translation_config(config, processes)


@dataclass(frozen=True)
class Kind:
    # The session from (config, processes, device, the run folder when the main process resumes, else None).
    session: Callable[[TrainConfig, Processes, torch.device, Path | None], Session]
    # The kind's refusals of options that need neither the images nor the networks: made before any work.
    check: Callable[[TrainConfig, Processes], None]


KINDS: dict[str, Kind] = {
    ckpt.NOISE_TO_IMAGE: Kind(noise_to_image_session, check_noise_to_image),
    ckpt.IMAGE_TO_IMAGE: Kind(image_to_image_session, check_image_to_image),
}


def kind_of(config: TrainConfig | dict[str, Any]) -> str:
    """The kind a config trains: noise-to-image for the generate task (the default), image-to-image for the others."""
    task = config.get("task", "generate") if isinstance(config, dict) else config.task
    return ckpt.NOISE_TO_IMAGE if task == "generate" else ckpt.IMAGE_TO_IMAGE


def check_options(config: TrainConfig, processes: Processes = Processes()) -> None:
    """Refuse, before any work, what the config's kind cannot train and a batch that does not split evenly over
    the processes."""
    KINDS[kind_of(config)].check(config, processes)
    processes.shard_size(config.batch_size)


def set_up(config: TrainConfig, processes: Processes, device: torch.device,
           resumed_run: Path | None = None) -> Session:
    """The run's session, its options checked first."""
    check_options(config, processes)
    return KINDS[kind_of(config)].session(config, processes, device, resumed_run)
