"""Networks, built by name from a registry.

A model is a pair of classes: a generator and a discriminator. Both take plain
JSON-able constructor arguments (``image_shape``, ``z_dim`` and the model's own
options), so a checkpoint can record how to rebuild them without pickling code.
Generators expose ``z_dim`` and ``image_shape``; discriminators return one logit
per image (any sigmoid lives in the loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ganvas.errors import GanvasError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    generator: type[nn.Module]
    discriminator: type[nn.Module]
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, generator: type[nn.Module], discriminator: type[nn.Module], description: str) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = ModelSpec(name, generator, discriminator, description)


def model_names() -> list[str]:
    return sorted(_REGISTRY)


def get_model(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GanvasError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}") from None


def build_generator(name: str, **kwargs: Any) -> nn.Module:
    return get_model(name).generator(**kwargs)


def build_discriminator(name: str, **kwargs: Any) -> nn.Module:
    return get_model(name).discriminator(**kwargs)


# Importing a model module registers it.
from ganvas.models import mlp  # noqa: E402,F401
