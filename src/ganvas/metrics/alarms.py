"""Warnings that a run is going wrong, raised from the numbers a run already logs.

Each check is a pure function returning a message (the alarm is on) or None.
`AlarmBoard` reports an alarm once when it starts and once when it clears, so a
long collapse is one line in the log, not one per evaluation.

Advice names options by their keys (lr_g, augment), as config files and the Python API spell them, not as
flags: an alarm reaches the terminal, a notebook and the studio as the same text.
"""

from __future__ import annotations

from typing import Any

# Mode collapse: well below what real data scores on the same images.
COLLAPSE_MISSING_CLASSES = 3  # classes covered by real data but not by samples
COLLAPSE_DIVERSITY_FRACTION = 0.5  # samples' diversity as a fraction of real data's
# Your own images (thumbnail measures): collapse and copying, against the training set's own numbers.
THUMBNAIL_COLLAPSE_DIVERSITY = 0.5  # generated thumbnails' diversity as a fraction of the training set's
COPYING_EXCESS = 0.3  # near-copies above the real floor's share by this much
DROPPING_SHORTFALL = 0.25  # coverage below the real floor's by this much: a quarter of the set has no sample near it
# D overpowering G: D all but perfect while G's loss climbs, over the last few log lines.
OVERPOWER_WINDOW = 5
OVERPOWER_ACCURACY = 0.95
OVERPOWER_G_LOSS_RISE = 1.2


def mode_collapse(generated: dict[str, float], real_floor: dict[str, float]) -> str | None:
    missing = real_floor["class_coverage"] - generated["class_coverage"]
    diversity_ratio = generated["diversity"] / real_floor["diversity"]
    if missing < COLLAPSE_MISSING_CLASSES and diversity_ratio >= COLLAPSE_DIVERSITY_FRACTION:
        return None
    return (f"mode collapse: samples cover {generated['class_coverage']:.0f} classes (real data "
            f"{real_floor['class_coverage']:.0f}) with diversity {diversity_ratio:.0%} of real data's; "
            "try a stabler preset (`ganvas presets`), a lower lr_g (G's learning rate), or another seed")


def thumbnail_collapse(generated: dict[str, float]) -> str | None:
    if generated["diversity"] >= THUMBNAIL_COLLAPSE_DIVERSITY:
        return None
    return (f"mode collapse: generated images are {generated['diversity']:.0%} as varied as the training images; "
            "try more augmentation (augment), a lower lr_g (G's learning rate), or another seed")


def copying(generated: dict[str, float], real_floor: dict[str, float]) -> str | None:
    if generated["near_copies"] <= real_floor["near_copies"] + COPYING_EXCESS:
        return None
    return (f"G is copying: {generated['near_copies']:.0%} of generated images are near-copies of training images "
            f"(real images among themselves: {real_floor['near_copies']:.0%}); D has memorised the set. Copies grow "
            "with training: sample an earlier checkpoint or train fewer steps; or use more augmentation (augment "
            "translation,cutout,color), a slower G (lr_g 1e-4; it can cost a varied set recall), or more images "
            "(docs/art.md)")


def mode_dropping(generated: dict[str, float], real_floor: dict[str, float]) -> str | None:
    if generated["coverage"] >= real_floor["coverage"] - DROPPING_SHORTFALL:
        return None
    return (f"mode dropping: only {generated['coverage']:.0%} of the training images have a generated image near "
            f"them (real images: {real_floor['coverage']:.0%}); parts of the set are not being drawn. Train longer, "
            "or try self-conditioning on K clusters (self_condition) or adaptive augmentation (ada_target 0.4; "
            "docs/art.md)")


def discriminator_overpowering(history: list[dict[str, Any]]) -> str | None:
    recent = history[-OVERPOWER_WINDOW:]
    if len(recent) < OVERPOWER_WINDOW:
        return None
    accuracy = sum(entry["d_accuracy"] for entry in recent) / len(recent)
    first, last = recent[0]["g_loss"], recent[-1]["g_loss"]
    if accuracy < OVERPOWER_ACCURACY or not last > max(first, 0) * OVERPOWER_G_LOSS_RISE:
        return None
    return (f"D is overpowering G: it tells real from generated {accuracy:.0%} of the time while G's loss "
            f"climbed {first:.2f} -> {last:.2f} (steps {recent[0]['step']}-{recent[-1]['step']}); "
            "try a lower lr_d or a higher lr_g (D's and G's learning rates)")


class AlarmBoard:
    """Which alarms are on; `update` returns the changes worth saying now: (name, advice, now active)."""

    def __init__(self) -> None:
        self.active: set[str] = set()

    def update(self, alarms: dict[str, str | None]) -> list[tuple[str, str, bool]]:
        changes = []
        for name, message in alarms.items():
            if message and name not in self.active:
                self.active.add(name)
                changes.append((name, message, True))
            elif message is None and name in self.active:
                self.active.discard(name)
                changes.append((name, "", False))
        return changes
