"""GAN objectives as pure functions of the discriminator's logits.

Each objective is a pair: the discriminator's loss given logits on real and
generated images, and the generator's loss given logits on generated images.
Sigmoids live here, written with softplus so that they are numerically safe:
-log(sigmoid(x)) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ganvas.errors import GanvasError

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    name: str
    discriminator_loss: Callable[[Tensor, Tensor], Tensor]
    generator_loss: Callable[[Tensor], Tensor]
    description: str


def bce_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))]: binary cross-entropy with real = 1, generated = 0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """-E[log D(G(z))]: binary cross-entropy with target 1, what the tutorial's code trains G on."""
    return F.softplus(-fake_logits).mean()


_OBJECTIVES = {
    objective.name: objective
    for objective in [
        Objective("nonsaturating", bce_discriminator_loss, nonsaturating_generator_loss,
                  "the tutorial's code: D by binary cross-entropy, G trained to make D say 1"),
    ]
}


def objective_names() -> list[str]:
    return sorted(_OBJECTIVES)


def get_objective(name: str) -> Objective:
    try:
        return _OBJECTIVES[name]
    except KeyError:
        raise GanvasError(f"unknown loss {name!r}; choose one of: {', '.join(objective_names())}") from None
