"""The pictures of docs/translate.md, from trained runs: their last sample grids, and an upscaling comparison.

    python scripts/translate_pictures.py --upscale runs/upscale --paired runs/paired --cyclegan runs/cyclegan \
        --image /work/data/emoji/google/1f600.png --out docs/images     # also --colorize, --sketch, --inpaint RUN

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for task in TASKS:
        parser.add_argument(f"--{task}", type=Path, help=f"a run trained with --task {task}")
    parser.add_argument("--image", type=Path, help="a picture to upscale for the comparison")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in TASKS:
        run = getattr(args, name)
        if run is not None:
            grid = Image.open(run / "samples" / "latest.png")
            # Half of the 16 examples: a pix2pix grid's first 4 rows; a CycleGAN's first 2 rows of a and of b.
            rows = [0, 1, 2, 3] if name != "cyclegan" else [0, 1, 4, 5]
            kept = Image.new(grid.mode, (grid.width, len(rows) * ROW + PADDING))
            for position, row in enumerate(rows):
                kept.paste(grid.crop((0, row * ROW, grid.width, (row + 1) * ROW + PADDING)), (0, position * ROW))
            # a 256-colour palette: a quarter of the bytes, and emoji show no difference
            kept.convert("RGBA").quantize(256, method=Image.Quantize.FASTOCTREE).save(
                args.out / f"translate-{name}-holdout.png", optimize=True)
    if args.upscale is not None and args.image is not None:
        translator = ganvas.load_translator(args.upscale)
        channels = translator.checkpoint.networks["generator_a2b"]["args"]["out_channels"]
        image = read_for(args.image, channels, None)
        enlarged = translator.enhance(image, tile=128, overlap=32).tensor
        pixels = to_uint8(torch.cat([bicubic_upscaled(image), enlarged]))
        save_png(make_grid(pixels, columns=2), args.out / "translate-upscale-compare.png")


if __name__ == "__main__":
    main()
