"""Networks, built by name from a registry.

A model is a pair of classes: a generator and a discriminator. Both take plain
JSON-able constructor arguments (``image_shape``, ``z_dim`` and the model's own
options), so a checkpoint can record how to rebuild them without pickling code.
Generators expose ``z_dim`` and ``image_shape``; discriminators return one logit
per image (any sigmoid lives in the loss).

Class-conditional models take ``num_classes`` as well and are called with int64
labels, one per sample: ``generator(z, labels)``, ``discriminator(images, labels)``.
Code that may meet either kind calls ``generate`` and ``discriminate``, which pass
the labels only to nets that take them.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganvas.errors import GanvasError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    generator: type[nn.Module]
    discriminator: type[nn.Module]
    description: str
    conditional: bool = False  # both nets take num_classes and are called with labels
    kind: str = "noise-to-image"  # or "image-to-image": a generator that translates images (ganvas.translation)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, generator: type[nn.Module], discriminator: type[nn.Module], description: str,
                   *, conditional: bool = False, kind: str = "noise-to-image") -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = ModelSpec(name, generator, discriminator, description, conditional, kind)


def model_names(kind: str | None = "noise-to-image") -> list[str]:
    """The registered models of a kind (None: all)."""
    return sorted(name for name, spec in _REGISTRY.items() if kind is None or spec.kind == kind)


def get_model(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GanvasError(f"unknown model {name!r}; choose one of: {', '.join(model_names(None))}") from None


def build_generator(name: str, **kwargs: Any) -> nn.Module:
    spec = get_model(name)
    _check_num_classes(spec, kwargs)
    _check_options(spec, "generator", spec.generator, kwargs)
    _check_arguments(spec, "generator", spec.generator, kwargs)
    return spec.generator(**kwargs)


def build_discriminator(name: str, **kwargs: Any) -> nn.Module:
    spec = get_model(name)
    _check_num_classes(spec, kwargs)
    _check_options(spec, "discriminator", spec.discriminator, kwargs)
    _check_arguments(spec, "discriminator", spec.discriminator, kwargs)
    return spec.discriminator(**kwargs)


def build_network(recipe: dict[str, Any]) -> nn.Module:
    """A network from a checkpoint's recipe: {"model": registry name, "part": "generator" or "discriminator",
    "args": constructor keywords}."""
    build = {"generator": build_generator, "discriminator": build_discriminator}[recipe["part"]]
    return build(recipe["model"], **recipe["args"])


def takes_option(name: str, part: str, option: str) -> bool:
    """Whether the model's generator or discriminator (part) has the constructor option `option`."""
    spec = get_model(name)
    cls = {"generator": spec.generator, "discriminator": spec.discriminator}[part]
    return option in inspect.signature(cls).parameters


def _check_options(spec: ModelSpec, role: str, cls: type[nn.Module], kwargs: dict[str, Any]) -> None:
    accepted = set(inspect.signature(cls).parameters) - {"self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise GanvasError(f"model {spec.name!r} has no {role} option {', '.join(unknown)} "
                          f"(its options: {', '.join(sorted(accepted))})")


def _check_num_classes(spec: ModelSpec, kwargs: dict[str, Any]) -> None:
    # One class may serve a conditional and an unconditional name; the name decides which gets built.
    num_classes = kwargs.get("num_classes")
    if spec.conditional and not (isinstance(num_classes, int) and num_classes >= 1):
        raise GanvasError(f"model {spec.name!r} is class-conditional: give num_classes, the number of classes "
                          f"(a positive int), not {num_classes!r}")
    if not spec.conditional and num_classes is not None:
        raise GanvasError(f"model {spec.name!r} is unconditional and takes no num_classes; "
                          "choose a conditional model to train with labels")


