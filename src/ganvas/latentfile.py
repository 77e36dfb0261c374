"""Latent files: one point of a generator's latent space as a small JSON file. The only module that knows the format.

    {
      "format": "ganvas-latent", "version": 1,
      "z": [0.12, -1.3, ...],                      z_dim numbers: the image is G(truncation * z, class)
      "class": 7,                                  a conditional model's class; null for an unconditional one
      "truncation": 1.0,
      "generator": {"checkpoint": "runs/digits/checkpoints/step-00009000", "step": 9000,
                    "model": "dcgan-cond", "z_dim": 100, "image_shape": [1, 28, 28], "classes": 10,
                    "weights": "sha256:..."},       which generator it belongs to (its weights' fingerprint)
      "loss": 0.0071, "psnr": 24.3, "ssim": 0.93,  projections: how well it matches its target
      "target": "my-seven.png"
    }

`ganvas project` writes them; `sample`, `variations`, `interpolate` and `blend` read them wherever a seed works.
A latent means the same image only in the generator it was found in, so a file is refused, with a message that
says so, by a generator of another model, shape or latent size, and by other weights of the same model (another
checkpoint or run). A file that is not JSON, not this format, or whose z has the wrong length or a NaN is refused
too, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganvas.errors import GanvasError, named
from ganvas.files import atomic_write_text

FORMAT = "ganvas-latent"
VERSION = 1
MAX_BYTES = 2 ** 20  # a latent file is a few kB
IDENTITY_KEYS = ("model", "z_dim", "image_shape", "classes")
EXTRA_KEYS = ("loss", "psnr", "ssim", "random_psnr", "random_ssim", "target")


@dataclass(frozen=True)
class Latent:
    """A latent of one generator: its image is G(truncation * z) (with `class_` for a conditional generator)."""

    z: torch.Tensor  # (z_dim,) float32
    class_: int | None = None
    truncation: float = 1.0
    generator: dict[str, Any] = field(default_factory=dict)  # the identity of the generator it belongs to
    extra: dict[str, Any] = field(default_factory=dict)  # a projection's loss, psnr, ssim, target ...

    @property
    def rendered(self) -> torch.Tensor:
        """The generator's input: truncation * z."""
        return self.z * self.truncation

    def with_class(self, class_: int | None) -> "Latent":
        return Latent(self.z, class_, self.truncation, self.generator, self.extra)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "z": [float(v) for v in self.z.tolist()],
                "class": self.class_, "truncation": self.truncation, "generator": self.generator,
                **{key: self.extra[key] for key in EXTRA_KEYS if key in self.extra}}

    def save(self, path: str | Path) -> Path:
        """Write the latent as JSON (atomically), one key a line, z's numbers on one line with float32's 9
        significant digits (which read back to the same float32s)."""
        path = Path(path)
        lines = [f"  {json.dumps(key)}: " + ("[" + ", ".join(f"{v:.9g}" for v in value) + "]" if key == "z"
                                             else json.dumps(value))
                 for key, value in self.to_dict().items()]
        atomic_write_text(path, "{\n" + ",\n".join(lines) + "\n}\n")
        return path


