"""A trained generator as a file other programs can run: ONNX (docs/export.md).

The file maps latents to images with no ganvas, PyTorch or Python needed to run it (onnxruntime
in Python, onnxruntime-web in a browser, ...):

    inputs   z       float32 [batch, z_dim]   latents, z ~ N(0, I)
             class   int64   [batch]          class-conditional models only: 0 .. num_classes - 1
    output   images  float32 [batch, C, H, W] in [-1, 1]

`batch` is dynamic. What a program needs to know to feed and read it is stored in the file's
metadata_props, every value as JSON text: z_dim, image_shape, channels, num_classes (null for
unconditional models), output_range and ganvas_version, plus whatever the caller adds (the
model recipe, the step, ...).

Exporting needs the `onnx` extra: onnx and onnxscript (which PyTorch's exporter uses).
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

import ganvas
from ganvas.checkpoint import CHECKPOINTS_DIR, Checkpoint
from ganvas.errors import GanvasError
from ganvas.files import atomic_write_bytes
from ganvas.models import is_conditional
from ganvas.sampling import load_generator

FORMATS = ("onnx",)
INPUT_LATENT = "z"
INPUT_CLASS = "class"
OUTPUT_IMAGES = "images"
# Keys export_onnx fills in from the generator itself; the caller's metadata may not set them.
DERIVED_KEYS = ("z_dim", "image_shape", "channels", "num_classes", "output_range", "ganvas_version")
_EXTRA_HINT = "pip install 'ganvas[onnx]'"
_EXAMPLE_BATCH = 2  # torch.export treats a size-1 dimension as fixed, so trace with 2 and mark it dynamic


class _Unconditional(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


class _Conditional(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.generator(z, labels)


def generator_metadata(generator: nn.Module) -> dict[str, Any]:
    """What the file says about the generator itself (the DERIVED_KEYS), as plain JSON-able values."""
    for attribute in ("z_dim", "image_shape"):
        if not hasattr(generator, attribute):
            raise ValueError(f"{type(generator).__name__} has no {attribute}: export_onnx takes a ganvas generator")
    image_shape = [int(side) for side in generator.image_shape]
    return {
        "z_dim": int(generator.z_dim),
        "image_shape": image_shape,  # [C, H, W]
        "channels": image_shape[0],
        "num_classes": int(generator.num_classes) if is_conditional(generator) else None,
        "output_range": [-1, 1],
        "ganvas_version": ganvas.__version__,
    }


def export_onnx(generator: nn.Module, path: str | Path, *, metadata: dict[str, Any]) -> Path:
    """Write `generator` as an ONNX file at `path` (atomically) and return the path.

    Inputs `z` (float32 [batch, z_dim]) and, for conditional generators, `class` (int64 [batch]);
    output `images` (float32 [batch, C, H, W], in [-1, 1]); `batch` is dynamic. The generator is
    exported in eval mode (batch norm uses its running statistics) from a CPU float32 copy, so the
    module passed in is left as it was. `metadata` (JSON-able values, e.g. {"recipe": ...}) is stored
    with the generator's own facts (DERIVED_KEYS) as the file's metadata_props, each value as JSON.
    """
    clash = sorted(set(metadata) & set(DERIVED_KEYS))
    if clash:
        raise ValueError(f"metadata keys {clash} are filled in from the generator; leave them out")
    path = Path(path)
    if path.is_dir():
        raise GanvasError(f"{path} is a folder: give the name of the file to write, e.g. {path / 'generator.onnx'}")
    onnx = _require_onnx()
    properties = {**generator_metadata(generator), **metadata}
    encoded = {key: json.dumps(value) for key, value in properties.items()}  # fails early on non-JSON values

    model = _to_onnx_model(generator)
    for key, value in encoded.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = (f"ganvas generator: {INPUT_LATENT} float32 [batch, {properties['z_dim']}]"
                        + (f" and {INPUT_CLASS} int64 [batch]" if properties["num_classes"] is not None else "")
                        + f" -> {OUTPUT_IMAGES} float32 [batch, {', '.join(map(str, properties['image_shape']))}]"
                        " in [-1, 1]")
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())
    return path


def export_checkpoint(target: str | Path, out: str | Path | None = None, format: str = "onnx") -> Path:
    """Export the generator of a checkpoint (a checkpoint folder, a run folder's latest, or RUN:NAME).

    The EMA weights are used when the run has them (as `ganvas sample` does). `out` defaults to
    `<run folder name>.onnx` in the current folder. Returns the path written.
    """
    check_format(format)
    generator, checkpoint = load_generator(target, "cpu")
    return export_generator(generator, checkpoint, out, format)


def check_format(format: str) -> None:
    """Fail before anything is loaded: the format must be known and its packages installed."""
    if format not in FORMATS:
        raise GanvasError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}")
    _require_onnx()


def export_generator(generator: nn.Module, checkpoint: Checkpoint, out: str | Path | None = None,
                     format: str = "onnx") -> Path:
    """export_onnx with the checkpoint's recipe, step and weights in the metadata; see export_checkpoint."""
    check_format(format)
    role = "generator_ema" if checkpoint.has_weights("generator_ema") else "generator"
    checkpoint_dir = Path(checkpoint.path)
    in_run = checkpoint_dir.parent.name == CHECKPOINTS_DIR
    run_name = checkpoint_dir.parent.parent.name if in_run else checkpoint_dir.name
    metadata = {"recipe": checkpoint.networks[role], "step": checkpoint.step, "weights": role,
                "checkpoint": checkpoint_dir.name}
    return export_onnx(generator, Path(out) if out is not None else Path(f"{run_name}.{format}"), metadata=metadata)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata_props of an exported file, decoded from JSON."""
    onnx = _require_onnx()
    model = onnx.load(str(path), load_external_data=False)
    return {prop.key: json.loads(prop.value) for prop in model.metadata_props}


def _require_onnx():
    """The onnx module, after checking that the exporter's packages are installed."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as err:
        raise GanvasError(f"exporting to ONNX needs the onnx and onnxscript packages ({err.name or err} is "
                          f"missing): {_EXTRA_HINT}") from None
    return onnx


def _to_onnx_model(generator: nn.Module):
    """The generator as an in-memory onnx.ModelProto with named inputs/outputs and a dynamic batch."""
    from torch.export import Dim

    net = copy.deepcopy(generator).float().cpu().eval()
    conditional = is_conditional(net)
    wrapper = (_Conditional if conditional else _Unconditional)(net).eval()
    z = torch.randn(_EXAMPLE_BATCH, net.z_dim, generator=torch.Generator().manual_seed(0))  # leaves torch's RNG be
    batch = Dim("batch")
    if conditional:
        args = (z, torch.arange(_EXAMPLE_BATCH) % net.num_classes)
        input_names, dynamic_shapes = [INPUT_LATENT, INPUT_CLASS], {"z": {0: batch}, "labels": {0: batch}}
    else:
        args, input_names, dynamic_shapes = (z,), [INPUT_LATENT], {"z": {0: batch}}
    with _quiet_exporter():
        try:
            program = torch.onnx.export(wrapper, args, dynamo=True, verbose=False, input_names=input_names,
                                        output_names=[OUTPUT_IMAGES], dynamic_shapes=dynamic_shapes)
        except TypeError as err:
            if "dynamo" in str(err) or "dynamic_shapes" in str(err):
                raise GanvasError(f"this PyTorch ({torch.__version__}) has no torch.onnx.export(dynamo=True); "
                                  "upgrade torch to export ONNX") from None
            raise
    model = program.model_proto
    # Each node carries the exporter's debugging notes (Python stack traces with this machine's paths):
    # half the file for a small net, and nothing a runtime reads.
    for node in model.graph.node:
        del node.metadata_props[:]
    return model


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's notes that no user can act on (torchvision ops it skips, its own deprecations)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            # z and class share the batch dimension, so the exporter keeps one of the two names (both "batch").
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)
