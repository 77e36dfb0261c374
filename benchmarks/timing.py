"""What the benchmarks share: variants measured interleaved, reported as medians against a baseline."""

from __future__ import annotations

import statistics
from typing import Callable, Iterable


def interleaved(names: Iterable[str], rounds: int, measure: Callable[[str], float]) -> dict[str, list[float]]:
    """measure(name) for every name, round after round, so a noisy neighbour slows every variant alike."""
    results: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in results:
            results[name].append(measure(name))
    return results


def print_against(results: dict[str, list[float]], baseline: str, against: str, prefix: str = "") -> None:
    """One line per variant: median images/s (min-max) and its ratio to the baseline's median."""
    base = statistics.median(results[baseline])
    width = max(map(len, results))
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {prefix}{name:<{width}} {median:7.0f} images/s  ({min(values):.0f}-{max(values):.0f})  "
              f"{median / base:.2f}x {against}")
