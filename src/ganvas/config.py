"""Training options: each defined once, named presets, and the run's config.json.

Every option is a field of `TrainConfig` with its help, allowed values and group in the
field's metadata (`option(...)`). The CLI's `ganvas train` flags, the keywords of
`ganvas.train(...)` and the keys of YAML/JSON option files are all made from these
fields, so they cannot drift apart. This is the only module that knows the config
file format.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ganvas.augment import parse_policy
from ganvas.errors import GanvasError, named
from ganvas.files import atomic_write_text
from ganvas.losses import get_objective, objective_names

DEFAULT_STEPS = 5000
# generate: the noise-to-image GAN; the others translate images (ganvas.translation)
TASKS = ("generate", "upscale", "colorize", "sketch", "inpaint", "paired", "cyclegan")
TWO_FOLDER_TASKS = ("paired", "cyclegan")
INIT_SCHEMES = ("default", "keras")  # the values of the init option; models that offer it take the same names
CONFIG_FILE = "config.json"
LENGTH_OPTIONS = ("steps", "epochs", "minutes")
# What a resumed run may change: its length, and outputs that do not change what it trains.
RESUMABLE_OPTIONS = (*LENGTH_OPTIONS, "tensorboard")


def option(default: Any, help: str, *, group: str, choices: tuple[str, ...] | None = None,
           metavar: str | None = None) -> Any:
    """A TrainConfig field with what a front end needs to offer it: help text, group and allowed values."""
    return dataclasses.field(default=default, metadata={"help": help, "group": group, "choices": choices,
                                                         "metavar": metavar})


@dataclass(frozen=True)
class TrainConfig:
    preset: str = option("seed", "named settings to start from (`ganvas presets`); options you give win",
                         group="preset")
    # data: a named dataset (downloaded or read from data_dir) ...
    dataset: str = option("mnist", "named dataset, downloaded on first use", group="data",
                          choices=("mnist", "fashion-mnist"))
    data_dir: str | None = option(None, "read the dataset's IDX files from this folder instead of downloading",
                                  group="data")
    split: str = option("train", "which split of the named dataset to train on", group="data",
                        choices=("train", "test"))
    # ... or your own images: a folder or zip, resized to size x size (docs/data.md)
    data: str | None = option(None, "train on your own images instead: a folder (searched recursively) or a zip",
                              group="data")
    size: int | None = option(None, f"with {named('data')}: train at N x N pixels (16-256)", group="data")
    fit: str = option("crop", f"with {named('data')}: how non-square images become square", group="data",
                      choices=("crop", "pad", "stretch"))
    channels: str = option("auto", f"with {named('data')}: colour channels (auto: from the images; transparency is kept)",
                           group="data", choices=("auto", "grey", "rgb", "rgba"))
    background: str | None = option(None, f"with {named('data')}: composite transparent images onto this colour",
                                    group="data")
    labels: bool = option(False, f"with {named('data')}: class labels from sub-folder names (for -cond models)", group="data")
    holdout: int = option(0, "keep N images of the data set out of training (chosen by the seed, listed in the run "
                             "folder's holdout.json), to measure projection and over-fitting on images the model "
                             "never saw (docs/enhance.md)", group="data", metavar="N")
    # image-to-image translation (docs/translate.md): what the data becomes the input and target of
    task: str = option("generate", "what to learn: generate = new images from noise; upscale (x4), colorize "
                                   "(grey -> colour), sketch (edges -> image), inpaint (holes -> whole) = to restore "
                                   f"{named('data')}'s images from copies degraded on the fly; paired = "
                                   f"{named('data')}'s images into {named('data_b')}'s files of the same names; "
                                   f"cyclegan = between the two folders, unpaired, both ways", group="data",
                       choices=TASKS)
    data_b: str | None = option(None, f"with {named('task')} paired or cyclegan: the second folder or zip (B)",
                                group="data")
    # networks and objective
    model: str = option("mlp", "network pair from the model registry (docs/models.md)", group="model")
    init: str = option("default", "weight initialisation of the models that offer it (mlp; the others keep their "
                                  "own): default = the model's own (mlp: PyTorch's nn.Linear); keras = Keras Dense's "
                                  "Glorot-uniform weights and zero biases (docs/models.md)", group="model",
                       choices=INIT_SCHEMES)
    z_dim: int = option(100, "latent size", group="model")
    l1_weight: float = option(100.0, "translation tasks but cyclegan: weight of G's L1 distance to the target",
                              group="model")
    cycle_weight: float = option(10.0, "cyclegan: weight of the cycle-consistency loss (A -> B -> A and B -> A -> B)",
                                 group="model")
    cycle_weight_a: float | None = option(None, "cyclegan: weight of the A -> B -> A cycle alone (the paper's "
                                                "lambda_A; default: cycle-weight), lower where B holds less than A "
                                                "(flat drawings from shaded ones)", group="model")
    identity_weight: float = option(5.0, "cyclegan: weight of the identity loss (G_A2B(b) = b), 0 = off",
                                    group="model")
    identity_fade: int = option(0, "cyclegan: the identity term's weight falls linearly from identity-weight at "
                                   "step 0 to 0 at step N (0 = it stays)", group="model", metavar="N")
    tv_weight: float = option(0.0, "translation tasks: weight of a total-variation term on G's outputs (the mean "
                                   "absolute difference between neighbouring pixels), against grain G adds to flat "
                                   "areas, 0 = off", group="model")
    roughness_weight: float = option(0.0, "translation tasks: weight of a roughness term on G's outputs (each pixel's "
                                          "distance from its 3x3 neighbourhood's mean): costs grain, leaves smooth "
                                          "gradients free, 0 = off", group="model")
    residual: bool = option(True, "translation tasks but sketch: G corrects its input (tanh(atanh(0.99 input) + G's "
                                  "output): it starts as the identity) instead of drawing the output anew",
                            group="model")
    dropout: float = option(0.0, "translation tasks: dropout in G's inner decoder stages while training (pix2pix's "
                                 "noise, e.g. 0.5; drawn from the run's seeded noise), 0 = off", group="model")
    upsample: str = option("transposed", "translation tasks: how G's decoder doubles the resolution: 4x4 transposed "
                                         "convs, or resize (nearest-neighbour, then a 3x3 conv: no checkerboard "
                                         "pattern, 2.25x the decoder's work)", group="model",
                           choices=("transposed", "resize"))
    width: int | None = option(None, "channels of the conv models (default: the model's own)", group="model")
    d_width: int | None = option(None, "channels of the conv models' discriminators, to make D wider (or narrower) "
                                       "than G (default: width)", group="model")
    spectral_norm: bool = option(False, "spectral norm on D's layers (models that offer it; resnet always has it)",
                                 group="model")
    loss: str = option("nonsaturating", "GAN objective", group="model",
                       choices=("nonsaturating", "minimax", "wgan", "wgan-gp", "lsgan", "hinge", "relativistic"))
    # training strategy (docs/stability.md says when each helps)
    n_critic: int = option(1, "D updates per G update", group="strategy")
    d_step: str = option("joint", "how a D update meets the real and generated batch: joint = one update on both "
                                  "together (fastest); separate = an update on the real batch, then another on the "
                                  "generated batch, as the tutorial's two Keras train_on_batch calls "
                                  "(docs/stability.md)", group="strategy", choices=("joint", "separate"))
    clip_weights: float | None = option(None, "WGAN weight clipping of D's weights to [-C, C]", group="strategy",
                                        metavar="C")
    gp_weight: float = option(0.0, "WGAN-GP gradient penalty weight (e.g. 10)", group="strategy")
    r1_gamma: float = option(0.0, "R1 gradient penalty on real images (e.g. 1)", group="strategy")
    r1_every: int = option(16, "lazy R1: apply it every k steps, scaled by k", group="strategy")
    ema_decay: float = option(0.0, "sample (translators: translate) from a moving average of G's weights, e.g. "
                                   "0.999 (0 = off)", group="strategy")
    augment: str = option("", "DiffAugment policy for everything D sees, e.g. translation,cutout,color",
                          group="strategy")
    ada_target: float = option(0.0, "adaptive augmentation (ADA, Karras et al. 2020): each --augment operation is "
                                    "applied with a probability p, raised while D is surer of the real images than "
                                    "this target (the mean sign of its logits on them) and lowered while less sure, "
                                    "e.g. 0.6; p is kept in checkpoints (0 = off: every operation always)",
                               group="strategy", metavar="T")
    minibatch_std: bool = option(False, "a minibatch standard-deviation feature in D (ProGAN): D sees how varied each "
                                        "group of 4 images is, so a G that draws too few things is told apart "
                                        "(dcgan, resnet)", group="strategy")
    self_condition: int = option(0, "self-conditioning (Liu et al. 2020): cluster the training images into K groups "
                                    "(k-means on their thumbnails, kept in the run folder) and train a class-conditional "
                                    "model on the cluster labels; samples then cover every cluster evenly (needs a -cond "
                                    "model, which the art preset picks; 0 = off)", group="strategy", metavar="K")
    lecam_weight: float = option(0.0, "LeCam regularization (Tseng et al. 2021), for small sets: pulls D's scores on "
                                      "real images toward a moving average of its scores on generated ones and back, "
                                      "so D cannot keep the two far apart by memorising the set, e.g. 0.3 (0 = off)",
                                 group="strategy")
    mode_seeking_weight: float = option(0.0, "mode seeking (Mao et al. 2019): G pays for drawing nearly the same "
                                             "image from two different latents, against a G that covers a varied "
                                             "set with a few things, e.g. 0.1 (0 = off)", group="strategy")
    real_label: float = option(1.0, "one-sided label smoothing: D's target for real images (e.g. 0.9)",
                               group="strategy")
    instance_noise: float = option(0.0, "std of Gaussian noise added to everything D sees", group="strategy")
    precision: str = option("fp32", "bf16: mixed precision, 1.3-2x faster for conv models on GPUs and CPUs with "
                                    "AMX/AVX512-BF16; auto: bf16 where the device runs it natively",
                            group="strategy", choices=("fp32", "bf16", "auto"))
    compile: bool = option(False, "torch.compile both networks: faster steps on GPUs after a warm-up of a minute or "
                                  "so (docs/performance.md); not with gradient penalties", group="strategy")
    channels_last: bool = option(False, "keep the conv models' images and weights channels-last (NHWC), the layout "
                                        "GPU tensor cores and oneDNN prefer", group="strategy")
    # optimisation: Adam for both networks
    batch_size: int = option(128, "images per batch", group="model")
    lr_g: float = option(2e-4, "generator learning rate", group="model")
    lr_d: float = option(2e-4, "discriminator learning rate", group="model")
    beta1: float = option(0.5, "Adam beta1", group="model")
    beta2: float = option(0.999, "Adam beta2", group="model")
    adam_eps: float = option(1e-8, "Adam epsilon, the denominator's floor (PyTorch's default; Keras' is 1e-7)",
                             group="model", metavar="EPS")
    adam_eps_style: str = option("pytorch", "where Adam's epsilon is added: pytorch = to the bias-corrected sqrt(v) "
                                            "(torch.optim.Adam); keras = to the uncorrected sqrt(v) (Keras' Adam), "
                                            "a larger floor over the first few thousand updates (docs/stability.md)",
                                 group="model", choices=("pytorch", "keras"))
    seed: int = option(0, "seed for weights, noise and batch order", group="model")
    # length: a total step target, or epochs (converted to steps), or wall-clock minutes per session
    steps: int | None = option(None, f"train until the run's total step count is N, also when resuming "
                                     f"(with no length at all: {DEFAULT_STEPS})", group="length")
    epochs: float | None = option(None, "train for N passes over the data", group="length")
    minutes: float | None = option(None, "stop after M minutes of training and save", group="length")
    # outputs
    log_every: int = option(100, "steps between metrics.jsonl lines", group="outputs")
    sample_every: int = option(500, "steps between sample grids and loss plots", group="outputs")
    checkpoint_every: int = option(1000, "steps between checkpoints", group="outputs")
    keep_checkpoints: int = option(3, "how many recent checkpoints to keep", group="outputs")
    # quality metrics during training (0 turns them off), on this many generated images
    eval_every: int = option(1000, "steps between quality metrics, alarms and the `best` checkpoint (0 = off)",
                             group="outputs")
    eval_images: int = option(2000, "generated images per quality measurement", group="outputs")
    tensorboard: bool = option(False, "also write the statistics (losses, every loss term, images/s), the quality "
                                      "measures and the sample grids as TensorBoard events in RUN/tensorboard "
                                      "(docs/tensorboard.md; needs pip install 'ganvas[tensorboard]')",
                               group="outputs")

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


OPTION_GROUPS = {"preset": "preset", "data": "data", "model": "model and optimisation",
                 "strategy": "training strategy (docs/stability.md)", "length": "length", "outputs": "outputs"}
# Shorthands set several options at once; an option given by name wins over its shorthand.
SHORTHANDS = {"lr": (("lr_g", "lr_d"), float, "learning rate of both networks")}


def options() -> list[dataclasses.Field]:
    """Every training option, in the order `ganvas train --help` shows them."""
    return list(dataclasses.fields(TrainConfig))


def option_type(field: dataclasses.Field) -> type:
    """The value type of an option: int, float, str or bool (None, where allowed, means "not set")."""
    annotation = typing.get_type_hints(TrainConfig)[field.name]
    return next(t for t in (typing.get_args(annotation) or (annotation,)) if t is not type(None))


def expand_shorthands(given: dict[str, Any]) -> dict[str, Any]:
    """`lr` becomes lr_g and lr_d, except where those are given themselves."""
    expanded = {k: v for k, v in given.items() if k not in SHORTHANDS}
    for shorthand, (targets, _, _) in SHORTHANDS.items():
        if given.get(shorthand) is not None:
            for target in targets:
                if expanded.get(target) is None:
                    expanded[target] = given[shorthand]
    return expanded


def check_option_names(given: dict[str, Any], source: str) -> None:
    known = {f.name for f in options()} | set(SHORTHANDS)
    unknown = sorted(set(given) - known)
    if unknown:
        raise GanvasError(f"{source} has unknown options: {', '.join(unknown)} (see `ganvas train --help` or "
                          "docs/api.md)")


@dataclass(frozen=True)
class Preset:
    description: str
    options: dict[str, Any]
    # A preset that suits itself to the data: more options from (image count, the options the user chose).
    for_data: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None


ART_SMALL_SET = 5000  # below this many images D memorises the set unless it sees augmented images (DiffAugment)
ART_LARGE_SIDE = 128  # from this side up the art preset takes the lightweight model (meant for a GPU)


def art_options(image_count: int, chosen: dict[str, Any]) -> dict[str, Any]:
    """The `art` preset's settings for a data set of `image_count` images and the options the user chose.

    Measured on squimoji (87 images, 32 px, docs/art.md): a spectral-norm DCGAN with hinge loss, an EMA of G
    and the full DiffAugment policy learns recognisable, varied images in 10 CPU minutes. The search of docs/art.md
    ("Covering the whole collection") added adaptive augmentation (ADA) on small sets, which in 10 minutes keeps
    augmentation low and lets G cover far more of a varied set, and bf16 where the hardware runs it natively (more
    steps in the same minutes). Target 0.4, not 0.6: as good on the two varied sets, and on the least varied one
    (squimoji) it keeps some augmentation on, where 0.6 let G copy. The same target on the smallest sets: on squimoji
    a lower one (0.3), always-on augmentation, minibatch std, self-conditioning, R1, least squares and a slower G
    were no better (docs/art.md), and a slower G cost the varied sets recall. A later search ("A faster learning
    rate and mode seeking") doubled both learning rates (G's is the lever for recall) and added mode seeking at
    0.1, which keeps the faster G from copying: squimoji's near-copies fell under their floor on two seeds.
    """
    side = chosen.get("size") or 28  # the named data sets are 28 px
    conditional = "-cond" if chosen.get("self_condition") else ""  # self-conditioning trains on cluster labels
    model = chosen.get("model") or ("lightweight" if side >= ART_LARGE_SIDE else "dcgan" + conditional)
    small = image_count < ART_SMALL_SET
    # Batches of 32 for small sets (64 for large ones), but at most half the images, so an epoch has two steps.
    batch_size = 64 if not small else max(1, min(32, 2 ** int(math.log2(max(image_count // 2, 1)))))
    options = {"model": model, "width": 32, "loss": "hinge", "lr_g": 4e-4, "lr_d": 4e-4, "beta1": 0.0,
               "beta2": 0.9, "ema_decay": 0.999, "batch_size": batch_size,
               "augment": "translation,cutout,color" if small else "translation", "precision": "auto"}
    if batch_size >= 2:  # mode seeking compares pairs of G's images
        options["mode_seeking_weight"] = 0.1
    if small and parse_policy(chosen.get("augment", options["augment"])):  # ADA adapts a policy; none, nothing
        options["ada_target"] = 0.4
    if model in ("dcgan", "dcgan-cond"):  # the other conv models have spectral norm built in
        options["spectral_norm"] = True
    return options


TRANSLATION_SMALL_SET = 1000  # below this many images (pairs) G over-fits unless the pairs are shifted


def translation_options(image_count: int, chosen: dict[str, Any]) -> dict[str, Any]:
    """The translation presets' settings for a data set of `image_count` images (pairs): a tenth held out (up to
    100) for evaluation, shifts for small sets, batches of 16 but at most half the images."""
    batch_size = max(1, min(16, 2 ** int(math.log2(max(image_count // 2, 1)))))
    return {"holdout": min(100, image_count // 10), "batch_size": batch_size,
            "augment": "translation" if image_count < TRANSLATION_SMALL_SET else ""}


def cyclegan_options(image_count: int, chosen: dict[str, Any]) -> dict[str, Any]:
    """The cyclegan preset's: the translation presets' settings, but from 30 images on at least the 6 held out
    that `ganvas evaluate`'s precision and recall compare (a tenth of a small folder is fewer)."""
    from ganvas.metrics.pixels import MIN_COUNT  # here, not at the top: the metrics sit above config

    options = translation_options(image_count, chosen)
    if image_count >= 5 * MIN_COUNT:
        options["holdout"] = max(options["holdout"], MIN_COUNT)
    return options


