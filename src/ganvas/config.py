"""Training options: one dataclass, named presets, and the run's config.json.

This is the only module that knows the config file format. The CLI turns flags
into a TrainConfig; the trainer reads it; the run folder keeps it as JSON so a
run can be resumed, sampled and compared later.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganvas.errors import GanvasError

DEFAULT_STEPS = 5000
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "seed"
    # data
    dataset: str = "mnist"
    data_dir: str | None = None
    split: str = "train"
    # networks and objective
    model: str = "mlp"
    z_dim: int = 100
    loss: str = "nonsaturating"
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


PRESETS: dict[str, Preset] = {
    "seed": Preset(
        "the tutorial exactly: MLP G and D, non-saturating BCE, Adam 2e-4 beta1 0.5, batch 128 "
        "(collapses on MNIST: kept to study and compare against)",
        {},
    ),
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """The named preset with user overrides (options left as None are not overrides)."""
    if name not in PRESETS:
        raise GanvasError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))} (see `ganvas presets`)")
    options = {**PRESETS[name].options, **{k: v for k, v in overrides.items() if v is not None}}
    return validate(TrainConfig(preset=name, **options))


def validate(config: TrainConfig) -> TrainConfig:
    """Reject impossible settings before any work starts, saying which option is wrong."""
    positive = ["z_dim", "batch_size", "lr_g", "lr_d", "log_every", "sample_every", "checkpoint_every",
                "keep_checkpoints", "steps", "epochs", "minutes", "eval_images"]
    for field in positive:
        value = getattr(config, field)
        if value is not None and not value > 0:
            raise GanvasError(f"--{field.replace('_', '-')} must be positive, got {value}")
    if config.eval_every < 0:
        raise GanvasError(f"--eval-every must be 0 (off) or positive, got {config.eval_every}")
    for field in ["beta1", "beta2"]:
        if not 0 <= getattr(config, field) < 1:
            raise GanvasError(f"--{field} must be in [0, 1), got {getattr(config, field)}")
    if config.split not in ("train", "test"):
        raise GanvasError(f"--split must be 'train' or 'test', got {config.split!r}")
    if sum(x is not None for x in (config.steps, config.epochs)) > 1:
        raise GanvasError("give the run's length as --steps or --epochs, not both")
    return config


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
