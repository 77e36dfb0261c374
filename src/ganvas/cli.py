"""The `ganvas` command: the only module that reads argv."""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import ganvas
from ganvas.errors import CheckpointError, GanvasError, flag, named, word


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
                                description="Train a GAN. Options left out come from the preset; the defaults "
                                            "shown are those of the seed preset.")
    train.add_argument("--config", type=Path, metavar="FILE",
                       help="options from a YAML or JSON file (keys as the flags, e.g. lr_d: 4e-4); flags win")
    add_training_options(train)
    session = train.add_argument_group("this session")
    session.add_argument("--run", type=Path, help="run folder (default runs/<preset>-<dataset>)")
    session.add_argument("--resume", type=Path, metavar="RUN",
                         help="continue the run in this folder, from its newest checkpoint that loads clean")
    session.add_argument("--from", dest="from_", metavar="CHECKPOINT",
                         help="with --resume: continue from this checkpoint of the run (step-00000400, 400, best "
                              "or a checkpoint folder); later ones are set aside as step-N.discarded")
    session.add_argument("--overwrite", action="store_true", help="delete an existing run folder and start over")
    session.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    session.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    processes = train.add_argument_group("several processes (docs/distributed.md)")
    processes.add_argument("--nproc-per-node", type=int, metavar="N",
                           help="train one run on N processes on this machine (one per GPU; on CPUs they share the "
                                "cores), started here by torch.distributed's launcher")
    processes.add_argument("--nnodes", type=int, default=1, metavar="M", help="with --nproc-per-node: machines in all")
    processes.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                           help="with --nnodes above 1: where the machines meet (the first machine's address)")
    train.set_defaults(handler=run_train)

    sample = commands.add_parser("sample", help="generate images from a trained run or checkpoint",
                                 description="Generate images. With no output option, writes a grid to sample.png.")
    add_checkpoint_arguments(sample)
    sample.add_argument("--n", type=int, help="how many images (default 64; a conditional model: 8 per class, "
                                               "a row each; any n covers the classes evenly)")
    sample.add_argument("--class", dest="class_index", type=int, metavar="K",
                        help="only class K (models trained with labels; with --self-condition: cluster K)")
    sample.add_argument("--seed", type=int, default=0, help="latent seed: the same seed gives the same images")
    sample.add_argument("--out", type=Path, help="write a grid PNG here")
    sample.add_argument("--out-dir", type=Path, help="write one PNG per image into this folder")
    sample.add_argument("--npy", type=Path, help="write a uint8 array (N,H,W) or (N,H,W,C) as .npy")
    sample.add_argument("--latent", type=path_list, metavar="FILE[,FILE..]",
                        help="draw these latent files (from `ganvas project`) instead of seeds; with --class, "
                             "as another class (docs/enhance.md)")
    add_truncation_option(sample)
    sample.set_defaults(handler=run_sample)

    interpolate = commands.add_parser(
        "interpolate", help="animate a walk through latent space: a GIF or MP4 (docs/generate.md)",
        description="Walk along great-circle arcs from the latent of each seed to the next, as an animation.")
    add_checkpoint_arguments(interpolate)
    keyframes = interpolate.add_mutually_exclusive_group(required=True)
    keyframes.add_argument("--seeds", type=seed_list, metavar="S1,S2,..",
                           help="keyframes: one latent per seed, e.g. 1,7,42,3 (at least 2)")
    keyframes.add_argument("--keyframes", type=keyframe_list, metavar="K1,K2,..",
                           help="keyframes: latent files and seeds, e.g. a.json,b.json,seed:7 (a walk through your "
                                "own projected images; docs/enhance.md)")
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
    variations.add_argument("--latent", type=Path, metavar="FILE",
                            help="start from this latent file (from `ganvas project`) instead of --seed, whose "
                                 "random stream then makes the neighbours")
    variations.set_defaults(handler=run_variations)

    blend = commands.add_parser("blend", help="a row of mixes between two latents (docs/enhance.md)",
                                description="Mix two latents (latent files from `ganvas project`, or seed:N) along "
                                            "their great-circle arc: ratio 0 is the first one's image, 1 the second's.")
    add_checkpoint_arguments(blend)
    blend.add_argument("first", metavar="A", help="a latent file or seed:N")
    blend.add_argument("second", metavar="B", help="a latent file or seed:N")
    blend.add_argument("--ratios", type=ratio_list, default=[0, 0.25, 0.5, 0.75, 1], metavar="R1,R2,..",
                       help="how far from A to B each image is, 0 to 1 (default 0,0.25,0.5,0.75,1)")
    blend.add_argument("--class", dest="class_index", type=int, metavar="K",
                       help="class of every image (models trained with labels; default: the nearer end's)")
    add_truncation_option(blend)
    blend.add_argument("--out", type=Path, help="write the row as a PNG here (default blend.png)")
    blend.add_argument("--out-dir", type=Path, help="write one PNG per image into this folder")
    blend.set_defaults(handler=run_blend)

    from ganvas import projection

    project = commands.add_parser(
        "project", help="find the latent whose image matches each of your images (docs/enhance.md)",
        description="Project images into a trained generator: for each, the latent (and a conditional model's "
                    "class) whose image matches it, written to --out as NAME.json (the latent, for sample, "
                    "variations, interpolate and blend), NAME.png, NAME-compare.png and NAME.gif.")
    add_checkpoint_arguments(project)
    project.add_argument("images", nargs="*", metavar="IMAGE", help="image files of any size, format and mode")
    project.add_argument("--holdout", action="store_true",
                         help="project the images the run held out of training (ganvas train --holdout N)")
    project.add_argument("--n", type=int, help="with --holdout: only the first N of them")
    project.add_argument("--steps", type=int, help=f"optimisation steps (default {projection.DEFAULT_STEPS})")
    project.add_argument("--class", dest="class_index", type=int, metavar="K",
                         help="keep class K (models trained with labels; default: the class is found too)")
    project.add_argument("--fit", choices=["crop", "pad", "stretch"],
                         help="how images of another shape are fitted (default: the run's own, else crop)")
    project.add_argument("--background", help="composite transparent images onto this colour "
                                              "(default: the run's own)")
    project.add_argument("--loss", metavar="|".join(projection.LOSSES),
                         help=f"what is matched (default {projection.DEFAULT_LOSS}; docs/enhance.md says why)")
    project.add_argument("--starts", type=int, help=f"random latents to start from the best of (default "
                                                    f"{projection.DEFAULT_STARTS})")
    project.add_argument("--seed", type=int, default=0, help="seed of the random starts and the latent noise")
    project.add_argument("--out", type=Path, default=Path("projections"),
                         help="folder for the files (default projections/)")
    project.set_defaults(handler=run_project)

    evaluate = commands.add_parser(
        "evaluate", help="measure sample quality against the real data (digits: FID, precision/recall, classes; "
                    "your own images: thumbnail precision/recall, copies, diversity)",
        description="Score a generator against its dataset, beside the real-vs-real floor on the same number "
                    "of images. Data options default to the ones the run was trained with.")
    add_checkpoint_arguments(evaluate)
    evaluate.add_argument("--n", type=int, default=10_000,
                          help="generated images (default 10000; at most half the real images, see docs/metrics.md)")
    evaluate.add_argument("--seed", type=int, default=0,
                          help="latent seed (translators: inpainting's holes, a cyclegan's style classifier)")
    evaluate.add_argument("--dataset", help="mnist or fashion-mnist")
    evaluate.add_argument("--data-dir", help="read the dataset's IDX files from this folder")
    evaluate.add_argument("--split", choices=["train", "test"], help="the real images to compare with")
    evaluate.add_argument("--holdout", action="store_true",
                          help="against the images the run held out of training (ganvas train --holdout N)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(handler=run_evaluate)

    enhance = commands.add_parser(
        "enhance", help="translate images of any size with a run trained with --task (docs/translate.md)",
        description="Apply a trained image translator (upscale, colorize, sketch, inpaint, paired, cyclegan) to "
                    "images of any size; large ones go through in overlapping tiles blended without seams. "
                    "Writes OUT/<name>.png for each image.")
    add_checkpoint_arguments(enhance)
    enhance.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    enhance.add_argument("--out", type=Path, required=True, help="folder for the results")
    enhance.add_argument("--direction", choices=["a2b", "b2a"], default="a2b",
                         help="cyclegan runs: which way to translate (default a2b, --data's images into --data-b's)")
    enhance.add_argument("--mask", type=Path, help="inpaint: an image that is white where the holes are (default: "
                                                   "the images' transparent pixels)")
    enhance.add_argument("--tile", type=int, default=256, help="tile side in pixels for large images (default 256)")
    enhance.add_argument("--overlap", type=int, default=64, help="tiles' overlap in pixels (default 64)")
    enhance.set_defaults(handler=run_enhance)

    export = commands.add_parser("export", help="write the generator as ONNX, for web pages, TouchDesigner, Unity "
                                                "(docs/export.md)")
    add_checkpoint_arguments(export)
    export.add_argument("--format", default="onnx", choices=["onnx"], help="file format (default onnx)")
    export.add_argument("--out", type=Path, help="where to write it (default <run name>.onnx here)")
    export.set_defaults(handler=run_export)

    presets = commands.add_parser("presets", help="list the named training presets")
    presets.set_defaults(handler=run_presets)

    runs = commands.add_parser("runs", help="list runs with their status, step, quality and alarms")
    runs.add_argument("folder", nargs="?", default="runs", help="where the run folders are (default runs)")
    runs.set_defaults(handler=run_runs)

    stop = commands.add_parser("stop", help="ask a run being trained (by any process) to stop and save")
    stop.add_argument("run", type=Path, metavar="RUN", help="the run folder")
    stop.set_defaults(handler=run_stop)

    studio = commands.add_parser("studio", help="a local web app to train, watch, explore and compare runs "
                                                "(docs/studio.md)",
                                 description="Serve ganvas studio and print its URL. Needs the studio extra: "
                                             "pip install 'ganvas[studio]'.")
    studio.add_argument("--runs", type=Path, default=Path("runs"), help="the runs folder (default runs)")
    studio.add_argument("--data-root", type=Path, action="append", default=[], metavar="DIR",
                        help="a folder whose image folders and zips the Train page may use (repeatable)")
    studio.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1; any other gets a random access token)")
    studio.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    studio.add_argument("--open", action="store_true", help="open the studio in a web browser")
    studio.add_argument("--jobs", type=int, default=1, help="trainings at a time; the others queue (default 1)")
    studio.set_defaults(handler=run_studio)
    return parser


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """A flag for every training option, made from its one definition in ganvas.config."""
    from ganvas.config import OPTION_GROUPS, SHORTHANDS, option_type, options

    groups = {key: parser.add_argument_group(title) for key, title in OPTION_GROUPS.items()}
    for field in options():
        kind, meta = option_type(field), field.metadata
        shown = not (field.default is None or field.default is False or field.default == "")
        arguments = {"dest": field.name, "default": None,
                     "help": word(meta["help"], "flag") + (f" (default {field.default})" if shown else "")}
        if kind is bool:
            arguments["action"] = argparse.BooleanOptionalAction
        else:
            arguments.update(type=kind, choices=meta["choices"], metavar=meta["metavar"])
        groups[meta["group"]].add_argument(flag(field.name), **arguments)
    for name, (targets, kind, text) in SHORTHANDS.items():
        groups["model"].add_argument(flag(name), type=kind, help=f"{text} (sets {' and '.join(map(flag, targets))})")


