"""Train every preset for the same wall time on MNIST and print the docs/stability.md table.

    python scripts/compare_presets.py [--minutes 5] [--data-dir ../shared/data/mnist --split test]
                                      [--presets seed,mnist,...] [--runs runs/compare] [--images docs/images]

Runs one preset at a time (they would slow each other down), evaluates each final
checkpoint with `ganvas evaluate --json`, copies its last sample grid to --images,
and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from ganvas.config import PRESETS

REPO_ROOT = Path(__file__).resolve().parent.parent
COLUMNS = [("fid", "FID", ".1f"), ("precision", "precision", ".2f"), ("recall", "recall", ".2f"),
           ("class_coverage", "classes", ".0f"), ("class_kl", "KL(classes‖uniform)", ".3f"),
           ("inception_score", "IS", ".2f")]


def ganvas(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ganvas", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ganvas {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--data-dir", default=str(REPO_ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / "compare")
    parser.add_argument("--images", type=Path, default=REPO_ROOT / "docs" / "images")
    args = parser.parse_args()
    args.images.mkdir(parents=True, exist_ok=True)
    rows = []
    for preset in args.presets.split(","):
        run = args.runs / preset
        print(f"training {preset} for {args.minutes:g} min ...", file=sys.stderr)
        ganvas("train", "--preset", preset, "--minutes", str(args.minutes), "--data-dir", args.data_dir,
               "--split", args.split, "--run", str(run), "--overwrite", "--no-progress")
        report = json.loads(ganvas("evaluate", str(run), "--json"))
        shutil.copyfile(run / "samples" / "latest.png", args.images / f"stability-{preset}.png")
        rows.append((preset, report))
        floor = report["real_floor"]
    print(f"| preset | steps | {' | '.join(label for _, label, _ in COLUMNS)} |")
    print(f"|---|---:|{'---:|' * len(COLUMNS)}")
    for preset, report in rows:
        cells = " | ".join(format(report["generated"][key], fmt) for key, _, fmt in COLUMNS)
        print(f"| `{preset}` | {report['step']} | {cells} |")
    cells = " | ".join(format(floor[key], fmt) for key, _, fmt in COLUMNS)
    print(f"| real floor ({report['images']} vs {report['images']} real) | | {cells} |")


if __name__ == "__main__":
    main()
