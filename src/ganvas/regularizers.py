"""Regularizers for GAN training: pure functions of the networks and tensors they are given.

Unlike the objectives in `ganvas.losses`, these need the networks themselves (input
gradients, weights). None keeps state: randomness comes from the torch.Generator (or, for one
shard of a batch, the noise.SampleNoise) the caller passes, so a run that checkpoints its
generator's state stays reproducible.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ganvas.images import visible
from ganvas.models import discriminate
from ganvas.noise import SampleNoise, sample_noise

Tensor = torch.Tensor


def _input_gradients(discriminator: nn.Module, inputs: Tensor, labels: Optional[Tensor]) -> Tensor:
    """dD/dx for each sample, flattened to (batch, features), kept in the graph so a penalty on it trains D."""
    inputs = inputs.detach().requires_grad_(True)  # a leaf of our own: no gradient leaks into G or the data
    logits = discriminate(discriminator, inputs, labels)
    # Samples are independent, so the gradient of the sum gives each sample's own input gradient.
    (gradients,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return gradients.flatten(1).float()  # a norm in float32 even under bf16 autocast


def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor,
                     generator: SampleNoise | torch.Generator | None = None, labels: Optional[Tensor] = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x̂ D(x̂)||_2 - 1)^2] at x̂ = α·real + (1-α)·fake.

    α ~ U[0, 1] is drawn once per sample from `generator` (the global RNG if None). The norm is
    sqrt(sum of squares + 1e-12), since the plain norm's gradient is NaN where D's input gradient is zero.
    The caller multiplies by the penalty weight (λ = 10 in the paper). A conditional D judges the
    interpolations as of the real images' `labels`.
    """
    alpha = sample_noise(generator).rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device,
                                         dtype=real.dtype)
    gradients = _input_gradients(discriminator, alpha * real + (1 - alpha) * fake, labels)
    norms = torch.sqrt(gradients.square().sum(dim=1) + 1e-12)
    return (norms - 1).square().mean()


def r1_penalty(discriminator: nn.Module, real: Tensor, labels: Optional[Tensor] = None) -> Tensor:
    """R1 (Mescheder et al. 2018): E[||grad_x D(x)||^2] on real data, a zero-centred gradient penalty.

    The caller multiplies by gamma / 2 and, when applying it only every k-th D step (lazy
    regularisation), also by k.
    """
    return _input_gradients(discriminator, real, labels).square().sum(dim=1).mean()


def lazy_r1_weight(gamma: float, every: int) -> float:
    """The weight of an R1 penalty taken every `every` D steps: gamma / 2, scaled up by `every` to keep the same
    strength on average (lazy regularisation, Karras et al. 2020)."""
    return gamma / 2 * every


def lecam_penalty(real_logits: Optional[Tensor], fake_logits: Optional[Tensor], real_average: Tensor,
                  fake_average: Tensor) -> Tensor:
    """LeCam (Tseng et al. 2021): E[relu(D(x) - α_fake)²] + E[relu(α_real - D(G(z)))²], where α_real and
    α_fake are moving averages of D's mean scores on real and generated images (kept by the caller).

    D may score real images above what it gave generated ones lately, and generated ones below what it gave real
    ones, only at a quadratic cost: a D that memorises a small set cannot drive the two far apart. Either side
    may be None (a D update on one batch alone) and then counts 0.
    """
    terms = []
    if real_logits is not None:
        terms.append(torch.relu(real_logits.float() - fake_average).square().mean())
    if fake_logits is not None:
        terms.append(torch.relu(real_average - fake_logits.float()).square().mean())
    return torch.stack(terms).sum()


def mode_seeking_penalty(images: Tensor, latents: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode seeking (Mao et al. 2019, MSGAN): for neighbouring pairs of a batch (images 0 and 1, 2 and 3, ...),
    the mean over pairs of 1 / (mean |x_a - x_b| / mean |z_a - z_b| + eps), which G minimises.

    Two latents that G maps to nearly the same image cost the most, so G is pushed to spread its images over the
    collection instead of drawing one thing from many latents. The paper divides the means over one pair of
    batches; each pair's own ratio, as here, keeps the penalty a mean over pairs, so a batch split over several
    processes (each shard an even number of images) gives the same gradient. An odd last image is left out.
    """
    pairs = images.shape[0] // 2
    if pairs == 0:
        raise ValueError("mode seeking compares pairs of images: the batch needs at least 2")
    images, latents = images[:2 * pairs].float(), latents[:2 * pairs].float()
    image_distance = (images[0::2] - images[1::2]).abs().flatten(1).mean(1)
    latent_distance = (latents[0::2] - latents[1::2]).abs().flatten(1).mean(1)
    return (1 / (image_distance / latent_distance + eps)).mean()


def roughness(images: Tensor) -> Tensor:
    """(N, H, W): how far each pixel's colour is from its 3x3 neighbourhood's mean, summed over the colour
    channels, pixels in [0, 1] as they are seen (colour premultiplied by alpha, so invisible pixels do not count):
    0 on flat areas and on smooth gradients (a linear ramp is its own neighbourhood's mean), largest on pixel-sized
    noise."""
    seen = visible(images)
    colour = seen[:, :-1] if images.shape[1] in (2, 4) else seen
    neighbourhood = F.avg_pool2d(F.pad(colour, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return (colour - neighbourhood).abs().sum(1)


def total_variation(images: Tensor) -> Tensor:
    """The mean absolute difference between horizontally and between vertically neighbouring pixels, summed: 0 on
    a flat image, and largest on pixel-sized noise, which is why a small weight of it smooths grain more than
    edges."""
    images = images.float()
    return ((images[..., :, 1:] - images[..., :, :-1]).abs().mean()
            + (images[..., 1:, :] - images[..., :-1, :]).abs().mean())


@torch.no_grad()
def clip_weights_(module: nn.Module, limit: float) -> None:
    """Clamp every parameter of `module` in place to [-limit, limit]: WGAN's crude Lipschitz constraint."""
    for parameter in module.parameters():
        parameter.clamp_(-limit, limit)


def instance_noise(images: Tensor, std: float, generator: SampleNoise | torch.Generator | None) -> Tensor:
    """images + std·N(0, I): blurs real and generated distributions so that they overlap (Sønderby et al. 2016)."""
    noise = sample_noise(generator).randn(tuple(images.shape), device=images.device, dtype=images.dtype)
    return images + std * noise


def warmed_up_decay(decay: float, step: int) -> float:
    """The moving average's decay at `step`: lower at first, so the average does not mostly remember the random
    initial weights."""
    return min(decay, (step + 1) / (step + 10))


@torch.no_grad()
def update_ema_(ema_module: nn.Module, module: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 - decay)·param for each parameter, in place; buffers are copied as they are.

    decay = 0 copies `module`, decay = 1 leaves `ema_module` unchanged. Both modules must share one architecture.
    """
    for ema_parameter, parameter in zip(ema_module.parameters(), module.parameters(), strict=True):
        ema_parameter.lerp_(parameter, 1 - decay)
    for ema_buffer, buffer in zip(ema_module.buffers(), module.buffers(), strict=True):
        ema_buffer.copy_(buffer)
