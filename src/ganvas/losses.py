"""GAN objectives as pure functions of the discriminator's logits.

Each objective is a pair: the discriminator's loss given logits on real and
generated images, and the generator's loss given the same two (most objectives
ignore the real logits; those that use them set `generator_needs_real`, so the
trainer only pays for that extra D forward when it is needed).
Sigmoids live here, written with softplus so that they are numerically safe:
-log(sigmoid(x)) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x).
Most discriminator losses are a term on real logits plus a term on generated ones;
those objectives also give the two terms on their own (`real_loss`, `fake_loss`), for D
updates on the real and the generated batch separately (`--d-step separate`).
Regularizers that need the networks themselves (gradient penalties, weight
clipping, EMA) live in `ganvas.regularizers`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ganvas.errors import GanvasError

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    name: str
    discriminator_loss: Callable[[Tensor, Tensor], Tensor]
    generator_loss: Callable[[Optional[Tensor], Tensor], Tensor]  # (real_logits or None, fake_logits)
    description: str
    generator_needs_real: bool = False
    # discriminator_loss(real, fake) = real_loss(real) + fake_loss(fake); None where the loss pairs real with fake.
    real_loss: Optional[Callable[[Tensor], Tensor]] = None
    fake_loss: Optional[Callable[[Tensor], Tensor]] = None
    # D's output between calling an image real and calling it generated: 0 for logits, 0.5 for least squares'
    # targets 1 and 0. None where an output means nothing on its own: a critic's scores drift by a constant, and a
    # relativistic D only compares a real image with a generated one.
    boundary: Optional[float] = 0.0

    @property
    def separable(self) -> bool:
        """Whether D's loss splits into a real and a generated term, so D can be updated on each batch alone."""
        return self.real_loss is not None and self.fake_loss is not None

    def accuracy(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """How often D tells real from generated: each image on the right side of the boundary, or, for objectives
        without one, each real image scored above the generated image at the same batch index."""
        if self.boundary is None:
            return (real_logits > fake_logits).float().mean()
        return ((real_logits > self.boundary).float().mean() + (fake_logits < self.boundary).float().mean()) / 2

    def real_sign(self, real_logits: Tensor) -> Tensor:
        """ADA's overfitting signal: the mean side of the boundary D puts real images on (1: all called real)."""
        if self.boundary is None:
            raise GanvasError(f"the {self.name} loss has no boundary between real and generated outputs")
        return (real_logits - self.boundary).sign().mean()


def bce_real_loss(real_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """-E[t log D(x) + (1-t) log(1 - D(x))]: binary cross-entropy on real images with target t (1 by default;
    t < 1 is one-sided label smoothing, Salimans et al. 2016)."""
    real_term = F.softplus(-real_logits)
    if real_target != 1.0:  # skipped at the default, which then computes exactly the plain BCE
        real_term = real_target * real_term + (1 - real_target) * F.softplus(real_logits)
    return real_term.mean()


def bce_fake_loss(fake_logits: Tensor) -> Tensor:
    """-E[log(1 - D(G(z)))]: binary cross-entropy on generated images, target 0."""
    return F.softplus(fake_logits).mean()


def bce_discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """-E[t log D(x) + (1-t) log(1 - D(x))] - E[log(1 - D(G(z)))]: binary cross-entropy, generated = 0.

    The real target t is 1 by default; t < 1 is one-sided label smoothing (Salimans et al. 2016).
    """
    return bce_real_loss(real_logits, real_target) + bce_fake_loss(fake_logits)


def nonsaturating_generator_loss(real_logits: Optional[Tensor], fake_logits: Tensor) -> Tensor:
    """-E[log D(G(z))]: binary cross-entropy with target 1, what the tutorial's code trains G on."""
    return F.softplus(-fake_logits).mean()


def minimax_generator_loss(real_logits: Optional[Tensor], fake_logits: Tensor) -> Tensor:
    """E[log(1 - D(G(z)))] = -E[softplus(D(G(z)))]: the tutorial's formula; saturates when D wins."""
    return -F.softplus(fake_logits).mean()


def wasserstein_critic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[D(G(z))] - E[D(x)]: the critic maximises the gap between its scores on real and generated images."""
    return fake_logits.mean() - real_logits.mean()


def wasserstein_real_loss(real_logits: Tensor) -> Tensor:
    """-E[D(x)]: the critic's term on real images."""
    return -real_logits.mean()


def wasserstein_fake_loss(fake_logits: Tensor) -> Tensor:
    """E[D(G(z))]: the critic's term on generated images."""
    return fake_logits.mean()


def wasserstein_generator_loss(real_logits: Optional[Tensor], fake_logits: Tensor) -> Tensor:
    """-E[D(G(z))]: G raises the critic's score on its images (also the hinge objective's G loss)."""
    return -fake_logits.mean()


def least_squares_real_loss(real_logits: Tensor) -> Tensor:
    """0.5 E[(D(x) - 1)^2]: LSGAN's term on real images."""
    return 0.5 * (real_logits - 1).square().mean()


def least_squares_fake_loss(fake_logits: Tensor) -> Tensor:
    """0.5 E[D(G(z))^2]: LSGAN's term on generated images."""
    return 0.5 * fake_logits.square().mean()


def least_squares_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2]: LSGAN with targets real = 1, generated = 0."""
    return least_squares_real_loss(real_logits) + least_squares_fake_loss(fake_logits)


def least_squares_generator_loss(real_logits: Optional[Tensor], fake_logits: Tensor) -> Tensor:
    """0.5 E[(D(G(z)) - 1)^2]: LSGAN, G pulls D's output on its images towards the real target."""
    return 0.5 * (fake_logits - 1).square().mean()


def hinge_real_loss(real_logits: Tensor) -> Tensor:
    """E[relu(1 - D(x))]: the hinge term on real images."""
    return F.relu(1 - real_logits).mean()


def hinge_fake_loss(fake_logits: Tensor) -> Tensor:
    """E[relu(1 + D(G(z)))]: the hinge term on generated images."""
    return F.relu(1 + fake_logits).mean()


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]: D stops pushing once a sample is beyond the margin."""
    return hinge_real_loss(real_logits) + hinge_fake_loss(fake_logits)


def relativistic_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[softplus(-(D(x_i) - D(G(z_i))))] = -E[log sigmoid(D(x_i) - D(G(z_i)))]: RpGAN, relativistic pairing.

    Each real image is paired with the generated image at the same batch index, so both batches
    must have the same size. D learns that a real image looks more real than its generated partner.
    """
    return F.softplus(fake_logits - real_logits).mean()


