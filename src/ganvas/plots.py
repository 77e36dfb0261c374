"""A dependency-free loss-curve plot (Pillow only), written beside the samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ganvas.images import save_png

_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def plot_curves(steps: list[int], curves: dict[str, list[float]], path: Path,
                size: tuple[int, int] = (640, 360), title: str = "losses") -> None:
    """Write curves_image(...) as a PNG."""
    save_png(curves_image(steps, curves, size, title), path)


def curves_image(steps: list[int], curves: dict[str, list[float]], size: tuple[int, int] = (640, 360),
                 title: str = "losses") -> np.ndarray:
    """Line plot of each named series against step, with a legend and axis labels, as RGB pixels."""
    width, height = size
    left, right, top, bottom = 60, 20, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    values = np.array([v for series in curves.values() for v in series if np.isfinite(v)] or [0.0])
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    first, last = (steps[0], steps[-1]) if steps else (0, 1)
    span = max(last - first, 1)

    def point(step: float, value: float) -> tuple[float, float]:
        x = left + (step - first) / span * (width - left - right)
        y = top + (high - value) / (high - low) * (height - top - bottom)
        return x, y

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for fraction in (0.0, 0.5, 1.0):
        value = low + fraction * (high - low)
        _, y = point(first, value)
        draw.text((4, y - 6), f"{value:.3g}", fill="black")
        step = first + fraction * span
        x, _ = point(step, low)
        draw.text((x - 12, height - bottom + 6), f"{int(step)}", fill="black")
    draw.text((width // 2 - 20, height - 16), "step", fill="black")
    draw.text((left, 8), title, fill="black")
    for index, (name, series) in enumerate(curves.items()):
        colour = _COLOURS[index % len(_COLOURS)]
        line = [point(s, v) for s, v in zip(steps, series) if np.isfinite(v)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        draw.text((width - right - 120, top + 6 + 14 * index), name, fill=colour)
    return np.asarray(image)
