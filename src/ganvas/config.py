"""Training options: one dataclass, named presets, and the run's config.json.

This is the only module that knows the config file format. The CLI turns flags
into a TrainConfig; the trainer reads it; the run folder keeps it as JSON so a
run can be resumed, sampled and compared later.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ganvas.augment import parse_policy
from ganvas.errors import GanvasError

DEFAULT_STEPS = 5000
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "seed"
    # data: a named dataset (downloaded or read from data_dir) ...
    dataset: str = "mnist"
    data_dir: str | None = None
    split: str = "train"
    # ... or your own images: a folder or zip, resized to size x size (docs/data.md)
    data: str | None = None
    size: int | None = None
    fit: str = "crop"  # crop, pad or stretch for images that are not square
    channels: str = "auto"  # auto, grey, rgb or rgba
    background: str | None = None  # composite transparent images onto this colour
    labels: bool = False  # class labels from sub-folder names (for conditional models)
    # networks and objective
    model: str = "mlp"
    z_dim: int = 100
    width: int | None = None  # channels of the conv models (None: the model's default)
    spectral_norm: bool = False  # on every layer of D, for models that offer it (resnet always has it)
    loss: str = "nonsaturating"
    # training strategy (docs/stability.md says when each helps)
    n_critic: int = 1  # D updates per G update
    clip_weights: float | None = None  # WGAN's weight clipping to [-c, c]
    gp_weight: float = 0.0  # WGAN-GP gradient penalty weight (lambda)
    r1_gamma: float = 0.0  # R1 zero-centred gradient penalty on real data
    r1_every: int = 16  # lazy R1: apply it every k steps
    ema_decay: float = 0.0  # sample from an exponential moving average of G (e.g. 0.999); 0 = off
    augment: str = ""  # DiffAugment policy, e.g. "translation,cutout,color"
    real_label: float = 1.0  # one-sided label smoothing: D's target for real images (e.g. 0.9)
    instance_noise: float = 0.0  # std of Gaussian noise added to everything D sees
    # "bf16": mixed precision, 1.3-2x faster for conv models on GPUs and CPUs with AMX/AVX512-BF16;
    # "auto": bf16 where the device runs it natively, else fp32
    precision: str = "fp32"
    # optimisation: Adam for both networks
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    # length: a total step target, or epochs (converted to steps), or wall-clock minutes per session
    steps: int | None = None
    epochs: float | None = None
    minutes: float | None = None
    # outputs
    log_every: int = 100
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    # quality metrics during training (0 turns them off), on this many generated images
    eval_every: int = 1000
    eval_images: int = 2000

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Preset:
    description: str
    options: dict[str, Any]
    # A preset that suits itself to the data: more options from (image count, the options the user chose).
    for_data: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None


ART_SMALL_SET = 5000  # below this many images D memorises the set unless it sees augmented images (DiffAugment)
ART_LARGE_SIDE = 128  # from this side up the art preset takes the lightweight model (meant for a GPU)


def art_options(image_count: int, chosen: dict[str, Any]) -> dict[str, Any]:
    """The `art` preset's settings for a data set of `image_count` images and the options the user chose.

    Measured on squimoji (87 images, 32 px, docs/art.md): a spectral-norm DCGAN with hinge loss, an EMA of G
    and the full DiffAugment policy learns recognisable, varied images in 10 CPU minutes.
    """
    side = chosen.get("size") or 28  # the named data sets are 28 px
    model = chosen.get("model") or ("lightweight" if side >= ART_LARGE_SIDE else "dcgan")
    small = image_count < ART_SMALL_SET
    # Batches of 32 for small sets (64 for large ones), but at most half the images, so an epoch has two steps.
    batch_size = 64 if not small else max(1, min(32, 2 ** int(math.log2(max(image_count // 2, 1)))))
    options = {"model": model, "width": 32, "loss": "hinge", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0,
               "beta2": 0.9, "ema_decay": 0.999, "batch_size": batch_size,
               "augment": "translation,cutout,color" if small else "translation"}
    if model in ("dcgan", "dcgan-cond"):  # the other conv models have spectral norm built in
        options["spectral_norm"] = True
    return options


PRESETS: dict[str, Preset] = {
    "seed": Preset(
        "the tutorial exactly: MLP G and D, non-saturating BCE, Adam 2e-4 beta1 0.5, batch 128 "
        "(collapses on MNIST: kept to study and compare against)",
        {},
    ),
    "mnist": Preset(
        "the best measured for MNIST in 5 CPU minutes (docs/stability.md): class-conditional DCGAN (width 32) trained "
        "from the digit labels, spectral-norm projection D, hinge loss, Adam 8e-4 betas (0, 0.9), batch 64, samples "
        "from an EMA of G (0.999), bf16 where the hardware runs it natively",
        {"model": "dcgan-cond", "width": 32, "spectral_norm": True, "loss": "hinge", "lr_g": 8e-4, "lr_d": 8e-4,
         "beta1": 0.0, "beta2": 0.9, "ema_decay": 0.999, "batch_size": 64, "precision": "auto"},
    ),
    "wgan": Preset(
        "Wasserstein GAN (Arjovsky et al. 2017) on the tutorial's MLPs: critic loss, weight clipping 0.01, "
        "5 critic steps per G step, lr 5e-5",
        {"loss": "wgan", "clip_weights": 0.01, "n_critic": 5, "lr_g": 5e-5, "lr_d": 5e-5},
    ),
    "wgan-gp": Preset(
        "WGAN with gradient penalty (Gulrajani et al. 2017) on the tutorial's MLPs: lambda 10, 5 critic steps, "
        "Adam 1e-4 betas (0, 0.9)",
        {"loss": "wgan-gp", "gp_weight": 10.0, "n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0,
         "beta2": 0.9},
    ),
    "lsgan": Preset(
        "least-squares GAN (Mao et al. 2017) on the tutorial's MLPs and optimizer",
        {"loss": "lsgan"},
    ),
    "art": Preset(
        "for your own images: picks model, batch and augmentation from the image count and --size (DCGAN with a "
        "spectral-norm D up to 64 px, lightweight from 128; DiffAugment on sets under 5,000 images), hinge loss, "
        "EMA of G (docs/art.md)",
        {},
        for_data=art_options,
    ),
    "hinge": Preset(
        "hinge loss with a spectral-norm DCGAN discriminator (Miyato et al. 2018), TTUR (lr_d 4e-4, lr_g 1e-4), "
        "Adam betas (0, 0.9)",
        {"model": "dcgan", "spectral_norm": True, "loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4, "beta1": 0.0,
         "beta2": 0.9},
    ),
}


def preset_config(name: str, count_images: Callable[[TrainConfig], int] | None = None,
                  **overrides: Any) -> TrainConfig:
    """The named preset with user overrides (options left as None are not overrides).

    Presets that suit themselves to the data (`art`) call count_images on a config naming the data set.
    """
    if name not in PRESETS:
        raise GanvasError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))} (see `ganvas presets`)")
    preset = PRESETS[name]
    chosen = {k: v for k, v in overrides.items() if v is not None}
    options = {**preset.options, **chosen}
    if preset.for_data is not None:
        if count_images is None:
            raise GanvasError(f"preset {name} picks its settings from the data set and needs its image count")
        image_count = count_images(TrainConfig(preset=name, **options))
        options = {**preset.options, **preset.for_data(image_count, chosen), **chosen}
    return validate(TrainConfig(preset=name, **options))


def read_options_file(path: str | Path) -> dict[str, Any]:
    """Training options from a YAML or JSON file: keys are option names (dashes or underscores), plus `preset`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise GanvasError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:  # YAML and JSON parsers each raise their own error types
        raise GanvasError(f"{path} is not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: "
                          f"{str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise GanvasError(f"{path} must hold a mapping of option names to values, got {type(data).__name__}")
    options = {str(key).replace("-", "_"): value for key, value in data.items()}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise GanvasError(f"{path} has unknown options: {', '.join(unknown)} (see `ganvas train --help`)")
    return options


def _check_types(config: TrainConfig) -> None:
    """Values from JSON/YAML files arrive untyped: a string where a number belongs is named here, not deep in torch."""
    for name, annotation in typing.get_type_hints(TrainConfig).items():
        value = getattr(config, name)
        allowed = typing.get_args(annotation) or (annotation,)
        if float in allowed:
            allowed = (*allowed, int)  # 1 is a fine float
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, tuple(allowed)):
            wanted = " or ".join("none" if t is type(None) else t.__name__ for t in allowed if t is not int or
                                 float not in allowed)
            raise GanvasError(f"option {name} must be {wanted}, got {value!r}")


