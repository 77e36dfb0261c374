"""Print the metric floors of docs/metrics.md: real digits against real digits, and failure cases.

    PYTHONPATH=src python scripts/metric_floors.py [--data-dir DIR]

The MNIST test split (10,000 images) is shuffled with a fixed seed and cut in
two halves of 5,000: the first half is the reference "real" set, and each row
compares one candidate set with it. Takes about 30 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ganvas.data import load_dataset, to_model_range
from ganvas.metrics import all_metrics, load_evaluator

REPO_ROOT = Path(__file__).resolve().parent.parent

# Which way each metric should move from a good generator to a bad one.
HIGHER_IS_BETTER = {"fid": False, "kid": False, "precision": True, "recall": True, "inception_score": True,
                    "class_coverage": True, "class_kl": False, "diversity": True}
COLUMNS = ["n", "fid", "kid", "precision", "recall", "inception_score", "class_coverage", "class_kl", "diversity"]


def candidate_sets(images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The sets compared with the reference, from the other half of the test split, in [-1, 1]."""
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return {
        "real (other 5,000 test images)": images,
        "uniform noise in [-1, 1]": noise,
        "one real image repeated": images[:1].expand_as(images),
        "real, class 1 only": images[labels == 1],
    }


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| set | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[column]:.4g}" for column in COLUMNS) + " |")
    return "\n".join(lines)


def misordered(rows: dict[str, dict[str, float]]) -> list[str]:
    """Metrics on which the real row is not strictly better than every failure row."""
    (real_name, real), *failures = rows.items()
    problems = []
    for metric, higher_is_better in HIGHER_IS_BETTER.items():
        for name, row in failures:
            better = real[metric] > row[metric] if higher_is_better else real[metric] < row[metric]
            if not better:
                problems.append(f"{metric}: {real_name} {real[metric]:.4g} vs {name} {row[metric]:.4g}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    test = load_dataset("mnist", "test", args.data_dir)
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))
    reference, other = order[: len(order) // 2], order[len(order) // 2:]

    evaluator = load_evaluator()
    real = evaluator.embed(to_model_range(test.images[reference]))
    rows = {}
    for name, candidate in candidate_sets(to_model_range(test.images[other]), test.labels[other]).items():
        rows[name] = {"n": len(candidate), **all_metrics(real, evaluator.embed(candidate))}
    print(markdown_table(rows))
    problems = misordered(rows)
    print("\nreal beats every failure case on every metric" if not problems else "\nnot ordered sensibly:")
    for problem in problems:
        print(f"  {problem}")


if __name__ == "__main__":
    main()
