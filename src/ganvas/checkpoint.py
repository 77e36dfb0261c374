"""Checkpoint files: the only module that knows their format.

A checkpoint is a folder, written under a temporary name and renamed into place
so that a crash never leaves one that looks complete:

    step-00001000/
        meta.json                  format version, ganvas version, step, model recipe, run config
        generator.safetensors      weights, one file per network (generator, discriminator, and
        discriminator.safetensors  generator_ema when the run averages G's weights); sampling
        generator_ema.safetensors  needs only meta.json and a generator file
        training_state.pt          optimizer and RNG state: tensors and plain containers only,
                                   read back with torch.load(weights_only=True)

Nothing here unpickles code, so a checkpoint from a stranger is safe to open.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

import ganvas
from ganvas.errors import CheckpointError

FORMAT = "ganvas-checkpoint"
FORMAT_VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
META_FILE = "meta.json"
TRAINING_STATE_FILE = "training_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return self.meta["step"]

    @property
    def model(self) -> dict[str, Any]:
        """How to rebuild the networks: {"name", "generator": kwargs, "discriminator": kwargs}."""
        return self.meta["model"]

    def has_weights(self, network: str) -> bool:
        return weights_path(self.path, network).is_file()

    def weights(self, network: str) -> dict[str, torch.Tensor]:
        return _load_weights(weights_path(self.path, network))

    def training_state(self) -> dict[str, Any]:
        path = self.path / TRAINING_STATE_FILE
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"{path} is missing: this checkpoint can be sampled from but not resumed") from None
        except Exception as err:  # corrupt zip, or a pickle that asks for code
            raise CheckpointError(f"{path} cannot be read safely ({type(err).__name__}); "
                                  "resume from an earlier checkpoint") from None


def weights_path(checkpoint_dir: Path, network: str) -> Path:
    return Path(checkpoint_dir) / f"{network}.safetensors"


def save_checkpoint(run_dir: Path, step: int, networks: dict[str, nn.Module],
                    model: dict[str, Any], config: dict[str, Any], training_state: dict[str, Any],
                    name: str | None = None, quality: dict[str, float] | None = None) -> Path:
    """Write checkpoints/<name or step-N> atomically and return its path; `quality` goes into meta.json."""
    parent = Path(run_dir) / CHECKPOINTS_DIR
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / (name or f"step-{step:08d}")
    tmp = parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "ganvas_version": ganvas.__version__,
            "step": step, "model": model, "config": config, "quality": quality}
    for network, module in networks.items():
        save_file(_cpu_state(module), weights_path(tmp, network))
    torch.save(training_state, tmp / TRAINING_STATE_FILE)
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    _fsync_dir_contents(tmp)
    if final.exists():  # e.g. `best` being replaced: move the old one aside first, then swap
        old = parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
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
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version!r}, but this ganvas "
                              f"({ganvas.__version__}) reads version {FORMAT_VERSION}; use the ganvas that wrote it "
                              f"({meta.get('ganvas_version', 'unknown')})")
    return Checkpoint(path, meta)


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


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint folder, a run folder (its latest checkpoint) or RUN:NAME (e.g. RUN:best)."""
    text = str(target)
    run, _, name = text.rpartition(":") if ":" in text and not Path(text).exists() else (text, "", "")
    path = Path(run)
    if name:
        named = path / CHECKPOINTS_DIR / name
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
    if missing or unexpected or wrong_shape:
        if wrong_shape:
            key = wrong_shape[0]
            detail = f"{key} has shape {tuple(weights[key].shape)}, expected {tuple(expected[key].shape)}"
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
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is corrupt ({err}); use another checkpoint") from None


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def _fsync_dir_contents(directory: Path) -> None:
    for path in directory.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