def validate(config: TrainConfig) -> TrainConfig:
    """Reject impossible settings before any work starts, saying which option is wrong."""
    _check_types(config)
    positive = ["z_dim", "batch_size", "lr_g", "lr_d", "log_every", "sample_every", "checkpoint_every",
                "keep_checkpoints", "steps", "epochs", "minutes", "eval_images", "width", "n_critic", "clip_weights",
                "r1_every", "real_label"]
    not_negative = ["gp_weight", "r1_gamma", "ema_decay", "instance_noise"]
    for field in positive:
        value = getattr(config, field)
        if value is not None and not value > 0:
            raise GanvasError(f"--{field.replace('_', '-')} must be positive, got {value}")
    for field in not_negative + ["eval_every"]:
        if getattr(config, field) < 0:
            raise GanvasError(f"--{field.replace('_', '-')} must be 0 (off) or positive, got {getattr(config, field)}")
    if not config.ema_decay < 1 or not config.real_label <= 1:
        raise GanvasError("--ema-decay must be below 1 and --real-label at most 1")
    parse_policy(config.augment)
    _check_strategy(config)
    for field in ["beta1", "beta2"]:
        if not 0 <= getattr(config, field) < 1:
            raise GanvasError(f"--{field} must be in [0, 1), got {getattr(config, field)}")
    if config.data is None and (config.size is not None or config.labels):
        raise GanvasError("--size and --labels are for your own images: give the folder or zip with --data")
    if config.data is not None and config.size is None:
        raise GanvasError("--data needs --size N, the side in pixels to train at (16 to 256; 32 or 64 on a CPU)")
    if config.precision not in ("fp32", "bf16", "auto"):
        raise GanvasError(f"--precision must be fp32, bf16 or auto, got {config.precision!r}")
    if config.split not in ("train", "test"):
        raise GanvasError(f"--split must be 'train' or 'test', got {config.split!r}")
    if sum(x is not None for x in (config.steps, config.epochs)) > 1:
        raise GanvasError("give the run's length as --steps or --epochs, not both")
    return config


