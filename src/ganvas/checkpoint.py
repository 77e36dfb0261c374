"""Checkpoint files: the only module that knows their format.

A checkpoint is a folder, written under a temporary name and renamed into place
(files.atomic_directory) so that a crash never leaves one that looks complete:

    step-00001000/
        meta.json                  format version, ganvas version, step, GAN kind, each network's
                                   recipe by role, the run config, the last quality measurement
        <role>.safetensors         weights, one file per network role: generator and discriminator,
                                   generator_ema when the run averages G's weights (more roles for
                                   kinds with more networks); sampling needs meta.json and a generator
        training_state.pt          optimizer states by role and RNG states, one set per process, and
                                   other state by name (ADA's augmentation probability, CycleGAN's pools):
                                   tensors and plain containers only, read back with
                                   torch.load(weights_only=True)

Format 2's meta.json names each network as {"model": registry name, "part": "generator" or
"discriminator", "args": constructor keywords}; format 1 (ganvas 0.1.0) had one `model` recipe
for a G/D pair and fixed training-state keys, and is upgraded to format 2 when read.

Nothing here unpickles code, so a checkpoint from a stranger is safe to open, and everything read is
checked before it is used: a damaged or hostile file is a CheckpointError naming it, never a crash
deeper down. Weights must be finite (a NaN checkpoint is refused, not sampled), and so must the
optimizer state that resuming restores.

A checkpoint found broken when a run resumes is set aside, not deleted: renamed `step-N.broken`
(`set_aside`), so it is not picked again but stays there to look at. Checkpoints after the one a
run resumes from are set aside as `step-N.discarded` (and `best.discarded`).
"""

from __future__ import annotations

import io
import json
import math
import os
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
from ganvas.errors import CheckpointError, GanvasError
from ganvas.files import atomic_directory, write_bytes

FORMAT = "ganvas-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CHECKPOINTS_DIR = "checkpoints"
META_FILE = "meta.json"
TRAINING_STATE_FILE = "training_state.pt"
NOISE_TO_IMAGE = "noise-to-image"  # the GAN kind of every format-1 checkpoint
IMAGE_TO_IMAGE = "image-to-image"  # translation GANs (ganvas.translation)
BROKEN = ".broken"  # suffix of a checkpoint set aside because it does not load clean
DISCARDED = ".discarded"  # suffix of a checkpoint set aside because a run resumed from an earlier one
MAX_META_BYTES = 10 * 2 ** 20  # a meta.json is a few kB; a larger one is not read
_STEP_DIR = re.compile(r"^step-(\d+)$")
_ROLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # network roles name files: no paths, no surprises


@dataclass
class TrainingState:
    """What resuming needs beyond the weights: optimizer state by network role, and the RNG states of each process
    (a list indexed by process rank; each a dict of stream name -> torch.Generator state)."""

    optimizers: dict[str, dict[str, Any]]
    rng: list[dict[str, torch.Tensor]] = field(default_factory=list)
    # Other training state by name, each a tensor: what a strategy adapts as it goes (ADA's augmentation probability),
    # CycleGAN's image pools. Checkpoints from before it was kept have none.
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)


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

    @property
    def processes(self) -> int:
        """How many processes trained it (1 for checkpoints that do not say)."""
        return self.meta.get("processes", 1)

    def has_weights(self, role: str) -> bool:
        return role in self.networks and weights_path(self.path, role).is_file()

    def weights(self, role: str) -> dict[str, torch.Tensor]:
        """The network's tensors, each checked finite (a NaN or Inf anywhere is a CheckpointError)."""
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
                optimizers = {"generator": state["optimizer_g"], "discriminator": state["optimizer_d"]}
                rng = [{"noise": state["noise_rng"]}]
                buffers = {}
            else:
                optimizers, rng = state["optimizers"], state["rng"]
                buffers = state.get("buffers", {})
        except (KeyError, TypeError, IndexError) as err:
            raise CheckpointError(f"{path} has an unusable training state (no {err}); "
                                  "resume from an earlier checkpoint") from None
        if not (isinstance(optimizers, dict) and isinstance(rng, list) and all(isinstance(s, dict) for s in rng)
                and isinstance(buffers, dict) and all(isinstance(b, torch.Tensor) for b in buffers.values())):
            raise CheckpointError(f"{path} has an unusable training state (not laid out as ganvas writes it); "
                                  "resume from an earlier checkpoint")
        return TrainingState(dict(optimizers), list(rng), dict(buffers))


def require_kind(checkpoint: Checkpoint, kind: str) -> None:
    """Refuse a checkpoint of another kind of GAN than `kind`, saying what each is."""
    if checkpoint.kind != kind:
        raise GanvasError(f"checkpoint {checkpoint.path} is of a {checkpoint.kind} GAN, but this is a {kind} one: "
                          f"{KIND_USES.get(checkpoint.kind, 'use a ganvas that knows that kind')}")