def paired_options(image_count: int, chosen: dict[str, Any]) -> dict[str, Any]:
    """The paired preset's: the translation presets' settings, and each pair mirrored half the time (both images
    alike), as there are few real pairs to learn from."""
    options = translation_options(image_count, chosen)
    return {**options, "augment": ",".join(filter(None, (options["augment"], "flip")))}


# pix2pix (Isola et al. 2017) at 64 px on a CPU: U-Net width 32, spectral-norm PatchGAN, L1 weight 100,
# Adam 2e-4 beta1 0.5; short intervals, as a CPU makes a few steps a second.
PIX2PIX = {"model": "unet", "width": 32, "loss": "nonsaturating", "l1_weight": 100.0, "lr_g": 2e-4, "lr_d": 2e-4,
           "beta1": 0.5, "log_every": 50, "sample_every": 250, "checkpoint_every": 500, "eval_every": 250}
# CycleGAN on a CPU: four networks a step, so half pix2pix's width and bf16 (3.6x the images/s); G not residual
# (a residual G held at the identity by the cycle and identity terms did not move) and weaker cycle (5) and
# identity (1) terms than the paper's 10 and 5, so the adversarial pull moves G, D learning twice as fast, a
# total-variation term of 1, which cut the grain on flat areas by a quarter at no cost in style on two seeds, and
# the identity term faded out over 4,000 steps: it keeps the colours while G finds its translation, and held
# fully it pulled G back to the identity after ~3,000 steps (docs/translate.md's probes).
CYCLEGAN = {"loss": "lsgan", "cycle_weight": 5.0, "identity_weight": 1.0, "identity_fade": 4000, "width": 16,
            "residual": False, "precision": "auto", "lr_d": 4e-4, "tv_weight": 1.0}