def weights_fingerprint(network: nn.Module) -> str:
    """"sha256:<hex>" of a network's weights (names, types, shapes and values): the same for the same weights on
    any device."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return "sha256:" + digest.hexdigest()


def generator_identity(network: nn.Module, model: str, checkpoint: Path, step: int) -> dict[str, Any]:
    """What a latent file records of the generator it belongs to."""
    return {"checkpoint": str(checkpoint), "step": step, "model": model, "z_dim": int(network.z_dim),
            "image_shape": [int(v) for v in network.image_shape], "classes": getattr(network, "num_classes", None),
            "weights": weights_fingerprint(network)}


def read_latent(path: str | Path) -> Latent:
    """A latent file, checked for its own consistency (format, a z of finite numbers of its generator's z_dim, a
    class, a truncation in (0, 1]); `check_fits` checks it against a generator."""
    path = Path(path)
    bad = f"{path} is not a ganvas latent file"
    try:
        if path.stat().st_size > MAX_BYTES:
            raise GanvasError(f"{bad} (it is {path.stat().st_size:,} bytes; latent files are a few kB)")
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise GanvasError(f"{path} does not exist; give a latent file written by `ganvas project`") from None
    except OSError as err:
        raise GanvasError(f"cannot read {path}: {err.strerror or err}") from None
    except (ValueError, RecursionError):
        raise GanvasError(f"{bad} (it is not JSON); give a latent file written by `ganvas project`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GanvasError(f"{bad} (no \"format\": \"{FORMAT}\"); give a latent file written by `ganvas project`")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise GanvasError(f"{path} is latent format version {data.get('version')!r}; this ganvas reads up to "
                          f"{VERSION}: upgrade ganvas to read it")
    generator = data.get("generator")
    if not isinstance(generator, dict) or not _is_size(generator.get("z_dim")):
        raise GanvasError(f"{path} does not say which generator it belongs to (no generator z_dim); project the "
                          "image again")
    z = data.get("z")
    if not isinstance(z, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in z):
        raise GanvasError(f"{path}: z must be a list of numbers")
    if len(z) != generator["z_dim"]:
        raise GanvasError(f"{path}: z has {len(z)} numbers, but its generator's z_dim is {generator['z_dim']}: the "
                          "file is damaged; project the image again")
    if not all(math.isfinite(v) for v in z):
        raise GanvasError(f"{path}: z holds NaN or infinite numbers; project the image again")
    class_ = data.get("class")
    if class_ is not None and not (isinstance(class_, int) and not isinstance(class_, bool) and class_ >= 0):
        raise GanvasError(f"{path}: class must be a whole number from 0, or null, got {class_!r}")
    truncation = data.get("truncation", 1.0)
    if not (isinstance(truncation, (int, float)) and not isinstance(truncation, bool) and 0 < truncation <= 1):
        raise GanvasError(f"{path}: truncation must be in (0, 1], got {truncation!r}")
    extra = {key: data[key] for key in EXTRA_KEYS if key in data}
    return Latent(torch.tensor(z, dtype=torch.float32), class_, float(truncation), generator, extra)


def check_fits(latent: Latent, identity: dict[str, Any], source: str | Path) -> None:
    """Refuse a latent that does not belong to the generator with `identity` (generator_identity), saying why."""
    theirs = latent.generator
    if len(latent.z) != identity["z_dim"]:
        raise GanvasError(f"{source}: z has {len(latent.z)} numbers, but this generator's z_dim is "
                          f"{identity['z_dim']}: the latent belongs to another model")
    differs = [key for key in IDENTITY_KEYS if key in theirs and _normal(theirs[key]) != _normal(identity[key])]
    if differs:
        raise GanvasError(f"{source} belongs to another model ({_describe(theirs)}, from "
                          f"{theirs.get('checkpoint', 'an unknown checkpoint')}), not this one ({_describe(identity)})"
                          ": load that checkpoint, or project the image again into this one")
    if theirs.get("weights") is not None and theirs["weights"] != identity["weights"]:
        raise GanvasError(f"{source} was found in other weights ({theirs.get('checkpoint', 'another checkpoint')}, "
                          f"step {theirs.get('step', '?')}) than this generator's ({identity['checkpoint']}, step "
                          f"{identity['step']}), where it makes another image: load that checkpoint, or project "
                          "the image again into this one")
    classes = identity["classes"]
    if classes is None and latent.class_ is not None:
        raise GanvasError(f"{source} has class {latent.class_}, but this generator is unconditional")
    if classes is not None and latent.class_ is not None and latent.class_ >= classes:
        raise GanvasError(f"{source} has class {latent.class_}, but this generator's classes are 0 to {classes - 1}"
                          f"; pick one with {named('class_')}")


def _describe(identity: dict[str, Any]) -> str:
    shape = "x".join(map(str, identity.get("image_shape") or [])) or "?"
    classes = f", {identity['classes']} classes" if identity.get("classes") else ""
    return f"{identity.get('model', '?')} with z_dim {identity.get('z_dim', '?')}, {shape} images{classes}"


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2 ** 16
