"""The `ganvas` command: the only module that reads argv."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import ganvas
from ganvas.errors import GanvasError

LENGTH_OPTIONS = ("steps", "epochs", "minutes")


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoint to load and the device to run it on, for every command that uses a trained generator."""
    parser.add_argument("target", metavar="RUN_OR_CHECKPOINT",
                        help="a run folder (its latest checkpoint), a checkpoint folder, or RUN:NAME (e.g. RUN:best)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganvas", description="Make art with generative adversarial networks.")
    parser.add_argument("--version", action="version", version=f"ganvas {ganvas.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a GAN (default: the tutorial's classic MNIST GAN)",
                                description="Train a GAN. Options left out come from the preset.")
    train.add_argument("--preset", help="named settings to start from (see `ganvas presets`; default seed)")
    train.add_argument("--config", type=Path, metavar="FILE",
                       help="options from a YAML or JSON file (keys as the flags, e.g. lr_d: 4e-4); flags win")
    data = train.add_argument_group("data")
    data.add_argument("--dataset", help="mnist or fashion-mnist (downloaded on first use)")
    data.add_argument("--data-dir", help="read the dataset's IDX files from this folder instead of downloading")
    data.add_argument("--split", choices=["train", "test"], help="which split to train on (default train)")
    data.add_argument("--data", help="train on your own images instead: a folder (searched recursively) or a zip")
    data.add_argument("--size", type=int, help="with --data: train at N x N pixels (16-256)")
    data.add_argument("--fit", choices=["crop", "pad", "stretch"], help="with --data: non-square images (default crop)")
    data.add_argument("--channels", choices=["auto", "grey", "rgb", "rgba"],
                      help="with --data: colour channels (default auto: from the images; transparency is kept)")
    data.add_argument("--background", help="with --data: composite transparent images onto this colour")
    data.add_argument("--labels", action="store_true", default=None,
                      help="with --data: class labels from sub-folder names (for -cond models)")
    model = train.add_argument_group("model and optimisation")
    model.add_argument("--model", help="network pair from the model registry (default mlp)")
    model.add_argument("--loss", help="GAN objective: nonsaturating (default), minimax, wgan, wgan-gp, lsgan, hinge, "
                                      "relativistic")
    model.add_argument("--z-dim", type=int, help="latent size (default 100)")
    model.add_argument("--width", type=int, help="channels of the conv models (default: the model's own)")
    model.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction, default=None,
                       help="spectral norm on D's layers (models that offer it)")
    model.add_argument("--batch-size", type=int, help="images per batch (default 128)")
    model.add_argument("--lr", type=float, help="learning rate of both networks (default 2e-4)")
    model.add_argument("--lr-g", type=float, help="generator learning rate")
    model.add_argument("--lr-d", type=float, help="discriminator learning rate")
    model.add_argument("--beta1", type=float, help="Adam beta1 (default 0.5)")
    model.add_argument("--beta2", type=float, help="Adam beta2 (default 0.999)")
    model.add_argument("--seed", type=int, help="seed for weights, noise and batch order (default 0)")
    strategy = train.add_argument_group("training strategy (docs/stability.md)")
    strategy.add_argument("--n-critic", type=int, help="D updates per G update (default 1)")
    strategy.add_argument("--clip-weights", type=float, metavar="C", help="WGAN weight clipping to [-C, C]")
    strategy.add_argument("--gp-weight", type=float, help="WGAN-GP gradient penalty weight (e.g. 10)")
    strategy.add_argument("--r1-gamma", type=float, help="R1 gradient penalty on real images (e.g. 1)")
    strategy.add_argument("--r1-every", type=int, help="apply R1 every k steps, scaled by k (default 16)")
    strategy.add_argument("--ema-decay", type=float, help="sample from a moving average of G, e.g. 0.999 (default off)")
    strategy.add_argument("--augment", help="DiffAugment policy for everything D sees, e.g. translation,cutout,color")
    strategy.add_argument("--real-label", type=float, help="one-sided label smoothing: D's target for real (e.g. 0.9)")
    strategy.add_argument("--instance-noise", type=float, help="std of Gaussian noise added to D's inputs")
    strategy.add_argument("--precision", choices=["fp32", "bf16", "auto"],
                          help="bf16: mixed precision, 1.3-2x faster for conv models on recent CPUs and GPUs; "
                               "auto: bf16 where the device runs it natively (default fp32)")
    length = train.add_argument_group("length (default: 5000 steps)")
    length.add_argument("--steps", type=int, help="train until the run's total step count is N (also when resuming)")
    length.add_argument("--epochs", type=float, help="train for N passes over the data")
    length.add_argument("--minutes", type=float, help="stop after M minutes of training and save")
    outputs = train.add_argument_group("outputs")
    outputs.add_argument("--run", type=Path, help="run folder (default runs/<preset>-<dataset>)")
    outputs.add_argument("--resume", type=Path, metavar="RUN", help="continue the run in this folder")
    outputs.add_argument("--overwrite", action="store_true", help="delete an existing run folder and start over")
    outputs.add_argument("--log-every", type=int, help="steps between metrics.jsonl lines (default 100)")
    outputs.add_argument("--sample-every", type=int, help="steps between sample grids and loss plots (default 500)")
    outputs.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 1000)")
    outputs.add_argument("--keep-checkpoints", type=int, help="how many recent checkpoints to keep (default 3)")
    outputs.add_argument("--eval-every", type=int,
                         help="steps between quality metrics, alarms and the `best` checkpoint (default 1000, 0 = off)")
    outputs.add_argument("--eval-images", type=int, help="generated images per quality measurement (default 2000)")
    train.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    train.set_defaults(handler=run_train)

    sample = commands.add_parser("sample", help="generate images from a trained run or checkpoint",
                                 description="Generate images. With no output option, writes a grid to sample.png.")
    add_checkpoint_arguments(sample)
    sample.add_argument("--n", type=int, help="how many images (default 64; a conditional model: 8 per class, "
                                               "a row each)")
    sample.add_argument("--class", dest="class_index", type=int, metavar="K",
                        help="only class K (models trained with labels)")
    sample.add_argument("--seed", type=int, default=0, help="latent seed: the same seed gives the same images")
    sample.add_argument("--out", type=Path, help="write a grid PNG here")
    sample.add_argument("--out-dir", type=Path, help="write one PNG per image into this folder")
    sample.add_argument("--npy", type=Path, help="write a uint8 array (N,H,W) or (N,H,W,C) as .npy")
    add_truncation_option(sample)
    sample.set_defaults(handler=run_sample)

    interpolate = commands.add_parser(
        "interpolate", help="animate a walk through latent space: a GIF or MP4 (docs/generate.md)",
        description="Walk along great-circle arcs from the latent of each seed to the next, as an animation.")
    add_checkpoint_arguments(interpolate)
    interpolate.add_argument("--seeds", type=seed_list, required=True, metavar="S1,S2,..",
                             help="keyframes: one latent per seed, e.g. 1,7,42,3 (at least 2)")
    interpolate.add_argument("--frames", type=int, default=60, help="frames in all (default 60)")
    interpolate.add_argument("--loop", action="store_true",
                             help="walk back from the last keyframe to the first, for a seamless repeat")
    interpolate.add_argument("--ease", default="linear", metavar="linear|smooth",
                             help="pace between keyframes: linear (default) or smooth (lingers on each keyframe)")
    interpolate.add_argument("--fps", type=float, default=20, help="frames per second (default 20)")
    interpolate.add_argument("--class", dest="class_index", type=int, metavar="K",
                             help="class of every frame (models trained with labels; default 0)")
    interpolate.add_argument("--scale", type=int, help="upscale N times, nearest neighbour "
                                                       "(default 2 for images under 64 px, else 1)")
    interpolate.add_argument("--background", help="composite transparent images onto this colour "
                                                  "(MP4 always does: default black)")
    add_truncation_option(interpolate)
    interpolate.add_argument("--out", type=Path, required=True, help="walk.gif or walk.mp4 (MP4: pip install "
                                                                     "'ganvas[video]')")
    interpolate.set_defaults(handler=run_interpolate)

    variations = commands.add_parser(
        "variations", help="images near one image in latent space, as a grid (docs/generate.md)",
        description="The image of --seed (the first tile) and neighbours made by mixing its latent with noise.")
    add_checkpoint_arguments(variations)
    variations.add_argument("--seed", type=int, default=0, help="the original image's seed (as in `sample`)")
    variations.add_argument("--n", type=int, default=16, help="images, the original included (default 16)")
    variations.add_argument("--strength", type=float, default=0.3,
                            help="how far the neighbours stray: 0 = the same image, 1 = unrelated (default 0.3)")
    variations.add_argument("--class", dest="class_index", type=int, metavar="K",
                            help="class of every image (models trained with labels; default 0)")
    add_truncation_option(variations)
    variations.add_argument("--out", type=Path, help="write a grid PNG here (default variations.png)")
    variations.add_argument("--out-dir", type=Path, help="write one PNG per image into this folder")
    variations.set_defaults(handler=run_variations)

    evaluate = commands.add_parser(
        "evaluate", help="measure sample quality against the real data (digits: FID, precision/recall, classes; "
                    "your own images: thumbnail precision/recall, copies, diversity)",
        description="Score a generator against its dataset, beside the real-vs-real floor on the same number "
                    "of images. Data options default to the ones the run was trained with.")
    add_checkpoint_arguments(evaluate)
    evaluate.add_argument("--n", type=int, default=10_000,
                          help="generated images (default 10000; at most half the real images, see docs/metrics.md)")
    evaluate.add_argument("--seed", type=int, default=0, help="latent seed")
    evaluate.add_argument("--dataset", help="mnist or fashion-mnist")
    evaluate.add_argument("--data-dir", help="read the dataset's IDX files from this folder")
    evaluate.add_argument("--split", choices=["train", "test"], help="the real images to compare with")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(handler=run_evaluate)

    presets = commands.add_parser("presets", help="list the named training presets")
    presets.set_defaults(handler=run_presets)
    return parser


