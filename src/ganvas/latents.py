"""Points in a generator's latent space, reproducible from a seed on any device."""

from __future__ import annotations

import math

import torch

from ganvas.errors import GanvasError, named


def gaussian_latents(count: int, z_dim: int, seed: int) -> torch.Tensor:
    """z ~ N(0, I), drawn on the CPU so the same seed gives the same z on CPU, CUDA and MPS."""
    return torch.randn(count, z_dim, generator=torch.Generator().manual_seed(seed))


def balanced_labels(count: int, num_classes: int) -> torch.Tensor:
    """Class labels for `count` samples in sorted runs of (nearly) equal length: 0,0,..,1,1,..; a grid row per class."""
    return torch.arange(count) * num_classes // count


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick as z * psi: every latent pulled toward the mean of N(0, I), the origin.

    psi = 1 leaves z unchanged; smaller psi trades variety for more typical images. Scaling (rather than
    BigGAN's resampling of |z_i| > threshold) keeps each image recognisable across psi for the same seed.
    """
    if not 0 < psi <= 1:
        raise GanvasError(f"{named('truncation')} must be in (0, 1] (1 = off), got {psi}")
    return z * psi


def slerp(start: torch.Tensor, end: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from vector `start` (t = 0) to `end` (t = 1): one row per value of `t`.

    Gaussian latents live near a sphere; a straight line between two cuts through its less likely inside.
    Where the vectors are (anti)parallel the arc is undefined or unstable, so it falls back to a straight line.
    """
    a, b, t = start.double(), end.double(), t.double()[:, None]
    cos_angle = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    angle = torch.arccos(cos_angle.clamp(-1, 1))
    if torch.sin(angle) < 1e-6:
        return ((1 - t) * a + t * b).to(start.dtype)
    return ((torch.sin((1 - t) * angle) * a + torch.sin(t * angle) * b) / torch.sin(angle)).to(start.dtype)


EASINGS = ("linear", "smooth")


def ease(t: torch.Tensor, easing: str) -> torch.Tensor:
    """Map [0, 1] onto itself, monotone: linear keeps a constant pace; smooth (smoothstep) slows near both ends."""
    if easing == "linear":
        return t
    if easing == "smooth":
        return t * t * (3 - 2 * t)
    raise GanvasError(f"unknown easing {easing!r}; choose from {', '.join(EASINGS)}")


def keyframe_path(keyframes: torch.Tensor, frames: int, loop: bool = False, easing: str = "linear") -> torch.Tensor:
    """`frames` latents walking through every row of `keyframes` in turn along great-circle arcs.

    Each segment starts exactly on its keyframe. Without `loop` the last frame is the last keyframe; with it
    the walk returns toward the first keyframe and stops one step short, so a repeating animation is seamless.
    """
    count = len(keyframes)
    if count < 2:
        raise GanvasError(f"a walk needs at least 2 keyframes (seeds), got {count}")
    if frames < count:
        raise GanvasError(f"{named('frames')} must be at least the number of keyframes ({count}), got {frames}")
    ends = keyframes.roll(-1, dims=0) if loop else keyframes[1:]
    # Without a loop the final keyframe is a frame of its own, after the segments.
    lengths = _split_evenly(frames if loop else frames - 1, len(ends))
    path = [slerp(start, end, ease(torch.arange(length, dtype=torch.float64) / length, easing))
            for start, end, length in zip(keyframes, ends, lengths)]
    return torch.cat(path if loop else path + [keyframes[-1:]])


def _split_evenly(total: int, parts: int) -> list[int]:
    return [total // parts + (index < total % parts) for index in range(parts)]


def variations(count: int, z_dim: int, seed: int, strength: float) -> torch.Tensor:
    """The latent of `seed` (first row, = gaussian_latents(1, z_dim, seed)) and count - 1 neighbours of it.

    A neighbour is cos(a) * z + sin(a) * noise with a = strength * pi / 2: still exactly N(0, I), the same z at
    strength 0 and fresh, unrelated noise at 1. The noise continues the seed's random stream: deterministic.
    """
    if count < 1:
        raise GanvasError(f"{named('n')} must be at least 1, got {count}")
    if not 0 <= strength <= 1:
        raise GanvasError(f"{named('strength')} must be from 0 to 1, got {strength}")
    stream = torch.Generator().manual_seed(seed)
    original = torch.randn(1, z_dim, generator=stream)
    noise = torch.randn(count - 1, z_dim, generator=stream)
    angle = torch.tensor(strength * math.pi / 2)
    return torch.cat([original, torch.cos(angle) * original + torch.sin(angle) * noise])


def variations_around(z: torch.Tensor, count: int, seed: int, strength: float) -> torch.Tensor:
    """`z` (a latent from a file, (z_dim,)) as the first row and count - 1 neighbours of it, mixed as `variations`
    mixes them, with noise from `seed`'s random stream: the same z, seed and strength give the same neighbours."""
    if count < 1:
        raise GanvasError(f"{named('n')} must be at least 1, got {count}")
    if not 0 <= strength <= 1:
        raise GanvasError(f"{named('strength')} must be from 0 to 1, got {strength}")
    original = z.reshape(1, -1).float()
    noise = torch.randn(count - 1, original.shape[1], generator=torch.Generator().manual_seed(seed))
    angle = torch.tensor(strength * math.pi / 2)
    return torch.cat([original, torch.cos(angle) * original + torch.sin(angle) * noise])


def blend(start: torch.Tensor, end: torch.Tensor, ratios: list[float]) -> torch.Tensor:
    """Mixes of two latents along their great-circle arc (slerp), one row per ratio: 0 is `start`, 1 is `end`."""
    bad = [r for r in ratios if not (isinstance(r, (int, float)) and 0 <= r <= 1)]
    if not ratios or bad:
        raise GanvasError(f"{named('ratios')} must be numbers from 0 to 1" + (f", got {bad[0]!r}" if bad else ""))
    return slerp(start.flatten(), end.flatten(), torch.tensor(ratios, dtype=torch.float64))
