"""Projection: find the latent (and, for a conditional generator, the class) whose image matches a target image.

The recipe follows StyleGAN2's projector (Karras et al. 2020), made to work for every generator ganvas trains,
on a CPU, with nothing to download:

1. Start from the best of many random latents: a bank of `starts` N(0, I) latents (for a conditional generator
   spread evenly over the classes, or all in the class asked for) is rendered once, and each target keeps the
   `candidates` nearest bank images (by pixel distance; for a conditional generator, the nearest image of each
   of its nearest classes), so a wrong first guess of the class can still lose.
2. Optimise every candidate's latent with Adam: the learning rate warms up over the first 5 % of the steps and
   decays along a cosine over the last 25 %; noise added to the latent fades out over the first 75 %; a prior
   term keeps |z| near sqrt(z_dim), where N(0, I) latents, and so everything the generator was trained on, lie.
   After PRUNE_AT of the steps each target goes on with its best candidate alone (its Adam state kept).
3. Keep each target's best latent; one the optimisation made worse than its start goes back to the start.

The loss compares images as they are seen: pixels in [0, 1], colour premultiplied by alpha for RGBA models (so
the colour of invisible pixels does not count). Its terms (`LOSSES`, docs/enhance.md has the measurements that
chose the default):

- "pixels": mean squared error (at the resolutions in PIXEL_SCALES: full resolution only, since adding half and
  quarter resolution measured slightly worse, on digits and on art);
- "ssim": 1 - SSIM (Wang et al. 2004, pytorch_msssim's implementation), a structural term;
- "features": squared distances between the discriminator's intermediate activations for the image and for the
  target, each layer divided by the target's mean squared activation there. Every checkpoint keeps its
  discriminator; its layers are found generically (the outputs of its conv and linear layers, by forward hooks),
  never by model name.

Everything here works on tensors; files, paths and names are the API's (ganvas.api.Generator.project).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ganvas.errors import GanvasError, named
from ganvas.images import visible
from ganvas.latents import gaussian_latents
from ganvas.models import discriminate, generate, is_conditional

LOSSES = ("pixels", "pixels+ssim", "pixels+features", "pixels+ssim+features")
DEFAULT_LOSS = "pixels"
DEFAULT_STEPS = 100
DEFAULT_STARTS = 10_000
DEFAULT_FRAMES = 25
LEARNING_RATE = 0.2
RAMP_UP, RAMP_DOWN = 0.05, 0.25  # shares of the steps: learning-rate warm-up and cosine decay (StyleGAN2's)
NOISE, NOISE_RAMP = 0.05, 0.75  # latent noise, fading out (quadratically) over this share of the steps
PRIOR_WEIGHT = 0.1  # weight of (|z| / sqrt(z_dim) - 1)^2
PIXEL_SCALES = (1,)  # (1, 2, 4) adds half and quarter resolution: measured no better (docs/enhance.md)
SSIM_WEIGHT = 0.5
FEATURE_WEIGHT = 0.05
PRUNE_AT = 0.25  # share of the steps after which each target keeps only its best candidate
BATCH = 1024  # candidates optimised together; Adam and eval-mode networks keep each candidate independent
BANK_BATCH = 1000


@dataclass
class ProjectionResult:
    """One row per target, on the CPU."""

    z: torch.Tensor  # (N, z_dim): the latents found
    labels: torch.Tensor | None  # (N,) int64, conditional generators only
    images: torch.Tensor  # (N, C, H, W) in [-1, 1]: the generator's images of z (and labels)
    loss: torch.Tensor  # (N,) the final loss, without the prior term
    start_images: torch.Tensor  # (N, C, H, W): the best random sample of the bank, for each target
    start_labels: torch.Tensor | None
    frames: torch.Tensor  # (N, F, C, H, W) in [-1, 1], 8-bit pixel values: the optimisation, first frame = start
    starts: int  # how many random samples the bank held


def psnr(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of each image against its target (both in [-1, 1], compared as `visible`);
    identical images get 100 dB rather than infinity."""
    mse = (visible(images) - visible(targets)).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