KIND_USES = {NOISE_TO_IMAGE: "sample from it (ganvas sample), or resume it with its own config",
             IMAGE_TO_IMAGE: "translate images with it (ganvas enhance), or resume it with its own config"}


def weights_path(checkpoint_dir: Path, role: str) -> Path:
    return Path(checkpoint_dir) / f"{role}.safetensors"


def save_checkpoint(run_dir: Path, step: int, kind: str, networks: dict[str, nn.Module],
                    recipes: dict[str, dict[str, Any]], config: dict[str, Any], training_state: TrainingState,
                    name: str | None = None, quality: dict[str, float] | None = None, processes: int = 1) -> Path:
    """Write checkpoints/<name or step-N> atomically and return its path; `quality` and the number of `processes`
    that trained it go into meta.json.

    `networks` and `recipes` are keyed by role; every network needs its recipe.
    """
    missing = sorted(set(networks) - set(recipes))
    if missing:
        raise ValueError(f"no recipe for network roles {missing}")
    final = Path(run_dir) / CHECKPOINTS_DIR / (name or f"step-{step:08d}")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "ganvas_version": ganvas.__version__,
            "step": step, "kind": kind, "networks": {role: recipes[role] for role in networks},
            "config": config, "quality": quality, "processes": processes}
    state = {"optimizers": training_state.optimizers, "rng": training_state.rng}
    if training_state.buffers:
        state["buffers"] = training_state.buffers
    training_state_bytes = io.BytesIO()
    torch.save(state, training_state_bytes)  # in memory, so that a full disk is an OSError of our own write
    with atomic_directory(final) as folder:
        for role, module in networks.items():
            write_bytes(weights_path(folder, role), save(_cpu_state(module)))
        write_bytes(folder / TRAINING_STATE_FILE, training_state_bytes.getvalue())
        write_bytes(folder / META_FILE, (json.dumps(meta, indent=2) + "\n").encode())
    return final


def load_checkpoint(path: Path) -> Checkpoint:
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{path} is not a ganvas checkpoint (no {META_FILE})")
    try:
        if meta_path.stat().st_size > MAX_META_BYTES:
            raise ValueError("too large")
        meta = json.loads(meta_path.read_text())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested beyond reason, or huge
        raise CheckpointError(f"{meta_path} is corrupt; use another checkpoint") from None
    except OSError as err:
        raise CheckpointError(f"{meta_path} cannot be read ({err.strerror or err}); use another checkpoint") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganvas checkpoint ({META_FILE} has no ganvas format marker)")
    version = meta.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
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
    elif not isinstance(meta.get("processes", 1), int) or isinstance(meta.get("processes", 1), bool) \
            or meta.get("processes", 1) < 1:
        problem = "processes is not a positive whole number"
    else:
        for role, recipe in meta["networks"].items():
            if not _ROLE.match(role):
                problem = f"network role {role[:40]!r} is not a name"
                break
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


def checkpoint_number(path: Path) -> int:
    """The step in a step-N checkpoint folder's name."""
    return int(_STEP_DIR.match(Path(path).name).group(1))


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    for path in step_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(path)


