"""Pieces shared by the convolutional models: size planning, spectral norm, class conditioning.

Every piece takes `num_classes`: None builds the unconditional layer, an int the
class-conditional one, so each model is one class serving both registry names.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganvas.errors import GanvasError, named


def plan_resolutions(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(base side, number of 2× stages) with base · 2^stages = the image side and base in 4..7.

    Halving stops at an odd side or before going below 4: 28 -> 7 after 2 stages,
    32 -> 4 after 3, 48 -> 6 after 3, 64 -> 4 after 4. A larger odd base (30 -> 15)
    would leave most of the image to the first linear layer, so it is refused.
    """
    _, height, width = image_shape
    side, stages = height, 0
    while side % 2 == 0 and side // 2 >= 4:
        side, stages = side // 2, stages + 1
    if height != width or stages == 0 or side > 7:
        raise GanvasError(f"image shape {tuple(image_shape)} does not suit the convolutional models: they need "
                          "square images whose side is 4, 5, 6 or 7 times a power of two and at least 8 "
                          f"(28, 32, 48 and 64 work): train at such a {named('size')}, or use the 'mlp' model")
    return side, stages


def maybe_spectral_norm(layer: nn.Module, enabled: bool = True) -> nn.Module:
    """Divide the layer's weight by its largest singular value (Miyato et al. 2018), if enabled."""
    return spectral_norm(layer) if enabled else layer


class MinibatchStd(nn.Module):
    """ProGAN's minibatch standard deviation (Karras et al. 2018): one more feature map holding, for each group of
    up to `group_size` consecutive samples, the standard deviation of every feature over the group, averaged to one
    number. A generator that draws too few things makes low-variance groups, which D can then see.

    D sees the real and the generated batch concatenated, so groups are cut from half the batch: the group size is
    the largest of 4, 3, 2, 1 that divides half of an even batch (all of an odd one), and no group mixes the halves.
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count, channels, height, width = x.shape
        half = count // 2 if count % 2 == 0 else count
        group = next(g for g in range(min(self.group_size, half), 0, -1) if half % g == 0)
        grouped = x.float().view(count // group, group, channels, height, width)
        std = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # one number per group
        feature = std.to(x.dtype).repeat_interleave(group)[:, None, None, None].expand(count, 1, height, width)
        return torch.cat([x, feature], dim=1)


class ConditionalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose gain and bias are looked up per class (de Vries et al. 2017).

    With num_classes=None it is plain BatchNorm2d (same state_dict keys). Every class
    starts at gain 1 and bias 0, so a new generator begins as its unconditional twin.
    """

    def __init__(self, num_features: int, num_classes: int | None = None):
        super().__init__(num_features, affine=num_classes is None)
        self.embed = None
        if num_classes is not None:
            self.embed = nn.Embedding(num_classes, 2 * num_features)
            with torch.no_grad():
                self.embed.weight[:, :num_features] = 1.0
                self.embed.weight[:, num_features:] = 0.0

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = super().forward(x)
        if self.embed is None:
            return x
        gain, bias = self.embed(labels)[:, :, None, None].chunk(2, dim=1)
        return x * gain + bias


class ProjectionHead(nn.Module):
    """A discriminator's last layer: logit = ψ(φ) + ⟨embed(y), φ⟩ for features φ (Miyato & Koyama 2018).

    Unconditional (num_classes=None) it is just ψ, a linear layer to one logit.
    """

    def __init__(self, features: int, num_classes: int | None = None, spectral: bool = False):
        super().__init__()
        self.linear = maybe_spectral_norm(nn.Linear(features, 1), spectral)
        self.embed = None
        if num_classes is not None:
            embed = nn.Embedding(num_classes, features)
            # On ψ's scale (nn.Linear's default bound), so the class term does not swamp it at the start.
            nn.init.uniform_(embed.weight, -features ** -0.5, features ** -0.5)
            self.embed = maybe_spectral_norm(embed, spectral)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.linear(features).squeeze(1)
        if self.embed is None:
            return logits
        return logits + (self.embed(labels) * features).sum(dim=1)
