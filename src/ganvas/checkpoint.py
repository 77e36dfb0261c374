"""Checkpoint files: the only module that knows their format.

A checkpoint is a folder, written under a temporary name and renamed into place
(files.atomic_directory) so that a crash never leaves one that looks complete:

    step-00001000/
        meta.json                  format version, ganvas version, step, GAN kind, each network's
                                   recipe by role, the run config, the last quality measurement
        <role>.safetensors         weights, one file per network role: generator and discriminator,
                                   generator_ema when the run averages G's weights (more roles for
                                   kinds with more networks); sampling needs meta.json and a generator
        training_state.pt          optimizer states by role and RNG states, one set per process:
                                   tensors and plain containers only, read back with
                                   torch.load(weights_only=True)

Format 2's meta.json names each network as {"model": registry name, "part": "generator" or
"discriminator", "args": constructor keywords}; format 1 (ganvas 0.1.0) had one `model` recipe
for a G/D pair and fixed training-state keys, and is upgraded to format 2 when read.

Nothing here unpickles code, so a checkpoint from a stranger is safe to open.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

import ganvas
from ganvas.errors import CheckpointError
from ganvas.files import atomic_directory

FORMAT = "ganvas-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CHECKPOINTS_DIR = "checkpoints"
META_FILE = "meta.json"
TRAINING_STATE_FILE = "training_state.pt"
NOISE_TO_IMAGE = "noise-to-image"  # the GAN kind of every format-1 checkpoint
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class TrainingState:
    """What resuming needs beyond the weights: optimizer state by network role, and the RNG states of each process
    (a list indexed by process rank; each a dict of stream name -> torch.Generator state)."""

    optimizers: dict[str, dict[str, Any]]
    rng: list[dict[str, torch.Tensor]] = field(default_factory=list)


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, Any]  # always in the current format's layout (older formats are upgraded when read)
    format_version: int = FORMAT_VERSION  # the version of the files on disk

    @property
    def step(self) -> int:
        return self.meta["step"]

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def networks(self) -> dict[str, dict[str, Any]]:
        """Each network role's recipe: {"model": name, "part": "generator" | "discriminator", "args": kwargs}."""
        return self.meta["networks"]

    @property
    def config(self) -> dict[str, Any]:
        return self.meta["config"]

    @property
    def quality(self) -> dict[str, float] | None:
        return self.meta.get("quality")

    def has_weights(self, role: str) -> bool:
        return role in self.networks and weights_path(self.path, role).is_file()

    def weights(self, role: str) -> dict[str, torch.Tensor]:
        return _load_weights(weights_path(self.path, role))

    def training_state(self) -> TrainingState:
        path = self.path / TRAINING_STATE_FILE
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"{path} is missing: this checkpoint can be sampled from but not resumed") from None
        except Exception as err:  # corrupt zip, or a pickle that asks for code
            raise CheckpointError(f"{path} cannot be read safely ({type(err).__name__}); "
                                  "resume from an earlier checkpoint") from None
        try:
            if self.format_version == 1:
                return TrainingState({"generator": state["optimizer_g"], "discriminator": state["optimizer_d"]},
                                     [{"noise": state["noise_rng"]}])
            return TrainingState(dict(state["optimizers"]), list(state["rng"]))
        except (KeyError, TypeError) as err:
            raise CheckpointError(f"{path} has an unusable training state (no {err}); "
                                  "resume from an earlier checkpoint") from None


def weights_path(checkpoint_dir: Path, role: str) -> Path:
    return Path(checkpoint_dir) / f"{role}.safetensors"


def save_checkpoint(run_dir: Path, step: int, kind: str, networks: dict[str, nn.Module],
                    recipes: dict[str, dict[str, Any]], config: dict[str, Any], training_state: TrainingState,
                    name: str | None = None, quality: dict[str, float] | None = None) -> Path:
    """Write checkpoints/<name or step-N> atomically and return its path; `quality` goes into meta.json.

    `networks` and `recipes` are keyed by role; every network needs its recipe.
    """
    missing = sorted(set(networks) - set(recipes))
    if missing:
        raise ValueError(f"no recipe for network roles {missing}")
    final = Path(run_dir) / CHECKPOINTS_DIR / (name or f"step-{step:08d}")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "ganvas_version": ganvas.__version__,
            "step": step, "kind": kind, "networks": {role: recipes[role] for role in networks},
            "config": config, "quality": quality}
    state = {"optimizers": training_state.optimizers, "rng": training_state.rng}
    with atomic_directory(final) as folder:
        for role, module in networks.items():
            weights_path(folder, role).write_bytes(save(_cpu_state(module)))
        torch.save(state, folder / TRAINING_STATE_FILE)
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return final