def ssim(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004, pytorch_msssim's implementation) of each image against its target, compared as
    `visible`."""
    return _ssim_seen(visible(images), visible(targets))


class FeatureTap:
    """A network's intermediate activations, taken by forward hooks on its conv and linear layers (all but a last
    one-output layer, which is the logit): a generic view into any registered discriminator."""

    def __init__(self, network: nn.Module):
        self.network = network
        layers = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        self.layers = [m for m in layers if not (isinstance(m, nn.Linear) and m.out_features == 1)]
        self.taken: list[torch.Tensor] = []

    @contextmanager
    def tapping(self) -> Iterator[list[torch.Tensor]]:
        self.taken = []
        handles = [layer.register_forward_hook(lambda _m, _i, out: self.taken.append(out)) for layer in self.layers]
        try:
            yield self.taken
        finally:
            for handle in handles:
                handle.remove()

    def features(self, images: torch.Tensor, labels: torch.Tensor | None) -> list[torch.Tensor]:
        with self.tapping() as taken:
            discriminate(self.network, images, labels)
        return list(taken)


class Loss:
    """The projection loss of images against their targets, one value per image (see the module's docstring).

    targets: one per image to be scored (a candidate's target); labels: the classes the images are made with,
    which a conditional discriminator sees the target with too."""

    def __init__(self, kind: str, targets: torch.Tensor, discriminator: nn.Module | None = None,
                 labels: torch.Tensor | None = None):
        if kind not in LOSSES:
            raise GanvasError(f"unknown projection {named('loss')} {kind!r}; choose one of {', '.join(LOSSES)}")
        self.terms = kind.split("+")
        self.seen = visible(targets)
        self.scales = [s for s in PIXEL_SCALES if min(targets.shape[-2:]) // s >= 4]
        self.pooled = [F.avg_pool2d(self.seen, s) if s > 1 else self.seen for s in self.scales]
        self.tap = None
        if "features" in self.terms:
            if discriminator is None:
                raise GanvasError("the features loss needs the run's discriminator, and this checkpoint has none; "
                                  f"use {named('loss', 'pixels')}")
            self.tap = FeatureTap(discriminator)
            with torch.no_grad():
                self.wanted = self.tap.features(targets, labels)
            self.feature_scale = [f.pow(2).flatten(1).mean(1).mean().clamp_min(1e-8) for f in self.wanted]

    def rows(self, rows: torch.Tensor) -> "Loss":
        """The same loss for some of its targets."""
        part = object.__new__(Loss)
        part.__dict__.update(self.__dict__)
        part.seen, part.pooled = self.seen[rows], [pooled[rows] for pooled in self.pooled]
        if self.tap is not None:
            part.wanted = [wanted[rows] for wanted in self.wanted]
        return part

    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        seen = visible(images)
        total = torch.zeros(len(images), device=images.device)
        if "pixels" in self.terms:
            for scale, wanted in zip(self.scales, self.pooled):
                got = F.avg_pool2d(seen, scale) if scale > 1 else seen
                total = total + (got - wanted).pow(2).flatten(1).mean(1) / len(self.scales)
        if "ssim" in self.terms:
            total = total + SSIM_WEIGHT * (1 - _ssim_seen(seen, self.seen))
        if self.tap is not None:
            for got, wanted, scale in zip(self.tap.features(images, labels), self.wanted, self.feature_scale):
                total = total + FEATURE_WEIGHT * (got - wanted).pow(2).flatten(1).mean(1) / scale / len(self.wanted)
        return total


def _ssim_seen(seen: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """SSIM of images already in [0, 1]: a Gaussian window of 11 (sigma 1.5), or the largest odd one that fits."""
    from pytorch_msssim import ssim as ssim_of

    side = min(seen.shape[-2:])
    window = min(11, side - 1 if side % 2 == 0 else side)
    return ssim_of(seen, wanted, data_range=1.0, size_average=False, win_size=window)


def learning_rate(t: float, base: float = LEARNING_RATE) -> float:
    """StyleGAN2's schedule at progress t in [0, 1): a linear warm-up, a flat middle, a cosine decay."""
    ramp = min(1.0, (1.0 - t) / RAMP_DOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return base * ramp * min(1.0, t / RAMP_UP)


@contextmanager
def frozen(*networks: nn.Module | None) -> Iterator[None]:
    """Networks in eval mode with no parameter gradients, restored afterwards."""
    saved = []
    for network in networks:
        if network is None:
            continue
        saved.append((network, network.training, [p.requires_grad for p in network.parameters()]))
        network.eval()
        for p in network.parameters():
            p.requires_grad_(False)
    try:
        yield
    finally:
        for network, training, flags in saved:
            network.train(training)
            for p, flag in zip(network.parameters(), flags):
                p.requires_grad_(flag)


def random_bank(generator: nn.Module, count: int, seed: int, class_index: int | None) -> tuple[torch.Tensor,
                                                                                                torch.Tensor | None]:
    """The start latents: `count` N(0, I) latents from `seed` and, for a conditional generator, their classes
    (all `class_index`, or every class in turn)."""
    z = gaussian_latents(count, generator.z_dim, seed)
    if not is_conditional(generator):
        return z, None
    if class_index is not None:
        return z, torch.full((count,), class_index, dtype=torch.long)
    return z, torch.arange(count) % generator.num_classes


@torch.no_grad()
def nearest_in_bank(generator: nn.Module, targets: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None,
                    keep: int, distinct_labels: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """For each target, the indices (N, keep) into the bank of its `keep` nearest images by squared pixel distance
    (as `visible`), nearest first, and those distances; with distinct_labels, the nearest image of each of its
    `keep` nearest classes. The bank is rendered a batch at a time and never held whole, so it may be large."""
    device = targets.device
    wanted = visible(targets).flatten(1)
    wanted_sq = wanted.pow(2).sum(1, keepdim=True)
    groups = int(labels.max()) + 1 if distinct_labels and labels is not None else 0
    width = groups or keep  # per target: the best of each class, or the best `keep` overall
    best = torch.full((len(targets), width), math.inf, device=device)
    best_index = torch.zeros((len(targets), width), dtype=torch.long, device=device)
    for start in range(0, len(z), BANK_BATCH):
        chunk_z = z[start:start + BANK_BATCH].to(device)
        chunk_labels = None if labels is None else labels[start:start + BANK_BATCH].to(device)
        got = visible(generate(generator, chunk_z, chunk_labels)).flatten(1)
        distance = (wanted_sq - 2 * wanted @ got.T + got.pow(2).sum(1)[None]).clamp_min(0)  # (N, chunk)
        if groups:
            for group in chunk_labels.unique().tolist():
                members = (chunk_labels == group).nonzero().squeeze(1)
                value, where = distance[:, members].min(1)
                better = value < best[:, group]
                best[:, group] = torch.where(better, value, best[:, group])
                best_index[:, group] = torch.where(better, members[where] + start, best_index[:, group])
        else:
            indices = torch.arange(start, start + len(chunk_z), device=device).expand(len(targets), -1)
            merged, merged_index = torch.cat([best, distance], 1), torch.cat([best_index, indices], 1)
            best, order = merged.topk(width, dim=1, largest=False)
            best_index = merged_index.gather(1, order)
    count = min(keep, width, len(z))
    order = best.argsort(1)[:, :count]
    return best_index.gather(1, order), best.gather(1, order)


def project(generator: nn.Module, targets: torch.Tensor, *, steps: int = DEFAULT_STEPS,
            class_index: int | None = None, loss: str = DEFAULT_LOSS, discriminator: nn.Module | None = None,
            starts: int = DEFAULT_STARTS, candidates: int | None = None, seed: int = 0,
            frames: int = DEFAULT_FRAMES, lr: float = LEARNING_RATE,
            on_step: Callable[[int, int], None] | None = None) -> ProjectionResult:
    """Project `targets` ((N, C, H, W) in [-1, 1], the generator's image shape) into `generator`'s latent space.

    class_index: a conditional generator's class to keep (None: it is found too). candidates: starts optimised
    per target (default: for a conditional generator looking for the class, its 3 nearest classes; else the 2
    nearest latents); after PRUNE_AT of the steps only each target's best one goes on. on_step(done, total) is
    called after every optimisation step of every batch (for progress bars). Deterministic for a seed, and each
    target's result does not depend on the other targets.
    """
    _check(generator, targets, steps, starts, frames, class_index, candidates)
    if loss not in LOSSES or "features" in loss and discriminator is None:
        Loss(loss, targets[:1], discriminator)  # says what is wrong, before any work
    device = next(generator.parameters()).device
    targets = targets.to(device).float()
    find_class = is_conditional(generator) and class_index is None
    keep = candidates or (min(3, generator.num_classes) if find_class else 2)
    with frozen(generator, discriminator):
        bank_z, bank_labels = random_bank(generator, starts, seed, class_index)
        chosen, _ = nearest_in_bank(generator, targets, bank_z, bank_labels, keep, distinct_labels=find_class)
        keep = chosen.shape[1]
        z0 = bank_z[chosen.cpu()].to(device)  # (N, keep, z_dim)
        labels = None if bank_labels is None else bank_labels[chosen.cpu()].to(device)  # (N, keep)
        z, labels_found, final, history = _optimise(generator, targets, z0, labels, loss, discriminator, steps,
                                                    frames, seed, lr, on_step)
        images = generate(generator, z, labels_found)
        start_labels = None if labels is None else labels[:, 0]
        start_images = generate(generator, z0[:, 0], start_labels)  # the nearest random start of all
    cpu = lambda t: None if t is None else t.cpu()  # noqa: E731
    return ProjectionResult(z=z.cpu(), labels=cpu(labels_found), images=images.cpu(), loss=final.cpu(),
                            start_images=start_images.cpu(), start_labels=cpu(start_labels),
                            frames=history.float() / 127.5 - 1, starts=starts)


def _check(generator: nn.Module, targets: torch.Tensor, steps: int, starts: int, frames: int,
           class_index: int | None, candidates: int | None) -> None:
    if targets.dim() != 4 or tuple(targets.shape[1:]) != tuple(generator.image_shape):
        raise GanvasError(f"targets must be shaped (N, {', '.join(map(str, generator.image_shape))}), got "
                          f"{tuple(targets.shape)}")
    if len(targets) == 0:
        raise GanvasError("nothing to project: no targets")
    for name, value, least in (("steps", steps, 0), ("starts", starts, 1), ("frames", frames, 1),
                               ("candidates", candidates, 1)):
        if value is not None and not (isinstance(value, int) and value >= least):
            raise GanvasError(f"{named(name)} must be a whole number of at least {least}, got {value!r}")
    if class_index is not None:
        if not is_conditional(generator):
            raise GanvasError(f"this generator is unconditional: {named('class_')} needs a model trained with "
                              "labels (a -cond model)")
        if not 0 <= class_index < generator.num_classes:
            raise GanvasError(f"{named('class_')} must be from 0 to {generator.num_classes - 1}, got {class_index}")


def _optimise(generator: nn.Module, targets: torch.Tensor, z0: torch.Tensor, labels: torch.Tensor | None,
              loss: str, discriminator: nn.Module | None, steps: int, frames: int, seed: int, base_lr: float,
              on_step: Callable[[int, int], None] | None
              ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Adam on every candidate's latent (z0: (N, K, z_dim), labels (N, K)), for a batch of targets at a time; after
    PRUNE_AT of the steps each target keeps only its best candidate. Returns per target the latent, its class, its
    final loss (without the prior term) and uint8 frames of the way there, (N, F, C, H, W)."""
    count, keep, z_dim = z0.shape
    record_at = _frame_steps(steps, frames)
    prune_at = round(PRUNE_AT * steps) if keep > 1 else -1
    # One noise vector per step, shared by all candidates: each still meets N(0, I) noise, and a target's result
    # does not depend on which others are projected with it.
    noise = torch.randn(steps, z_dim, generator=torch.Generator().manual_seed(seed + 1)).to(z0.device)
    per_batch = max(1, BATCH // keep)
    groups = [slice(start, start + per_batch) for start in range(0, count, per_batch)]
    found_z, found_labels, found_loss, found_frames = [], [], [], []
    for number, group in enumerate(groups):
        size = len(range(count)[group])
        start_z = z0[group].reshape(-1, z_dim)
        part_labels = None if labels is None else labels[group].reshape(-1)
        objective = Loss(loss, targets[group].repeat_interleave(keep, 0), discriminator, part_labels)
        with torch.no_grad():
            start_loss = objective(generate(generator, start_z, part_labels), part_labels)
        z = start_z.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=base_lr)
        shots: list[torch.Tensor] = []
        alive = keep
        for step in range(steps + 1):
            if alive > 1 and (step == prune_at or step == steps):  # each target's best candidate goes on alone
                with torch.no_grad():
                    current = start_loss if step == 0 else objective(generate(generator, z, part_labels), part_labels)
                rows = current.view(size, alive).argmin(1) + torch.arange(size, device=current.device) * alive
                z, optimizer = _keep_rows(z, optimizer, rows)
                part_labels = None if part_labels is None else part_labels[rows]
                objective, start_z, start_loss = objective.rows(rows), start_z[rows], start_loss[rows]
                shots = [shot[rows.cpu()] for shot in shots]
                alive = 1
            if step == steps:
                break
            t = step / steps
            for param_group in optimizer.param_groups:
                param_group["lr"] = learning_rate(t, base_lr)
            strength = NOISE * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
            images = generate(generator, z + strength * noise[step], part_labels)
            if step in record_at:  # the image as the optimisation sees it now (with its noise, early on)
                shots.append(_to_pixels(images))
            prior = (z.norm(dim=1) / math.sqrt(z_dim) - 1).pow(2)
            total = (objective(images, part_labels) + PRIOR_WEIGHT * prior).sum()
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            if on_step is not None:
                on_step(number * steps + step + 1, len(groups) * steps)
        with torch.no_grad():
            final_images = generate(generator, z, part_labels)
            final_loss = objective(final_images, part_labels)
            # Never worse than where it started: a latent the optimisation made worse goes back to its start.
            worse = final_loss > start_loss
            z = torch.where(worse[:, None], start_z, z.detach())
            if worse.any():
                final_images = generate(generator, z, part_labels)
            shots.append(_to_pixels(final_images))
        found_z.append(z)
        found_labels.append(part_labels)
        found_loss.append(torch.where(worse, start_loss, final_loss))
        found_frames.append(torch.stack(shots, 1).cpu())
    return (torch.cat(found_z), None if labels is None else torch.cat(found_labels), torch.cat(found_loss),
            torch.cat(found_frames))


def _keep_rows(z: torch.Tensor, optimizer: torch.optim.Optimizer,
               rows: torch.Tensor) -> tuple[torch.Tensor, torch.optim.Optimizer]:
    """The latents of `rows` as a new leaf, with an Adam that carries on from their state."""
    kept = z.detach()[rows].clone().requires_grad_(True)
    fresh = torch.optim.Adam([kept], lr=optimizer.param_groups[0]["lr"])
    state = optimizer.state.get(z)
    if state:
        fresh.state[kept] = {"step": state["step"].clone(), "exp_avg": state["exp_avg"][rows].clone(),
                             "exp_avg_sq": state["exp_avg_sq"][rows].clone()}
    return kept, fresh


def _frame_steps(steps: int, frames: int) -> set[int]:
    """The steps after which a frame of the optimisation is kept: 0 (the start) to `steps`, evenly."""
    if frames == 1 or steps == 0:
        return {steps}
    return {round(i * steps / (frames - 1)) for i in range(frames)}


def _to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Images as 8-bit pixel values (uint8, still N x C x H x W) on the CPU: small enough to keep many."""
    return ((images.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
