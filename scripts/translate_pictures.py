"""The pictures of docs/translate.md, from trained runs: their last sample grids, and an upscaling comparison.

    python scripts/translate_pictures.py --upscale runs/upscale --paired runs/paired --cyclegan runs/cyclegan \
        --image /work/data/emoji/google/1f600.png --out docs/images     # also --colorize, --sketch, --inpaint RUN

--compare RUN ... --name FILE puts the grids of CycleGAN runs side by side (RUN:step-N takes the grid of step N),
on white, as one JPEG: how docs/translate.md compares options.

--columns RUN ... --rows IMAGE ... --targets DIR --name FILE translates each --rows image (of folder A) by each
run's a2b (RUN, RUN:best, RUN:step-N), one column a run, between the image and its namesake in DIR (folder B):
how a CycleGAN's checkpoints compare with a paired run trained on the true targets.

The comparison enlarges --image (any picture, best one the run never saw) x4 twice, side by side: by bicubic
interpolation, and by the upscale run's translator in 128-pixel tiles, so that any seam the tiling left would show.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

import ganvas
from ganvas.images import make_grid, save_png, to_uint8
from ganvas.translation import bicubic_upscaled, read_for

PADDING = 2  # images.make_grid's
ROW = 64 + PADDING  # a grid row of 64-pixel images
TASKS = ("upscale", "colorize", "sketch", "inpaint", "paired", "cyclegan")


GAP = 8  # white pixels between the grids of --compare


def half_grid(path: Path, task: str) -> Image.Image:
    """Half of a grid's 16 examples: a pix2pix grid's first 4 rows; a CycleGAN's first 2 rows of a and of b."""
    grid = Image.open(path)
    rows = [0, 1, 2, 3] if task != "cyclegan" else [0, 1, 4, 5]
    kept = Image.new(grid.mode, (grid.width, len(rows) * ROW + PADDING))
    for position, row in enumerate(rows):
        kept.paste(grid.crop((0, row * ROW, grid.width, (row + 1) * ROW + PADDING)), (0, position * ROW))
    return kept


def grid_of(run: str) -> Path:
    """RUN's latest grid, or RUN:step-N's grid of step N."""
    folder, _, step = run.partition(":step-")
    return Path(folder) / "samples" / (f"step-{int(step):08d}.png" if step else "latest.png")


def on_white(image: Image.Image) -> Image.Image:
    white = Image.new("RGBA", image.size, "white")
    white.alpha_composite(image.convert("RGBA"))
    return white.convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for task in TASKS:
        parser.add_argument(f"--{task}", type=Path, help=f"a run trained with --task {task}")
    parser.add_argument("--image", type=Path, help="a picture to upscale for the comparison")
    parser.add_argument("--compare", nargs="+", metavar="RUN", help="CycleGAN runs to show side by side")
    parser.add_argument("--columns", nargs="+", metavar="RUN", help="translators whose a2b outputs of --rows to "
                                                                    "show side by side")
    parser.add_argument("--rows", nargs="+", type=Path, metavar="IMAGE", help="folder A's images for --columns")
    parser.add_argument("--targets", type=Path, help="folder B, whose file of each --rows image's name ends its row")
    parser.add_argument("--name", help="the file name of --compare's or --columns' picture (e.g. "
                                       "translate-cyclegan-x.jpg)")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in TASKS:
        run = getattr(args, name)
        if run is not None:
            # a 256-colour palette: a quarter of the bytes, and emoji show no difference
            half_grid(run / "samples" / "latest.png", name).convert("RGBA").quantize(
                256, method=Image.Quantize.FASTOCTREE).save(args.out / f"translate-{name}-holdout.png", optimize=True)
    if args.compare:
        if not args.name:
            parser.error("--compare needs --name")
        grids = [on_white(half_grid(grid_of(run), "cyclegan")) for run in args.compare]
        side = Image.new("RGB", (sum(g.width for g in grids) + GAP * (len(grids) - 1), grids[0].height), "white")
        for index, grid in enumerate(grids):
            side.paste(grid, (index * (grid.width + GAP), 0))
        side.save(args.out / args.name, quality=90)
    if args.columns:
        if not (args.name and args.rows and args.targets):
            parser.error("--columns needs --rows, --targets and --name")
        translators = [ganvas.load_translator(run) for run in args.columns]
        channels = translators[0].checkpoint.networks["generator_a2b"]["args"]["out_channels"]
        cells = []
        for row in args.rows:
            image = read_for(row, channels, None)
            cells += [image, *(t.enhance(image[0]).tensor for t in translators),
                      read_for(args.targets / row.name, channels, None)]
        grid = make_grid(to_uint8(torch.cat(cells)), columns=len(translators) + 2)
        on_white(Image.fromarray(grid)).save(args.out / args.name, quality=90)

    if args.upscale is not None and args.image is not None:
        translator = ganvas.load_translator(args.upscale)
        channels = translator.checkpoint.networks["generator_a2b"]["args"]["out_channels"]
        image = read_for(args.image, channels, None)
        enlarged = translator.enhance(image, tile=128, overlap=32).tensor
        pixels = to_uint8(torch.cat([bicubic_upscaled(image), enlarged]))
        save_png(make_grid(pixels, columns=2), args.out / "translate-upscale-compare.png")


if __name__ == "__main__":
    main()
