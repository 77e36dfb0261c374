"""Write the table of training options in docs/api.md from their one definition in ganvas.config.

    python scripts/options_table.py          # rewrite the table in docs/api.md
    python scripts/options_table.py --check  # exit 1 if it is out of date (tests/test_docs.py does this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganvas.config import SHORTHANDS, options
from ganvas.errors import word

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
START, END = "<!-- options:start", "<!-- options:end -->"


def options_table() -> str:
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for field in options():
        default = "" if field.default is None else f"`{field.default!r}`" if field.default == "" else f"`{field.default}`"
        choices = field.metadata["choices"]
        meaning = word(field.metadata["help"], "keyword") + (f"; one of {', '.join(choices)}" if choices else "")
        rows.append(f"| `{field.name}` | {default} | {meaning} |")
    for name, (targets, _, text) in SHORTHANDS.items():
        rows.append(f"| `{name}` |  | {text} (sets {' and '.join(targets)}) |")
    return "\n".join(rows)


def with_table(text: str) -> str:
    start = text.index(START)
    start = text.index("\n", start) + 1
    end = text.index(END)
    return text[:start] + options_table() + "\n" + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the table is current")
    args = parser.parse_args()
    text = DOC.read_text()
    updated = with_table(text)
    if args.check:
        if updated != text:
            print(f"{DOC} is out of date: run python scripts/options_table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