TRANSLATION_PRESETS = {
    "upscale": "learn x4 upscaling of your images (--data) from copies shrunk on the fly, pix2pix at 64 px",
    "colorize": "learn to colour greyscale copies of your images (--data), pix2pix at 64 px",
    "sketch": "learn to draw your images (--data) from their edges (kornia's Canny), pix2pix at 64 px",
    "inpaint": "learn to fill rectangular holes cut into your images (--data), pix2pix at 64 px",
}

PRESETS: dict[str, Preset] = {
    "seed": Preset(
        "the tutorial's Keras code exactly: MLP G and D with Keras Dense init, non-saturating BCE, per step one D "
        "update on a real batch and one on a generated batch, then G; Keras Adam (2e-4, beta1 0.5, epsilon 1e-7), "
        "batch 128 (collapses on MNIST: kept to study and compare against)",
        {"init": "keras", "d_step": "separate", "adam_eps": 1e-7, "adam_eps_style": "keras"},
    ),
    "mnist": Preset(
        "the best measured for MNIST in 5 CPU minutes (docs/stability.md): class-conditional DCGAN (width 32) trained "
        "from the digit labels, spectral-norm projection D, hinge loss, Adam 8e-4 betas (0, 0.9), batch 64, samples "
        "from an EMA of G (0.999), bf16 where the hardware runs it natively",
        {"model": "dcgan-cond", "width": 32, "spectral_norm": True, "loss": "hinge", "lr_g": 8e-4, "lr_d": 8e-4,
         "beta1": 0.0, "beta2": 0.9, "ema_decay": 0.999, "batch_size": 64, "precision": "auto"},
    ),
    "wgan": Preset(
        "Wasserstein GAN (Arjovsky et al. 2017) on the tutorial's MLPs: critic loss, weight clipping 0.01, "
        "5 critic steps per G step, lr 5e-5",
        {"loss": "wgan", "clip_weights": 0.01, "n_critic": 5, "lr_g": 5e-5, "lr_d": 5e-5},
    ),
    "wgan-gp": Preset(
        "WGAN with gradient penalty (Gulrajani et al. 2017) on the tutorial's MLPs: lambda 10, 5 critic steps, "
        "Adam 1e-4 betas (0, 0.9)",
        {"loss": "wgan-gp", "gp_weight": 10.0, "n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0,
         "beta2": 0.9},
    ),
    "lsgan": Preset(
        "least-squares GAN (Mao et al. 2017) on the tutorial's MLPs and optimizer",
        {"loss": "lsgan"},
    ),
    "art": Preset(
        "for your own images: picks model, batch and augmentation from the image count and --size (DCGAN with a "
        "spectral-norm D up to 64 px, lightweight from 128; on sets under 5,000 images DiffAugment with its "
        "probability adapted by ADA, target 0.4), hinge loss, Adam 4e-4, mode seeking 0.1, EMA of G, bf16 where the "
        "hardware runs it natively "
        "(docs/art.md)",
        {},
        for_data=art_options,
    ),
    "hinge": Preset(
        "hinge loss with a spectral-norm DCGAN discriminator (Miyato et al. 2018), TTUR (lr_d 4e-4, lr_g 1e-4), "
        "Adam betas (0, 0.9)",
        {"model": "dcgan", "spectral_norm": True, "loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4, "beta1": 0.0,
         "beta2": 0.9},
    ),
    **{task: Preset(f"{text} (docs/translate.md)", {**PIX2PIX, "task": task}, for_data=translation_options)
       for task, text in TRANSLATION_PRESETS.items()},
    "paired": Preset(
        "translate --data's images into --data-b's files of the same names, pix2pix at 64 px, G drawing its "
        "outputs anew, pairs mirrored half the time, a moving average of G (0.999), a total-variation term of 30 "
        "against blotches, bf16 where the hardware runs it natively (docs/translate.md)",
        # tv 30: where L1's pull cancels (targets it cannot predict) the outputs turn smooth, not blotchy; the
        # grain on the targets' flat areas fell by 40 % at the same held-out L1 (docs/translate.md)
        {**PIX2PIX, "task": "paired", "residual": False, "precision": "auto", "ema_decay": 0.999,
         "tv_weight": 30.0},
        for_data=paired_options),
    "cyclegan": Preset(
        "translate between --data and --data-b, unpaired, both ways (CycleGAN, Zhu et al. 2017) at 64 px: two U-Nets "
        "(width 16, drawing their outputs anew) and two PatchGANs, least-squares loss, cycle weight 5, identity 1, "
        "D's learning rate 4e-4, bf16 where the hardware runs it natively (docs/translate.md)",
        {**PIX2PIX, **CYCLEGAN, "task": "cyclegan"}, for_data=cyclegan_options),
}


