"""Which of two folders an image looks like it came from: a style measure for unpaired translation.

Thumbnail precision/recall (pixels.py) compare images at 16x16, where two artists' drawings of the
same subjects are often alike. This measure instead trains a small CNN, at evaluation time and at full
size, to tell real A from real B (the training images of each), and reports
- its accuracy on real images it did not train on (the held-out ones): the ceiling, how well the two
  styles can be told apart at all;
- the share of the translations A -> B it calls B (and B -> A called A): how far they moved into the
  other style, beside the untranslated images (the baseline, 1 - the accuracy on that folder);
- the share of the cycled-back images A -> B -> A it calls B (and B -> A -> B called A): a control. They
  carry G's artefacts (blur, grain) twice but should be in their own style again; were these called the
  other folder too, the classifier would be seeing artefacts rather than style.
Seeded and a few seconds on one CPU thread; the classifier never sees a translation while it learns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganvas.errors import GanvasError

STEPS = 600  # Adam steps of batches of BATCH images, half from each folder
BATCH = 64
WIDTH = 16


def _classifier(channels: int) -> nn.Module:
    # Halved first (a 64 px emoji's style shows at 32 px, in a quarter of the time), then three stride-2 convs and
    # the average of their features.
    layers: list[nn.Module] = [nn.AvgPool2d(2)]
    previous = channels
    for c, kernel in ((WIDTH, 4), (2 * WIDTH, 3), (4 * WIDTH, 3)):
        layers += [nn.Conv2d(previous, c, kernel, stride=2, padding=1), nn.LeakyReLU(0.2)]
        previous = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, 1)]
    return nn.Sequential(*layers)


class DomainClassifier:
    """A CNN that says whether an image (C, H, W in [-1, 1]) is from folder B (true) or folder A (false)."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, seed: int = 0, steps: int = STEPS):
        if a.shape[1:] != b.shape[1:]:
            raise GanvasError(f"the style measure compares images of one shape; the folders' are "
                              f"{tuple(a.shape[1:])} and {tuple(b.shape[1:])}")
        if min(len(a), len(b)) < 2:
            raise GanvasError("the style measure needs at least 2 training images in each folder")
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.network = _classifier(a.shape[1])
        optimizer = torch.optim.Adam(self.network.parameters(), lr=1e-3)
        half = BATCH // 2
        labels = torch.cat([torch.zeros(half), torch.ones(half)])
        for _ in range(steps):
            picks = [images[torch.randint(len(images), (half,), generator=generator)] for images in (a, b)]
            loss = F.binary_cross_entropy_with_logits(self.network(torch.cat(picks).float()).squeeze(1), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        self.network.eval()

    @torch.no_grad()
    def called_b(self, images: torch.Tensor) -> float:
        """The share of the images the classifier calls B."""
        logits = torch.cat([self.network(images[i:i + 256].float()).squeeze(1) for i in range(0, len(images), 256)])
        return float((logits > 0).float().mean())


def style_scores(classifier: DomainClassifier, a: torch.Tensor, b: torch.Tensor, a2b: torch.Tensor,
                 b2a: torch.Tensor, a2b2a: torch.Tensor, b2a2b: torch.Tensor) -> dict[str, dict[str, float]]:
    """The classifier's verdicts on held-out real images `a` and `b`, their translations and the translations
    translated back: per direction, the share of translations called the target folder, beside the untranslated
    images (baseline) and the real images of the target folder (the ceiling, in the floor column); and the share
    of the cycled-back images called the target folder (the control: low, near the baseline)."""
    a_called_b, b_called_b = classifier.called_b(a), classifier.called_b(b)
    return {"a2b_called_b": {"translated": classifier.called_b(a2b), "baseline": a_called_b, "floor": b_called_b},
            "b2a_called_a": {"translated": 1 - classifier.called_b(b2a), "baseline": 1 - b_called_b,
                             "floor": 1 - a_called_b},
            "a2b2a_called_b": {"translated": classifier.called_b(a2b2a)},
            "b2a2b_called_a": {"translated": 1 - classifier.called_b(b2a2b)}}


def style_gap(scores: dict[str, dict[str, float]]) -> float:
    """One number for style_scores, lower is better: 1 minus the mean share of translations called the target
    folder, plus the mean share of round trips called it (the controls). 0 when every translation reads as the
    other folder and every round trip as its own; about 1 for a translator that changes nothing; up to 2."""
    translated = (scores["a2b_called_b"]["translated"] + scores["b2a_called_a"]["translated"]) / 2
    controls = (scores["a2b2a_called_b"]["translated"] + scores["b2a2b_called_a"]["translated"]) / 2
    return 1 - translated + controls