def _check_strategy(config: TrainConfig) -> None:
    """Combinations that cannot work, refused before any work starts."""
    if config.clip_weights and config.spectral_norm:
        raise GanvasError("weight clipping and spectral norm both constrain D's Lipschitz constant and fight each "
                          "other: drop --clip-weights or --spectral-norm")
    if config.clip_weights and config.loss != "wgan":
        raise GanvasError(f"weight clipping is WGAN's constraint on its critic; it does not belong with --loss "
                          f"{config.loss} (use --loss wgan, or drop --clip-weights)")
    if config.loss == "wgan" and not (config.clip_weights or config.spectral_norm):
        raise GanvasError("--loss wgan needs a Lipschitz constraint on D: add --clip-weights 0.01 or --spectral-norm "
                          "(or use --loss wgan-gp with --gp-weight 10)")
    if config.loss == "wgan-gp" and not config.gp_weight:
        raise GanvasError("--loss wgan-gp needs its gradient penalty: add --gp-weight 10")


def with_default_length(config: TrainConfig) -> TrainConfig:
    """A run with no length at all trains DEFAULT_STEPS steps."""
    if config.steps is None and config.epochs is None and config.minutes is None:
        return config.replace(steps=DEFAULT_STEPS)
    return config


def save_config(config: TrainConfig, run_dir: Path) -> None:
    path = Path(run_dir) / CONFIG_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    os.replace(tmp, path)


def config_from_dict(data: dict[str, Any], source: str) -> TrainConfig:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GanvasError(f"{source} has options this ganvas does not know ({', '.join(unknown)}); "
                          "it was written by a newer ganvas: upgrade to use it")
    return validate(TrainConfig(**data))


def load_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise GanvasError(f"{run_dir} is not a ganvas run folder (no {CONFIG_FILE}); "
                          "start a run with `ganvas train --run DIR`")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GanvasError(f"{path} is not valid JSON ({err}); restore it or start a new run") from None
    return config_from_dict(data, str(path))