def add_truncation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                        help="scale latents by PSI in (0, 1]: more typical, less varied images (default 1 = off)")


def seed_list(text: str) -> list[int]:
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def train_config(args: argparse.Namespace):
    from ganvas.config import TrainConfig, load_config, preset_config, read_options_file, validate
    from ganvas.data import count_images

    if args.lr is not None:
        args.lr_g = args.lr if args.lr_g is None else args.lr_g
        args.lr_d = args.lr if args.lr_d is None else args.lr_d
    # Every TrainConfig field has a flag of the same name; resuming keeps all but the length from config.json.
    run_options = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in LENGTH_OPTIONS + ("preset",)]
    flags = {name: getattr(args, name) for name in run_options + list(LENGTH_OPTIONS)}
    if args.resume is None:
        from_file = read_options_file(args.config) if args.config else {}
        preset = args.preset or from_file.pop("preset", None) or "seed"
        return preset_config(preset, count_images=lambda config: count_images(config.data, config.dataset, config.split),
                             **{**from_file, **{k: v for k, v in flags.items() if v is not None}})
    changed = [name for name in run_options if flags[name] is not None]
    if changed or args.preset or args.config or args.run or args.overwrite:
        given = ["--" + n.replace("_", "-") for n in changed] + ["--preset"] * bool(args.preset)
        given += ["--config"] * bool(args.config) + ["--run"] * bool(args.run) + ["--overwrite"] * bool(args.overwrite)
        raise GanvasError(f"--resume continues a run with its own settings; drop {', '.join(given)} "
                          "(only --steps, --epochs, --minutes and --device may change)")
    config = load_config(args.resume)
    lengths = {name: flags[name] for name in LENGTH_OPTIONS}
    if any(value is not None for value in lengths.values()):
        config = config.replace(**lengths)
    return validate(config)