# Bounds on constructor arguments, which come from checkpoint files and so from anyone: far beyond any network
# ganvas trains, and small enough that checking a recipe never builds anything absurd.
MAX_SIZE = 2 ** 16  # a whole-number size: z_dim, width, num_classes, each hidden layer
MAX_SIDE = 1024  # image height and width
IMAGE_CHANNELS = (1, 3, 4)  # grey, RGB, RGBA
MAX_LAYERS = 64  # entries of a size tuple (the mlp's hidden sizes)


def _check_arguments(spec: ModelSpec, role: str, cls: type[nn.Module], kwargs: dict[str, Any]) -> None:
    """Each constructor argument of the type its annotation gives (JSON lists standing for tuples) and within the
    bounds above, so that a damaged or hostile recipe is refused before a network is built from it."""
    hints = typing.get_type_hints(cls.__init__)
    for name, value in kwargs.items():
        problem = _argument_problem(name, hints.get(name), value)
        if problem:
            raise GanvasError(f"model {spec.name!r} cannot build a {role} with {name}={_short(value)}: {problem}")


def _argument_problem(name: str, hint: Any, value: Any) -> str | None:
    if name == "image_shape":
        if not (isinstance(value, (list, tuple)) and len(value) == 3 and all(_is_int(v) for v in value)):
            return "it must be [channels, height, width]"
        if value[0] not in IMAGE_CHANNELS or not all(1 <= side <= MAX_SIDE for side in value[1:]):
            return f"channels must be 1, 3 or 4 and the sides from 1 to {MAX_SIDE}"
        return None
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)] if optional else [hint]
    if value is None:
        return None if optional and type(None) in typing.get_args(hint) else "it may not be none"
    kind = kinds[0] if len(kinds) == 1 else None
    if kind is bool:
        return None if isinstance(value, bool) else "it must be true or false"
    if kind is int:
        return None if _is_int(value) and 1 <= value <= MAX_SIZE else f"it must be a whole number from 1 to {MAX_SIZE}"
    if kind is float:
        return None if _is_number(value) and math.isfinite(value) else "it must be a finite number"
    if kind is str:
        return None if isinstance(value, str) and len(value) <= 64 else "it must be a short string"
    if typing.get_origin(kind) is tuple and typing.get_args(kind)[-1:] == (Ellipsis,):
        ok = isinstance(value, (list, tuple)) and len(value) <= MAX_LAYERS and all(
            _is_int(v) and 1 <= v <= MAX_SIZE for v in value)
        return None if ok else f"it must be a list of at most {MAX_LAYERS} whole numbers from 1 to {MAX_SIZE}"
    return f"this option cannot come from a recipe ({hint})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_conditional(net: nn.Module) -> bool:
    """Whether a network takes class labels (it was built with a num_classes)."""
    return getattr(net, "num_classes", None) is not None


def check_labels(net: nn.Module, labels: torch.Tensor | None) -> None:
    if labels is None and is_conditional(net):
        raise GanvasError(f"{type(net).__name__} is class-conditional (num_classes={net.num_classes}): "
                          "call it with labels, one int64 class per sample")


def generate(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images from latents; labels are used by conditional generators and ignored by the others."""
    check_labels(generator, labels)
    return generator(z, labels) if is_conditional(generator) else generator(z)


@torch.no_grad()
def generate_in_batches(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
                        batch_size: int = 500) -> torch.Tensor:
    """Images for many latents (and labels), a batch at a time on the generator's device, returned on the CPU."""
    device = next(generator.parameters()).device
    chunks = []
    for start in range(0, len(z), batch_size):
        chunk_labels = None if labels is None else labels[start:start + batch_size].to(device)
        chunks.append(generate(generator, z[start:start + batch_size].to(device), chunk_labels).cpu())
    return torch.cat(chunks)


def discriminate(discriminator: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """One logit per image; labels are used by conditional discriminators and ignored by the others."""
    check_labels(discriminator, labels)
    return discriminator(images, labels) if is_conditional(discriminator) else discriminator(images)


# Importing a model module registers it.
from ganvas.models import dcgan, lightweight, mlp, resnet, translator_resnet, unet  # noqa: E402,F401