def add_truncation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                        help="scale latents by PSI in (0, 1]: more typical, less varied images (default 1 = off)")


def seed_list(text: str) -> list[int]:
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def path_list(text: str) -> list[Path]:
    return [Path(part) for part in text.split(",") if part]


def keyframe_list(text: str) -> list[str]:
    """Latent files and seed:N, comma-separated, kept as given (the API reads them)."""
    return [part for part in text.split(",") if part]


def ratio_list(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers from 0 to 1, got {text!r}") from None


def run_train(args: argparse.Namespace) -> None:
    from ganvas.config import SHORTHANDS, options

    if args.nproc_per_node is not None:
        ganvas.train_on_processes(without_launch_options(args.argv[1:]), args.nproc_per_node, args.nnodes,
                                  args.rdzv_endpoint)
        return
    given = {name: getattr(args, name) for name in [f.name for f in options()] + list(SHORTHANDS)}
    run = ganvas.train(run=args.run, resume=args.resume, from_=args.from_, overwrite=args.overwrite,
                       config_file=args.config, device=args.device, progress="lines" if args.no_progress else True,
                       **given)
    result = run.wait()
    if not result.main_process:  # with several processes, the others say nothing
        return
    if result.kind != "image-to-image":
        print(f"trained {result.run_dir} to step {result.step}; sample with `ganvas sample {result.run_dir}`")
        return
    try:  # a translator's best checkpoint can be far better than its latest (a CycleGAN's style fades)
        best = ganvas.load_translator(f"{result.run_dir}:best").info.step
    except CheckpointError:
        best = None
    target = f"{result.run_dir}:best" if best not in (None, result.step) else result.run_dir
    print(f"trained {result.run_dir} to step {result.step}; enhance with `ganvas enhance {target} IMAGE... --out DIR`"
          + (f" (the best of its checkpoints by the quality measure, step {best}; {result.run_dir} alone is the "
             f"latest)" if target != result.run_dir else ""))


LAUNCH_OPTIONS = ("--nproc-per-node", "--nnodes", "--rdzv-endpoint")


def without_launch_options(arguments: list[str]) -> list[str]:
    """`ganvas train`'s arguments for each process: all but the options that say how many processes to start."""
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument in LAUNCH_OPTIONS:
            skip = True
        elif not argument.startswith(tuple(option + "=" for option in LAUNCH_OPTIONS)):
            kept.append(argument)
    return kept


def save_as_asked(images, out: Path | None, out_dir: Path | None, default: Path | None) -> list[str]:
    """A grid at `out` and/or one PNG per image in `out_dir`; with neither, a grid at `default`. Says what it wrote."""
    out = out or (None if out_dir else default)
    written = []
    if out:
        images.save(out)
        written.append(str(out))
    if out_dir:
        images.save_each(out_dir)
        written.append(f"{out_dir}/ ({len(images)} files)")
    return written


def run_sample(args: argparse.Namespace) -> None:
    generator = ganvas.load(args.target, args.device)
    images = generator.sample(args.n, args.seed, args.class_index, args.truncation, latent=args.latent)
    written = save_as_asked(images, args.out, args.out_dir, None if args.npy else Path("sample.png"))
    if args.npy:
        images.save(args.npy)
        written.append(f"{args.npy} {images.pixels.shape}")
    of_class = f", class {args.class_index}" if args.class_index is not None else ""
    source = f"latents {','.join(map(str, args.latent))}" if args.latent else f"seed {args.seed}"
    print(f"{len(images)} images from {generator.info.path} (step {generator.info.step}), {source}{of_class}: "
          f"{', '.join(written)}")


def run_interpolate(args: argparse.Namespace) -> None:
    generator = ganvas.load(args.target, args.device)
    keyframes = args.seeds if args.seeds is not None else args.keyframes
    walk = generator.walk(keyframes, args.frames, args.loop, args.ease, args.class_index, args.truncation, args.fps)
    walk.scale, walk.background = args.scale, args.background
    walk.save(args.out)
    print(f"{len(walk)} frames from {generator.info.path} (step {generator.info.step}) through "
          f"{'seeds ' if args.seeds is not None else ''}{','.join(map(str, keyframes))}"
          f"{' and back' if args.loop else ''}: {args.out}")


def run_variations(args: argparse.Namespace) -> None:
    generator = ganvas.load(args.target, args.device)
    images = generator.variations(args.seed, args.n, args.strength, args.class_index, args.truncation,
                                  latent=args.latent)
    written = save_as_asked(images, args.out, args.out_dir, Path("variations.png"))
    print(f"{args.latent or f'seed {args.seed}'} and {args.n - 1} variations (strength {args.strength}) from "
          f"{generator.info.path} (step {generator.info.step}): {', '.join(written)}")


def run_blend(args: argparse.Namespace) -> None:
    generator = ganvas.load(args.target, args.device)
    images = generator.blend(args.first, args.second, args.ratios, args.class_index, args.truncation)
    written = save_as_asked(images, args.out, args.out_dir, Path("blend.png"))
    print(f"{len(images)} mixes of {args.first} and {args.second} (ratios {','.join(f'{r:g}' for r in args.ratios)}) "
          f"from {generator.info.path} (step {generator.info.step}): {', '.join(written)}")


def run_project(args: argparse.Namespace) -> None:
    generator = ganvas.load(args.target, args.device)
    if args.holdout:
        if args.images:
            raise GanvasError(f"give image files or {named('holdout')}, not both")
        targets = generator.held_out(args.n)
    elif args.n is not None:
        raise GanvasError(f"{named('n')} picks how many held-out images {named('holdout')} projects; give it with "
                          f"{named('holdout')}")
    elif not args.images:
        raise GanvasError(f"give the image files to project (or {named('holdout')} for the run's held-out images)")
    else:
        targets = args.images
    bar = _ProgressLine("projecting")
    projections = generator.project(targets, args.steps, args.class_index, fit=args.fit, background=args.background,
                                    loss=args.loss, starts=args.starts, seed=args.seed, on_step=bar)
    bar.close()
    for note in projections.notes:
        print(f"note: {note}", file=sys.stderr)
    for what, why in projections.skipped:
        print(f"ganvas: warning: skipped {what}: {why}", file=sys.stderr)
    projections.save(args.out)
    for projection in projections:
        print(projection.summary())
    print(f"{len(projections)} projections into {generator.info.path} (step {generator.info.step}): "
          f"{args.out}/NAME.json, .png, -compare.png, .gif; summary.txt")


class _ProgressLine:
    """A one-line progress count on a terminal's stderr (nothing when it is not a terminal)."""

    def __init__(self, what: str, unit: str = "step"):
        self.what, self.unit, self.shown, self.printed = what, unit, sys.stderr.isatty(), False

    def __call__(self, done: int, total: int, what: str | None = None) -> None:
        if self.shown and total:
            print(f"\r{what or self.what}: {self.unit} {done}/{total}\x1b[K", end="", file=sys.stderr, flush=True)
            self.printed = True

    def close(self) -> None:
        if self.printed:
            print(file=sys.stderr)


def run_evaluate(args: argparse.Namespace) -> None:
    import json

    evaluation = ganvas.evaluate(args.target, args.device, n=args.n, seed=args.seed, dataset=args.dataset,
                                 split=args.split, data_dir=args.data_dir, holdout=args.holdout)
    print(json.dumps(evaluation.to_dict(), indent=2) if args.json else evaluation.text("flag"))


def run_enhance(args: argparse.Namespace) -> None:
    translator = ganvas.load_translator(args.target, args.device)
    line = _ProgressLine("enhancing", "tile")
    try:
        written = translator.enhance_files(args.images, args.out, args.direction, args.mask, args.tile, args.overlap,
                                           on_step=lambda path, done, total: line(done, total,
                                                                                  f"enhancing {path.name}"))
    finally:
        line.close()
    print(f"{translator.info.path} (step {translator.info.step}, {translator.info.task}): wrote {len(written)} "
          f"image(s) to {args.out}/")


def run_export(args: argparse.Namespace) -> None:
    generator = ganvas.load(args.target, args.device)
    path = generator.export(args.out, args.format)
    print(f"{generator.info.path} (step {generator.info.step}) exported to {path}")


def run_presets(args: argparse.Namespace) -> None:
    presets = ganvas.presets()
    width = max(map(len, presets))
    for name, description in presets.items():
        print(f"{name:<{width}}  {description}")


def run_runs(args: argparse.Namespace) -> None:
    found = ganvas.runs(args.folder)
    if not found:
        print(f"no runs in {args.folder}")
    for run in found:
        info = run.info()
        quality = ", ".join(f"{k} {v:.3g}" for k, v in list(info.quality.items())[:3])
        alarms = f"  ALARMS: {', '.join(info.alarms)}" if info.alarms else ""
        print(f"{str(run.path):<32} {info.status:<9} step {info.step:<7} {info.preset or '?':<8} {info.model or '?':<11} "
              f"{info.dataset or '?'}{'  ' + quality if quality else ''}{alarms}")


def run_stop(args: argparse.Namespace) -> None:
    run = ganvas.Run(args.run)
    if run.info() is None:
        raise GanvasError(f"{args.run} is not a ganvas run folder")
    run.stop()
    print(f"asked {args.run} to stop at the next step boundary and save"
          + ("" if run.status == "training" else " (it is not training now: the request waits for its next start, "
                                                 "which clears it)"))


def run_studio(args: argparse.Namespace) -> None:
    from ganvas.studio import serve

    serve(args.runs, args.data_root, args.host, args.port, args.open, args.jobs)


PACKAGE_FOLDER = Path(ganvas.__file__).parent


def show_warning(python_form: Callable, message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings raised in ganvas's code (skipped files, an unwritable cache) as one line like its errors; others
    in `python_form`, Python's, which names their source."""
    if Path(filename).is_relative_to(PACKAGE_FOLDER):
        print(f"ganvas: warning: {message}", file=sys.stderr if file is None else file)
    else:
        python_form(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    with warnings.catch_warnings():
        warnings.showwarning = functools.partial(show_warning, warnings.showwarning)
        return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    try:
        args.handler(args)
    except GanvasError as err:
        print(f"ganvas: error: {err.worded('flag')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ganvas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
