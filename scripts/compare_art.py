"""Train art-preset candidates on image folders for the same wall time and print the docs/art.md tables.

    python scripts/compare_art.py --data ../shared/data/squimoji --candidate base= \
        --candidate "ada=--ada-target 0.6" [--minutes 10] [--size 32] [--runs runs/art] [--images docs/images]
        [--results runs/art/results.jsonl] [--eval-seeds 5]
    python scripts/compare_art.py --rescore --eval-seeds 5 --runs runs/art

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


def evaluate(run: Path, seed: int) -> dict:
    return json.loads(ganvas("evaluate", str(run), "--json", "--seed", str(seed)))


def meets_bars(generated: dict[str, float], floor: dict[str, float]) -> list[str]:
    """The bars a run misses, as short notes (empty: it meets them all)."""
    missed = [f"{key} {generated[key]:.2f} < {floor[key] - gap:.2f}" for key, gap in BARS.items()
              if generated[key] < floor[key] - gap]
    if generated["near_copies"] > floor["near_copies"]:
        missed.append(f"near-copies {generated['near_copies']:.2f} > {floor['near_copies']:.2f}")
    return missed


def mean_over_seeds(row: dict) -> tuple[dict[str, float], dict[str, float]]:
    """The generated side's mean and spread over the evaluation seeds (one seed: the report itself, no spread)."""
    samples = row.get("seeds") or [row["report"]["generated"]]
    mean = {key: sum(s[key] for s in samples) / len(samples) for key in samples[0]}
    spread = {key: (sum((s[key] - mean[key]) ** 2 for s in samples) / len(samples)) ** 0.5 for key in samples[0]}
    return mean, spread


def table(rows: list[dict]) -> str:
    lines = [f"| candidate | steps | {' | '.join(label for _, label, _ in COLUMNS)} | bars |",
             f"|---|---:|{'---:|' * len(COLUMNS)}---|"]
    for row in rows:
        report = row["report"]
        mean, spread = mean_over_seeds(row)
        cells = " | ".join(format(mean[key], fmt) + (f" ± {spread[key]:{fmt}}" if row.get("seeds") else "")
                           for key, _, fmt in COLUMNS)
        missed = meets_bars(mean, report["real_floor"])
        lines.append(f"| `{row['name']}` {row['flags']} | {report['step']} | {cells} | "
                     f"{'met' if not missed else 'missed: ' + '; '.join(missed)} |")
    floor = rows[-1]["report"]
    cells = " | ".join(format(floor["real_floor"][key], fmt) for key, _, fmt in COLUMNS)
    lines.append(f"| real floor ({floor['images']} vs {floor['images']} real) | | {cells} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the image folder")
    parser.add_argument("--candidate", action="append", metavar="NAME=FLAGS")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / "art")
    parser.add_argument("--images", type=Path, default=REPO_ROOT / "docs" / "images")
    parser.add_argument("--results", type=Path, help="JSON lines of every run (default: RUNS/results.jsonl)")
    parser.add_argument("--eval-seeds", type=int, default=1,
                        help="evaluate each run on generated images of this many seeds (0, 1, ...): the table "
                             "shows their mean ± spread, and the bars are judged on the mean")
    parser.add_argument("--rescore", action="store_true",
                        help="train nothing: evaluate the runs already in --results again, with --eval-seeds")
    args = parser.parse_args()
    results = args.results or args.runs / "results.jsonl"
    if not args.rescore and not (args.data and args.candidate):
        parser.error("give --data and at least one --candidate (or --rescore)")
    data_set = Path(args.data).name if args.data else None
    args.images.mkdir(parents=True, exist_ok=True)
    if args.rescore:
        rows = [json.loads(line) for line in results.read_text().splitlines()]
        for row in rows:
            row["seeds"] = [evaluate(args.runs / f"{row['data']}-{row['name']}", seed)["generated"]
                            for seed in range(args.eval_seeds)]
        results.write_text("".join(json.dumps(row) + "\n" for row in rows))
        for data in dict.fromkeys(row["data"] for row in rows):
            print(f"\n{data}\n\n" + table([row for row in rows if row["data"] == data]))
        return
    for candidate in args.candidate or []:
        name, _, flags = candidate.partition("=")
        run = args.runs / f"{data_set}-{name}"
        print(f"training {name} ({flags or 'the preset'}) on {data_set} for {args.minutes:g} min ...", file=sys.stderr)
        ganvas("train", "--preset", "art", "--data", args.data, "--size", str(args.size), "--minutes",
               str(args.minutes), "--run", str(run), "--overwrite", "--no-progress", *shlex.split(flags))
        report = evaluate(run, 0)
        shutil.copyfile(run / "samples" / "latest.png", args.images / f"art-search-{data_set}-{name}.png")
        results.parent.mkdir(parents=True, exist_ok=True)
        with results.open("a") as out:
            seeds = [report["generated"]] + [evaluate(run, seed)["generated"] for seed in range(1, args.eval_seeds)]
            out.write(json.dumps({"data": data_set, "name": name, "flags": flags, "minutes": args.minutes,
                                  "report": report, **({"seeds": seeds} if args.eval_seeds > 1 else {})}) + "\n")
    rows = [row for row in map(json.loads, results.read_text().splitlines()) if row["data"] == data_set]
    print(table(rows))


if __name__ == "__main__":
    main()
