"""Train art-preset candidates on image folders for the same wall time and print the docs/art.md tables.

    python scripts/compare_art.py --data ../shared/data/squimoji --candidate base= \
        --candidate "ada=--ada-target 0.6" [--minutes 10] [--size 32] [--runs runs/art] [--images docs/images]
        [--results runs/art/results.jsonl]

Each candidate is NAME=EXTRA FLAGS for `ganvas train --preset art` (empty: the preset as it is). Candidates
train one at a time (they would slow each other down); give the command a core of its own (OMP_NUM_THREADS=1
taskset -c 0 ...) and say so beside the numbers. Each final checkpoint is scored with `ganvas evaluate --json`
(thumbnail measures against the real floor, docs/metrics.md); its last sample grid is copied to --images as
art-search-SET-NAME.png; one JSON line per run is appended to --results, and the table of every run there on
that data set is printed, with each candidate's distance from the bars of docs/art.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# (key, label, format); the bars: recall and coverage within 0.1 of the floor, precision at most 0.05 below it,
# near-copies not above it.
COLUMNS = [("precision", "precision", ".2f"), ("recall", "recall", ".2f"), ("coverage", "coverage", ".2f"),
           ("density", "density", ".2f"), ("near_copies", "near-copies", ".2f"), ("diversity", "diversity", ".2f")]
BARS = {"recall": 0.1, "coverage": 0.1, "precision": 0.05}


def ganvas(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ganvas", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ganvas {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def meets_bars(generated: dict[str, float], floor: dict[str, float]) -> list[str]:
    """The bars a run misses, as short notes (empty: it meets them all)."""
    missed = [f"{key} {generated[key]:.2f} < {floor[key] - gap:.2f}" for key, gap in BARS.items()
              if generated[key] < floor[key] - gap]
    if generated["near_copies"] > floor["near_copies"]:
        missed.append(f"near-copies {generated['near_copies']:.2f} > {floor['near_copies']:.2f}")
    return missed


def table(rows: list[dict]) -> str:
    lines = [f"| candidate | steps | {' | '.join(label for _, label, _ in COLUMNS)} | bars |",
             f"|---|---:|{'---:|' * len(COLUMNS)}---|"]
    for row in rows:
        report = row["report"]
        cells = " | ".join(format(report["generated"][key], fmt) for key, _, fmt in COLUMNS)
        missed = meets_bars(report["generated"], report["real_floor"])
        lines.append(f"| `{row['name']}` {row['flags']} | {report['step']} | {cells} | "
                     f"{'met' if not missed else 'missed: ' + '; '.join(missed)} |")
    floor = rows[-1]["report"]
    cells = " | ".join(format(floor["real_floor"][key], fmt) for key, _, fmt in COLUMNS)
    lines.append(f"| real floor ({floor['images']} vs {floor['images']} real) | | {cells} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the image folder")
    parser.add_argument("--candidate", action="append", required=True, metavar="NAME=FLAGS")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / "art")
    parser.add_argument("--images", type=Path, default=REPO_ROOT / "docs" / "images")
    parser.add_argument("--results", type=Path, help="JSON lines of every run (default: RUNS/results.jsonl)")
    args = parser.parse_args()
    results = args.results or args.runs / "results.jsonl"
    data_set = Path(args.data).name
    args.images.mkdir(parents=True, exist_ok=True)
    for candidate in args.candidate:
        name, _, flags = candidate.partition("=")
        run = args.runs / f"{data_set}-{name}"
        print(f"training {name} ({flags or 'the preset'}) on {data_set} for {args.minutes:g} min ...", file=sys.stderr)
        ganvas("train", "--preset", "art", "--data", args.data, "--size", str(args.size), "--minutes",
               str(args.minutes), "--run", str(run), "--overwrite", "--no-progress", *shlex.split(flags))
        report = json.loads(ganvas("evaluate", str(run), "--json"))
        shutil.copyfile(run / "samples" / "latest.png", args.images / f"art-search-{data_set}-{name}.png")
        results.parent.mkdir(parents=True, exist_ok=True)
        with results.open("a") as out:
            out.write(json.dumps({"data": data_set, "name": name, "flags": flags, "minutes": args.minutes,
                                  "report": report}) + "\n")
    rows = [row for row in map(json.loads, results.read_text().splitlines()) if row["data"] == data_set]
    print(table(rows))


if __name__ == "__main__":
    main()