def run_train(args: argparse.Namespace) -> None:
    from ganvas.trainer import train

    config = train_config(args)
    data_name = Path(config.data).stem if config.data else config.dataset
    run_dir = args.resume or args.run or Path("runs") / f"{config.preset}-{data_name}"
    result = train(config, run_dir, resume=args.resume is not None, overwrite=args.overwrite,
                   device=args.device, progress=not args.no_progress)
    print(f"trained {result.run_dir} to step {result.step}; sample with `ganvas sample {result.run_dir}`")


def run_sample(args: argparse.Namespace) -> None:
    from ganvas.images import to_uint8, write_grid
    from ganvas.models import is_conditional
    from ganvas.sampling import generate, load_generator, write_array, write_images

    generator, checkpoint = load_generator(args.target, args.device)
    # A conditional model's default grid is one row of 8 per class.
    rows_per_class = is_conditional(generator) and args.class_index is None and args.n is None
    count = args.n or (8 * generator.num_classes if rows_per_class else 64)
    if count < 1:
        raise GanvasError(f"--n must be at least 1, got {count}")
    pixels = to_uint8(generate(generator, count, args.seed, args.class_index, args.truncation))
    out = args.out or (None if args.out_dir or args.npy else Path("sample.png"))
    written = []
    if out:
        write_grid(pixels, out, columns=8 if rows_per_class else None)
        written.append(str(out))
    if args.out_dir:
        write_images(pixels, args.out_dir)
        written.append(f"{args.out_dir}/ ({count} files)")
    if args.npy:
        write_array(pixels, args.npy)
        written.append(f"{args.npy} {pixels.shape}")
    of_class = f", class {args.class_index}" if args.class_index is not None else ""
    print(f"{count} images from {checkpoint.path} (step {checkpoint.step}), seed {args.seed}{of_class}: "
          f"{', '.join(written)}")