def named_checkpoint(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / name


def set_aside(path: Path, suffix: str) -> Path:
    """Rename a checkpoint folder to `<name><suffix>` (BROKEN or DISCARDED; `-2`, `-3` ... if taken), so that it is
    no longer listed or picked but stays in place, and return its new path."""
    path = Path(path)
    target, number = path.with_name(path.name + suffix), 2
    while target.exists():
        target, number = path.with_name(f"{path.name}{suffix}-{number}"), number + 1
    os.replace(path, target)
    return target


def find_checkpoint(run_dir: Path, chosen: str | Path) -> Path:
    """A checkpoint a user names for a run: a folder in its checkpoints/ (`step-00000400`, `best`), a step number
    (`400`), or any checkpoint folder's path."""
    run_dir, text = Path(run_dir), str(chosen)
    candidates = [named_checkpoint(run_dir, text)] if "/" not in text and text not in (".", "..") else []
    if text.isdigit():
        candidates.append(named_checkpoint(run_dir, f"step-{int(text):08d}"))
    candidates.append(Path(text))
    for candidate in candidates:
        if (candidate / META_FILE).is_file():
            return candidate
    folder = run_dir / CHECKPOINTS_DIR
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if folder.is_dir() else []
    raise CheckpointError(f"{run_dir} has no checkpoint {text!r}" +
                          (f"; it has {', '.join(names)}" if names else "; it has no checkpoints"))


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


def check_weights_fit(module: nn.Module, weights: dict[str, torch.Tensor], what: str, source: Path) -> None:
    """Refuse weights that do not fit `module` (which may live on the meta device), naming the first difference."""
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


def load_weights_into(module: nn.Module, weights: dict[str, torch.Tensor], what: str, source: Path) -> None:
    """Load weights, turning a mismatch into a message that names the first difference."""
    check_weights_fit(module, weights, what, source)
    module.load_state_dict(weights)


def check_training_state(state: TrainingState, optimizers: dict[str, torch.optim.Optimizer],
                         rng: list[dict[str, torch.Generator]], source: Path) -> None:
    """Refuse a training state that would not resume `optimizers` and the random streams `rng` as they were saved:
    another layout, a state tensor of another shape or type than its parameter, a non-finite value, a hyperparameter
    of another kind, another setting of a flag, or a random state that is not one. Optimizer.load_state_dict checks
    little of this, and what it lets through fails later, in the middle of a training step.

    The flags that only pick an implementation (IMPLEMENTATION_FLAGS: a fused kernel, ...) are the resuming
    process's choice for its device, not the file's: they are set to the optimizer's own in `state`."""
    def refuse(problem: str) -> None:
        raise CheckpointError(f"{source}/{TRAINING_STATE_FILE} has an unusable training state ({problem}); "
                              "resume from an earlier checkpoint")

    for role, optimizer in optimizers.items():
        saved = state.optimizers.get(role)
        if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) \
                or not isinstance(saved.get("param_groups"), list):
            refuse(f"no {role} optimizer")
        groups = saved["param_groups"]
        if len(groups) != len(optimizer.param_groups) or not all(isinstance(g, dict) for g in groups):
            refuse(f"the {role} optimizer has {len(groups)} parameter groups, expected {len(optimizer.param_groups)}")
        indices, params = [], []
        for ours, theirs in zip(optimizer.param_groups, groups):
            ids = theirs.get("params")
            if not isinstance(ids, list) or len(ids) != len(ours["params"]) \
                    or not all(type(i) is int for i in ids) or len(set(ids)) != len(ids):
                refuse(f"the {role} optimizer's parameters are not those of its network")
            indices += ids
            params += ours["params"]
            for key, value in ours.items():
                if key in IMPLEMENTATION_FLAGS:
                    theirs[key] = value
                elif isinstance(value, bool) or value is None:
                    if theirs.get(key, _MISSING) is not value:  # True, False and None are singletons
                        refuse(f"the {role} optimizer's {key} is {theirs.get(key)!r:.40}, not {value!r}")
                elif key != "params" and not _same_kind(value, theirs.get(key, _MISSING)):
                    refuse(f"the {role} optimizer's {key} is {theirs.get(key)!r:.40}")
        for index, param in zip(indices, params):
            entry = saved["state"].get(index, {})
            if not isinstance(entry, dict):
                refuse(f"the {role} optimizer's state {index} is not a mapping")
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    if value.dim() and (value.shape != param.shape or value.dtype != param.dtype):
                        refuse(f"the {role} optimizer's {key} {index} is {value.dtype} {tuple(value.shape)}, "
                               f"its parameter {param.dtype} {tuple(param.shape)}")
                    if value.is_complex() or not value.is_floating_point() or not torch.isfinite(value).all():
                        refuse(f"the {role} optimizer's {key} {index} is not finite floats")
                elif not _finite_number(value):
                    refuse(f"the {role} optimizer's {key} {index} is {value!r:.40}")
        if set(saved["state"]) - set(indices):
            refuse(f"the {role} optimizer has state for parameters its network does not have")
    if len(state.rng) < len(rng):
        refuse("random states are missing")
    for ours, theirs in zip(rng, state.rng):
        for name, generator in ours.items():
            value, reference = theirs.get(name), generator.get_state()
            if not isinstance(value, torch.Tensor) or value.dtype != reference.dtype or value.shape != reference.shape:
                refuse(f"the {name} random state is not one")


_MISSING = object()
IMPLEMENTATION_FLAGS = ("fused", "foreach", "capturable", "differentiable")


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _same_kind(ours: Any, theirs: Any) -> bool:
    """Whether a saved optimizer hyperparameter is of the kind the optimizer uses (a number for a number, a pair of
    numbers for betas, a flag for a flag), and finite."""
    if isinstance(ours, bool) or ours is None:
        return theirs is ours
    if isinstance(ours, (int, float)):
        return _finite_number(theirs)
    if isinstance(ours, (tuple, list)):
        return isinstance(theirs, (tuple, list)) and len(theirs) == len(ours) and all(
            _same_kind(a, b) for a, b in zip(ours, theirs))
    if isinstance(ours, torch.Tensor):
        return isinstance(theirs, torch.Tensor) and theirs.shape == ours.shape and theirs.dtype == ours.dtype \
            and bool(torch.isfinite(theirs).all())
    return type(theirs) is type(ours)


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        weights = load_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete, use another one") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is corrupt ({err}); use another checkpoint") from None
    except Exception as err:  # noqa: BLE001 - whatever else the parser makes of damaged bytes
        raise CheckpointError(f"{path} is corrupt ({type(err).__name__}: {err}); use another checkpoint") from None
    for key, tensor in weights.items():
        if (tensor.is_floating_point() or tensor.is_complex()) and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path} holds non-finite weights (NaN or Inf in {key}): the run had diverged "
                                  "or the file is damaged; use an earlier checkpoint")
    return weights


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
