"""Per-sample random draws that do not depend on how many processes share a batch.

A run trained on N processes splits each global batch into N equal shards. For N processes to
compute the same step as one, every per-sample random number (latents, labels, augmentation,
interpolation weights, instance noise) must be the one a 1-process run draws for that sample.
`SampleNoise` does that: each draw is made for the whole global batch, from a generator whose state
is the same on every process, and cut to this process's shard. With one process it draws exactly
what torch.Generator draws.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


class SampleNoise:
    def __init__(self, generator: torch.Generator | None, shard: int = 0, shards: int = 1):
        if not 0 <= shard < shards:
            raise ValueError(f"shard {shard} of {shards}")
        self.generator = generator
        self.shard = shard
        self.shards = shards

    def _cut(self, draw, shape: tuple[int, ...]) -> Tensor:
        count = shape[0]
        full = draw((count * self.shards, *shape[1:]))
        return full[self.shard * count:(self.shard + 1) * count]

    def rand(self, shape: tuple[int, ...], *, device: torch.device | str, dtype: torch.dtype | None = None) -> Tensor:
        """U[0, 1) of `shape`, whose first dimension counts this shard's samples."""
        return self._cut(lambda full: torch.rand(full, generator=self.generator, device=device, dtype=dtype), shape)

    def randn(self, shape: tuple[int, ...], *, device: torch.device | str, dtype: torch.dtype | None = None) -> Tensor:
        return self._cut(lambda full: torch.randn(full, generator=self.generator, device=device, dtype=dtype), shape)

    def randint(self, low: int, high: int, shape: tuple[int, ...], *, device: torch.device | str) -> Tensor:
        """Integers in [low, high)."""
        return self._cut(lambda full: torch.randint(low, high, full, generator=self.generator, device=device), shape)


def sample_noise(source: SampleNoise | torch.Generator | None) -> SampleNoise:
    """A SampleNoise from a torch.Generator (or None: torch's global RNG), for callers with one process."""
    return source if isinstance(source, SampleNoise) else SampleNoise(source)
