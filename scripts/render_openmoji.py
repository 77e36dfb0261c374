"""Render OpenMoji's animal emoji to 72×72 RGBA PNGs: the second small art set of docs/art.md.

    npm pack openmoji@17.0.0 && tar xzf openmoji-17.0.0.tgz
    pip install cairosvg
    python scripts/render_openmoji.py package animals/ [--size 72] [--group animals-nature --subgroup animal]

Takes the emoji of one group whose subgroup starts with --subgroup, without skin-tone
variants, from package/data/openmoji.csv, and renders package/color/svg/<hexcode>.svg.
OpenMoji is CC BY-SA 4.0 (https://openmoji.org); the images are not part of this repository.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the unpacked openmoji npm package")
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--size", type=int, default=72)
    parser.add_argument("--group", default="animals-nature")
    parser.add_argument("--subgroup", default="animal", help="keep subgroups starting with this")
    args = parser.parse_args()
    try:
        import cairosvg
    except ImportError:
        sys.exit("this script renders SVG with cairosvg: pip install cairosvg")
    table = args.package / "data" / "openmoji.csv"
    if not table.is_file():
        sys.exit(f"{table} not found: point at the unpacked package folder (npm pack openmoji && tar xzf ...)")
    with open(table, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["group"] == args.group
                and row["subgroups"].startswith(args.subgroup) and not row["skintone"]]
    args.out.mkdir(parents=True, exist_ok=True)
    rendered = 0
    for row in rows:
        svg = args.package / "color" / "svg" / f"{row['hexcode']}.svg"
        if svg.is_file():
            cairosvg.svg2png(url=str(svg), write_to=str(args.out / f"{row['hexcode']}.png"),
                             output_width=args.size, output_height=args.size)
            rendered += 1
    print(f"rendered {rendered} of {len(rows)} emoji to {args.out}")


if __name__ == "__main__":
    main()