def load_checkpoint(path: Path) -> Checkpoint:
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{path} is not a ganvas checkpoint (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{meta_path} is corrupt; use another checkpoint") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganvas checkpoint ({META_FILE} has no ganvas format marker)")
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(f"{path} has checkpoint format version {version!r}, but this ganvas "
                              f"({ganvas.__version__}) reads versions {', '.join(map(str, READABLE_VERSIONS))}; "
                              f"use the ganvas that wrote it ({meta.get('ganvas_version', 'unknown')})")
    if version == 1:
        meta = _upgrade_from_version_1(path, meta)
    _check_meta(path, meta)
    return Checkpoint(path, meta, version)


def _upgrade_from_version_1(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Format 1 kept one {"name", "generator": kwargs, "discriminator": kwargs} recipe for a G/D pair."""
    try:
        recipe = meta.pop("model")
        name, generator, discriminator = recipe["name"], recipe["generator"], recipe["discriminator"]
    except (KeyError, TypeError):
        raise CheckpointError(f"{path}/{META_FILE} has no usable model recipe; use another checkpoint") from None
    networks = {"generator": {"model": name, "part": "generator", "args": generator},
                "discriminator": {"model": name, "part": "discriminator", "args": discriminator}}
    if weights_path(path, "generator_ema").is_file():
        networks["generator_ema"] = networks["generator"]
    return {**meta, "kind": NOISE_TO_IMAGE, "networks": networks}


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    """The fields every reader relies on, with the types it relies on: a damaged file is named here."""
    problem = None
    if not isinstance(meta.get("step"), int) or isinstance(meta.get("step"), bool) or meta["step"] < 0:
        problem = "step is not a whole number"
    elif not isinstance(meta.get("kind"), str):
        problem = "kind is missing"
    elif not isinstance(meta.get("networks"), dict) or not meta["networks"]:
        problem = "networks are missing"
    elif not isinstance(meta.get("config"), dict):
        problem = "config is missing"
    elif meta.get("quality") is not None and not isinstance(meta["quality"], dict):
        problem = "quality is not a mapping"
    else:
        for role, recipe in meta["networks"].items():
            if not (isinstance(recipe, dict) and isinstance(recipe.get("model"), str)
                    and recipe.get("part") in ("generator", "discriminator") and isinstance(recipe.get("args"), dict)):
                problem = f"network {role!r} has no usable recipe"
                break
    if problem:
        raise CheckpointError(f"{path}/{META_FILE} is damaged ({problem}); use another checkpoint")


def step_checkpoints(run_dir: Path) -> list[Path]:
    """The run's step-N checkpoints, oldest first (temporary and named ones excluded)."""
    parent = Path(run_dir) / CHECKPOINTS_DIR
    if not parent.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in parent.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    for path in step_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(path)


def named_checkpoint(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / name


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint folder, a run folder (its latest checkpoint) or RUN:NAME (e.g. RUN:best)."""
    text = str(target)
    run, _, name = text.rpartition(":") if ":" in text and not Path(text).exists() else (text, "", "")
    path = Path(run)
    if name:
        named = named_checkpoint(path, name)
        if not named.is_dir():
            raise CheckpointError(f"run {path} has no checkpoint named {name!r}")
        return named
    if (path / META_FILE).is_file():
        return path
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; give a run folder or a checkpoint folder")
    checkpoints = step_checkpoints(path)
    if not checkpoints:
        raise CheckpointError(f"{path} has no checkpoints yet; train it first (`ganvas train --run {path}`)")
    return checkpoints[-1]


def load_weights_into(module: nn.Module, weights: dict[str, torch.Tensor], what: str, source: Path) -> None:
    """Load weights, turning a mismatch into a message that names the first difference."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong_shape = [k for k in expected if k in weights and expected[k].shape != weights[k].shape]
    wrong_type = [k for k in expected if k in weights and expected[k].dtype != weights[k].dtype]
    if missing or unexpected or wrong_shape or wrong_type:
        if wrong_shape:
            key = wrong_shape[0]
            detail = f"{key} has shape {tuple(weights[key].shape)}, expected {tuple(expected[key].shape)}"
        elif wrong_type:
            key = wrong_type[0]
            detail = f"{key} is {weights[key].dtype}, expected {expected[key].dtype}"
        else:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{source} holds a different {what} architecture ({detail}); "
                              "use the model options it was trained with")
    module.load_state_dict(weights)


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete, use another one") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is corrupt ({err}); use another checkpoint") from None


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