def run_interpolate(args: argparse.Namespace) -> None:
    import torch

    from ganvas.animation import check_animation_path, write_animation
    from ganvas.images import display_scale, to_uint8
    from ganvas.latents import gaussian_latents, keyframe_path, truncate
    from ganvas.sampling import generate_one_class, load_generator

    check_animation_path(args.out)
    generator, checkpoint = load_generator(args.target, args.device)
    keyframes = torch.cat([gaussian_latents(1, generator.z_dim, seed) for seed in args.seeds])
    path = truncate(keyframe_path(keyframes, args.frames, args.loop, args.ease), args.truncation)
    frames = to_uint8(generate_one_class(generator, path, args.class_index))
    write_animation(frames, args.out, args.fps, args.scale or display_scale(frames), args.background)
    print(f"{len(frames)} frames from {checkpoint.path} (step {checkpoint.step}) through seeds "
          f"{','.join(map(str, args.seeds))}{' and back' if args.loop else ''}: {args.out}")


def run_variations(args: argparse.Namespace) -> None:
    from ganvas.images import to_uint8, write_grid
    from ganvas.latents import truncate, variations
    from ganvas.sampling import generate_one_class, load_generator, write_images

    generator, checkpoint = load_generator(args.target, args.device)
    z = truncate(variations(args.n, generator.z_dim, args.seed, args.strength), args.truncation)
    pixels = to_uint8(generate_one_class(generator, z, args.class_index))
    out = args.out or (None if args.out_dir else Path("variations.png"))
    written = []
    if out:
        write_grid(pixels, out)
        written.append(str(out))
    if args.out_dir:
        write_images(pixels, args.out_dir)
        written.append(f"{args.out_dir}/ ({args.n} files)")
    print(f"seed {args.seed} and {args.n - 1} variations (strength {args.strength}) from {checkpoint.path} "
          f"(step {checkpoint.step}): {', '.join(written)}")


def run_evaluate(args: argparse.Namespace) -> None:
    import json

    from ganvas.config import config_from_dict
    from ganvas.data import load_training_data
    from ganvas.metrics.judges import judge_for
    from ganvas.metrics.quality import format_table
    from ganvas.sampling import generate, load_generator

    if args.n < 2:
        raise GanvasError(f"--n must be at least 2, got {args.n}")
    generator, checkpoint = load_generator(args.target, args.device)
    config = config_from_dict(checkpoint.meta["config"], f"{checkpoint.path}/meta.json")
    named = {key: value for key, value in
             {"dataset": args.dataset, "split": args.split, "data_dir": args.data_dir}.items() if value}
    if named:  # compare with a named dataset instead of the run's own data
        config = config.replace(data=None, size=None, labels=False, **named)
    dataset = load_training_data(config)
    judge = judge_for(dataset, own_images=config.data is not None, count=args.n, device=args.device)
    report = judge.report(lambda count: generate(generator, count, args.seed))
    if args.json:
        print(json.dumps({"checkpoint": str(checkpoint.path), "step": checkpoint.step, "dataset": dataset.name,
                          "measures": judge.measures, "images": report.count, "generated": report.generated,
                          "real_floor": report.real_floor}, indent=2))
        return
    print(f"{checkpoint.path} (step {checkpoint.step}): {report.count} generated images against {report.count} "
          f"real {dataset.name} images; the floor is {report.count} other real images against the same ones")
    if judge.measures == "thumbnails":
        print("measured on 16x16 thumbnails, with no trained judge (docs/metrics.md, \"Your own images\")")
    if report.count < args.n:
        print(f"(--n {args.n} reduced to {report.count}: the floor needs two disjoint sets of real images)")
    print(format_table(report, judge.labels))


def run_presets(args: argparse.Namespace) -> None:
    from ganvas.config import PRESETS

    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.description}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except GanvasError as err:
        print(f"ganvas: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ganvas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