def preset_config(name: str, count_images: Callable[[TrainConfig], int] | None = None,
                  **overrides: Any) -> TrainConfig:
    """The named preset with user overrides (options left as None are not overrides).

    Presets that suit themselves to the data (`art`) call count_images on a config naming the data set.
    """
    if name not in PRESETS:
        raise GanvasError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))} (see `ganvas presets`)")
    preset = PRESETS[name]
    chosen = {k: v for k, v in overrides.items() if v is not None}
    options = {**preset.options, **chosen}
    if preset.for_data is not None:
        if count_images is None:
            raise GanvasError(f"preset {name} picks its settings from the data set and needs its image count")
        image_count = count_images(TrainConfig(preset=name, **options))
        options = {**preset.options, **preset.for_data(image_count, chosen), **chosen}
    return validate(TrainConfig(preset=name, **options))


def read_options_file(path: str | Path) -> dict[str, Any]:
    """Training options from a YAML or JSON file: keys are option names (dashes or underscores), plus `preset`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise GanvasError(f"cannot read config file {path}: {err.strerror}") from None
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    try:
        data = yaml.safe_load(text) if yaml_file else json.loads(text)
    except Exception as err:  # YAML and JSON parsers each raise their own error types
        raise GanvasError(f"{path} is not valid {'YAML' if yaml_file else 'JSON'}: "
                          f"{str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise GanvasError(f"{path} must hold a mapping of option names to values, got {type(data).__name__}")
    given = {str(key).replace("-", "_"): value for key, value in data.items()}
    check_option_names(given, str(path))
    return given


def _check_types(config: TrainConfig) -> None:
    """Values from files and keywords arrive untyped: a string where a number belongs is named here, not deep in
    torch."""
    for field in options():
        value = getattr(config, field.name)
        wanted = option_type(field)
        nullable = field.default is None
        allowed = (float, int) if wanted is float else (wanted,)
        if value is None and nullable:
            continue
        if isinstance(value, bool) and wanted is not bool or not isinstance(value, allowed):
            kind = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}[wanted]
            raise GanvasError(f"{named(field.name)} must be {kind}{' or none' if nullable else ''}, got {value!r}")
        choices = field.metadata["choices"]
        if choices and value not in choices:
            raise GanvasError(f"{named(field.name)} must be one of {', '.join(choices)}, got {value!r}")


def validate(config: TrainConfig) -> TrainConfig:
    """Reject impossible settings before any work starts, saying which option is wrong."""
    _check_types(config)
    positive = ["z_dim", "batch_size", "lr_g", "lr_d", "adam_eps", "log_every", "sample_every", "checkpoint_every",
                "keep_checkpoints", "steps", "epochs", "minutes", "eval_images", "width", "d_width", "n_critic",
                "clip_weights", "r1_every", "real_label", "size"]
    not_negative = ["gp_weight", "r1_gamma", "ema_decay", "instance_noise", "eval_every", "holdout", "l1_weight",
                    "cycle_weight", "cycle_weight_a", "identity_weight", "identity_fade", "ada_target",
                    "self_condition", "lecam_weight", "mode_seeking_weight", "tv_weight", "roughness_weight"]
    for name in positive:
        value = getattr(config, name)
        if value is not None and not value > 0:
            raise GanvasError(f"{named(name)} must be positive, got {value}")
    for name in not_negative:
        if (getattr(config, name) or 0) < 0:
            raise GanvasError(f"{named(name)} must be 0 (off) or positive, got {getattr(config, name)}")
    if not config.ema_decay < 1:
        raise GanvasError(f"{named('ema_decay')} must be below 1, got {config.ema_decay}")
    if not config.real_label <= 1:
        raise GanvasError(f"{named('real_label')} must be at most 1, got {config.real_label}")
    try:
        parse_policy(config.augment)
    except GanvasError as err:
        raise GanvasError(f"{named('augment')}: {err}") from None
    _check_strategy(config)
    for name in ["beta1", "beta2", "dropout"]:
        if not 0 <= getattr(config, name) < 1:
            raise GanvasError(f"{named(name)} must be in [0, 1), got {getattr(config, name)}")
    if config.data is None and (config.size is not None or config.labels):
        raise GanvasError(f"{named('size')} and {named('labels')} are for your own images: give the folder or zip "
                          f"with {named('data')}")
    if config.data is not None and config.size is None:
        raise GanvasError(f"{named('data')} needs {named('size')}: the side in pixels to train at (16 to 256; "
                          "32 or 64 on a CPU)")
    _check_task(config)
    if sum(x is not None for x in (config.steps, config.epochs)) > 1:
        raise GanvasError(f"give the run's length as {named('steps')} or {named('epochs')}, not both")
    return config


def _check_task(config: TrainConfig) -> None:
    if config.task != "generate" and config.data is None:
        raise GanvasError(f"{named('task', config.task)} learns from your own images: give the folder or zip with "
                          f"{named('data')} (and {named('size')})")
    if config.task in TWO_FOLDER_TASKS and config.data_b is None:
        raise GanvasError(f"{named('task', config.task)} translates between two folders: give the second with "
                          f"{named('data_b')}")
    if config.task not in TWO_FOLDER_TASKS and config.data_b is not None:
        raise GanvasError(f"{named('data_b')} is the second folder of {named('task', 'paired')} or "
                          f"{named('task', 'cyclegan')}; drop it, or choose one of those tasks")
    defaults = {field.name: field.default for field in options()}
    translator_only = {"dropout": "is in the translators' U-Net", "upsample": "is in the translators' U-Net",
                       "tv_weight": "smooths a translator's outputs", "roughness_weight": "smooths a translator's outputs"}
    for name, what in translator_only.items():
        if config.task == "generate" and getattr(config, name) != defaults[name]:
            raise GanvasError(f"{named(name)} {what} (a {named('task')} other than generate); drop it")
    if config.task != "generate" and config.labels:
        raise GanvasError(f"{named('labels')} are for class-conditional noise-to-image models, not "
                          f"{named('task', config.task)}")


def _check_strategy(config: TrainConfig) -> None:
    """Combinations that cannot work, refused before any work starts."""
    if config.compile and (config.gp_weight or config.r1_gamma):
        raise GanvasError(f"{named('compile')} cannot take the second derivatives a gradient penalty needs "
                          f"(torch.compile has no double backward): drop {named('compile')}, or "
                          f"{named('gp_weight')}/{named('r1_gamma')}")
    if config.clip_weights and config.spectral_norm:
        raise GanvasError(f"weight clipping and spectral norm both constrain D's Lipschitz constant and fight each "
                          f"other: drop {named('clip_weights')} or {named('spectral_norm')}")
    if config.clip_weights and config.loss != "wgan":
        raise GanvasError(f"weight clipping is WGAN's constraint on its critic; it does not belong with "
                          f"{named('loss', config.loss)} (use {named('loss', 'wgan')}, or drop {named('clip_weights')})")
    if config.loss == "wgan" and not (config.clip_weights or config.spectral_norm):
        raise GanvasError(f"{named('loss', 'wgan')} needs a Lipschitz constraint on D: add "
                          f"{named('clip_weights', 0.01)} or {named('spectral_norm')} (or use {named('loss', 'wgan-gp')} "
                          f"with {named('gp_weight', 10)})")
    if config.ada_target and not (config.ada_target < 1 and config.augment):
        raise GanvasError(f"{named('ada_target')} tunes how often the {named('augment')} operations are applied: "
                          f"give it in (0, 1), e.g. 0.6, with a policy such as "
                          f"{named('augment', 'translation,cutout,color')}")
    if config.ada_target and get_objective(config.loss).boundary is None:
        with_boundary = ", ".join(named("loss", name) for name in objective_names() if get_objective(name).boundary
                                  is not None)
        raise GanvasError(f"{named('ada_target')} reads how much D overfits from which side of its real/generated "
                          f"boundary it puts real images, and {named('loss', config.loss)} has no such boundary (its "
                          f"scores only mean something relative to each other): use {with_boundary}, or drop "
                          f"{named('ada_target')}")
    if config.self_condition == 1:
        raise GanvasError(f"{named('self_condition')} K clusters the images into K groups: give K >= 2 (or 0, off)")
    if config.self_condition and (config.data is None or config.labels):
        raise GanvasError(f"{named('self_condition')} makes labels for your own unlabelled images: give the folder "
                          f"with {named('data')} and drop {named('labels')} (sub-folder labels are labels already)")
    if config.mode_seeking_weight and config.batch_size < 2:
        raise GanvasError(f"{named('mode_seeking_weight')} compares pairs of generated images: give "
                          f"{named('batch_size')} of at least 2")
    if config.loss == "wgan-gp" and not config.gp_weight:
        raise GanvasError(f"{named('loss', 'wgan-gp')} needs its gradient penalty: add {named('gp_weight', 10)}")


def new_run_config(given: dict[str, Any], options_file: str | Path | None = None,
                   count_images: Callable[[TrainConfig], int] | None = None) -> TrainConfig:
    """The config of a new run: the preset (given, from the file, else seed), then the file's options, then the
    options given (None means not given). This is the one place front ends turn their options into a config."""
    check_option_names(given, "the training options")
    from_file = read_options_file(options_file) if options_file else {}
    chosen = expand_shorthands({**expand_shorthands(from_file), **{k: v for k, v in given.items() if v is not None}})
    # A translation task with no preset takes the task's own (upscale, ..., cyclegan).
    preset = chosen.pop("preset", None) or (chosen["task"] if chosen.get("task", "generate") != "generate" else "seed")
    return preset_config(preset, count_images=count_images, **chosen)


def resumed_run_config(run_dir: Path, given: dict[str, Any]) -> TrainConfig:
    """A resumed run keeps its own config.json; only its length and whether it writes TensorBoard events may
    change."""
    check_option_names(given, "the training options")
    changed = sorted(name for name, value in given.items() if value is not None and name not in RESUMABLE_OPTIONS)
    if changed:
        raise GanvasError(f"resuming continues a run with its own settings; drop "
                          f"{', '.join(named(name) for name in changed)} (only {named('steps')}, {named('epochs')}, "
                          f"{named('minutes')} and {named('tensorboard')} may change, and the device)")
    config = load_config(run_dir)
    changes = {name: given[name] for name in RESUMABLE_OPTIONS if given.get(name) is not None}
    return validate(config.replace(**changes)) if changes else config


def with_default_length(config: TrainConfig) -> TrainConfig:
    """A run with no length at all trains DEFAULT_STEPS steps."""
    if config.steps is None and config.epochs is None and config.minutes is None:
        return config.replace(steps=DEFAULT_STEPS)
    return config


def save_config(config: TrainConfig, run_dir: Path) -> None:
    atomic_write_text(Path(run_dir) / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")


def config_from_dict(data: dict[str, Any], source: str) -> TrainConfig:
    known = {f.name for f in options()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GanvasError(f"{source} has options this ganvas does not know ({', '.join(unknown)}); "
                          "it was written by a newer ganvas: upgrade to use it")
    return validate(TrainConfig(**data))


def load_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise GanvasError(f"{run_dir} is not a ganvas run folder (no {CONFIG_FILE}); "
                          "start a run with `ganvas train --run DIR`")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GanvasError(f"{path} is not valid JSON ({err}); restore it or start a new run") from None
    if not isinstance(data, dict):
        raise GanvasError(f"{path} does not hold a mapping of options; restore it or start a new run")
    return config_from_dict(data, str(path))
