"""Build development image sets from the npm emoji-datasource packages (images are never committed).

    mkdir -p /tmp/emoji && cd /tmp/emoji && npm install emoji-datasource-google emoji-datasource-twitter
    python scripts/emoji_sets.py --packages /tmp/emoji/node_modules --out data/emoji

writes, from the 64 px images of each package:

    OUT/google/ OUT/twitter/   every emoji both vendors draw, under the same file name (its code points): paired
                               folders for `--task paired`, or unpaired ones for `--task cyclegan`
    OUT/google-varied/         --varied emoji of one vendor (default 300), drawn evenly from the picture categories
                               (faces, people and hands, animals, food, objects, places, activities), chosen by --seed:
                               a small, varied collection for the `art` preset (docs/art.md); --varied-vendor twitter
                               writes OUT/twitter-varied/ instead (with another --seed: other emoji, drawn by another
                               hand, for a check on a set the preset was not searched on)

Flags, keycaps and other symbols are left out (mostly text and rectangles), as are skin-tone variants (the base emoji
only). Licences, from the packages: Google's Noto emoji images are Apache-2.0, Twitter's Twemoji images CC BY 4.0;
the packages' own code is MIT. Apple's images are not freely licensed and are not used.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

VENDORS = ("google", "twitter")
PICTURE_CATEGORIES = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
                      "Activities", "Objects")


def package_folder(packages: Path, vendor: str) -> Path:
    folder = packages / f"emoji-datasource-{vendor}"
    if not (folder / "emoji.json").is_file():
        raise SystemExit(f"{folder} is not an installed emoji-datasource-{vendor} package; "
                         f"run `npm install emoji-datasource-{vendor}` in the folder above {packages}")
    return folder


def picture_emoji(packages: Path) -> list[dict]:
    """The base emoji of the picture categories that every vendor in VENDORS draws, in the package's order."""
    entries = json.loads((package_folder(packages, VENDORS[0]) / "emoji.json").read_text())
    return [entry for entry in entries if entry["category"] in PICTURE_CATEGORIES
            and all(entry.get(f"has_img_{vendor}") for vendor in VENDORS)
            and all((package_folder(packages, vendor) / "img" / vendor / "64" / entry["image"]).is_file()
                    for vendor in VENDORS)]


def evenly_by_category(entries: list[dict], count: int, seed: int) -> list[dict]:
    """`count` entries, taking from each category in turn (a shuffled order within each), so that small categories
    are as present as large ones until they run out."""
    by_category: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        by_category[entry["category"]].append(entry)
    shuffle = random.Random(seed)
    for members in by_category.values():
        shuffle.shuffle(members)
    chosen: list[dict] = []
    while len(chosen) < min(count, len(entries)):
        for members in by_category.values():
            if members and len(chosen) < count:
                chosen.append(members.pop())
    return chosen


def copy_images(packages: Path, vendor: str, entries: list[dict], folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    source = package_folder(packages, vendor) / "img" / vendor / "64"
    for entry in entries:
        shutil.copyfile(source / entry["image"], folder / entry["image"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=Path, required=True, help="a node_modules folder with the packages")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--varied", type=int, default=300, help="images in OUT/google-varied")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--varied-vendor", choices=VENDORS, default="google",
                        help="whose images OUT/VENDOR-varied holds")
    args = parser.parse_args()
    entries = picture_emoji(args.packages)
    for vendor in VENDORS:
        copy_images(args.packages, vendor, entries, args.out / vendor)
    varied = evenly_by_category(entries, args.varied, args.seed)
    copy_images(args.packages, args.varied_vendor, varied, args.out / f"{args.varied_vendor}-varied")
    print(f"{len(entries)} emoji drawn by {' and '.join(VENDORS)} in {args.out}/{{{','.join(VENDORS)}}}; "
          f"{len(varied)} varied {args.varied_vendor} emoji in {args.out}/{args.varied_vendor}-varied")


if __name__ == "__main__":
    main()