def relativistic_generator_loss(real_logits: Optional[Tensor], fake_logits: Tensor) -> Tensor:
    """E[softplus(-(D(G(z_i)) - D(x_i)))]: RpGAN, the discriminator's loss with the roles swapped."""
    return relativistic_discriminator_loss(fake_logits, real_logits)


_OBJECTIVES = {
    objective.name: objective
    for objective in [
        Objective("nonsaturating", bce_discriminator_loss, nonsaturating_generator_loss,
                  "the tutorial's code: D by binary cross-entropy, G trained to make D say 1",
                  real_loss=bce_real_loss, fake_loss=bce_fake_loss),
        Objective("minimax", bce_discriminator_loss, minimax_generator_loss,
                  "the tutorial's formula: D by binary cross-entropy, G minimises log(1 - D(G(z))); "
                  "G's gradients vanish while D confidently rejects its images",
                  real_loss=bce_real_loss, fake_loss=bce_fake_loss),
        Objective("wgan", wasserstein_critic_loss, wasserstein_generator_loss,
                  "Wasserstein GAN: D is a critic scoring realness; meant to be trained with its weights "
                  "clipped to a small box after each step and several critic steps (n_critic) per G step",
                  real_loss=wasserstein_real_loss, fake_loss=wasserstein_fake_loss, boundary=None),
        Objective("wgan-gp", wasserstein_critic_loss, wasserstein_generator_loss,
                  "Wasserstein GAN with gradient penalty: wgan's losses, with the critic kept 1-Lipschitz by "
                  "penalising input-gradient norms away from 1 (regularizers.gradient_penalty) instead of clipping",
                  real_loss=wasserstein_real_loss, fake_loss=wasserstein_fake_loss, boundary=None),
        Objective("lsgan", least_squares_discriminator_loss, least_squares_generator_loss,
                  "least squares GAN: D regresses real to 1 and generated to 0, G pulls its images to 1",
                  real_loss=least_squares_real_loss, fake_loss=least_squares_fake_loss, boundary=0.5),
        Objective("hinge", hinge_discriminator_loss, wasserstein_generator_loss,
                  "hinge loss: D by a margin of 1 on each side, G raises D's score on its images",
                  real_loss=hinge_real_loss, fake_loss=hinge_fake_loss),
        Objective("relativistic", relativistic_discriminator_loss, relativistic_generator_loss,
                  "relativistic pairing GAN (RpGAN): D judges whether each real image looks more real than a "
                  "generated one, and G the reverse; G's loss needs D's logits on real images too",
                  generator_needs_real=True, boundary=None),
    ]
}


def objective_names() -> list[str]:
    return sorted(_OBJECTIVES)


SMOOTHABLE = ("nonsaturating", "minimax")  # the objectives whose D loss is binary cross-entropy


def get_objective(name: str, real_label: float = 1.0) -> Objective:
    """The named objective; real_label < 1 is one-sided label smoothing of D's real target (BCE objectives only)."""
    try:
        objective = _OBJECTIVES[name]
    except KeyError:
        raise GanvasError(f"unknown loss {name!r}; choose one of: {', '.join(objective_names())}") from None
    if real_label == 1.0:
        return objective
    if name not in SMOOTHABLE:
        raise GanvasError(f"label smoothing (--real-label) applies to the cross-entropy losses "
                          f"({', '.join(SMOOTHABLE)}), not {name}")
    return dataclasses.replace(objective,
                               discriminator_loss=functools.partial(bce_discriminator_loss, real_target=real_label),
                               real_loss=functools.partial(bce_real_loss, real_target=real_label))
