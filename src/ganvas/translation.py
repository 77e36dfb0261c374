"""Image-to-image GANs: the trainee of the image-to-image kind (kinds.py), its data and its inference.

Tasks (the `task` option, docs/translate.md):
- upscale, colorize, sketch, inpaint: one folder of images; each batch's inputs are computed from its
  images on the fly (a x4 downscaled copy upscaled back by bicubic; the greyscale; kornia's Canny edges;
  the image with rectangular holes and a channel marking them). pix2pix: a U-Net G, a PatchGAN D that
  sees the input beside the output, L1 to the target plus the adversarial loss.
- paired: folder A's images into folder B's files of the same name (pix2pix on given pairs).
- cyclegan: between two folders, unpaired (Zhu et al. 2017): G_A2B and G_B2A, D_A and D_B,
  cycle-consistency and identity losses, D trained on a history pool of generated images.

The `augment` option's translation is applied to a pair as to one image (the input and the target
shifted alike). Everything random comes from the run's noise generator, saved in each checkpoint with
the image pools, so resuming is exact.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganvas import checkpoint as ckpt
from ganvas.augment import augment, parse_policy
from ganvas.batches import Batch, BatchSampler
from ganvas.config import TrainConfig
from ganvas.data import ImageDataset, load_image_folder, to_model_range
from ganvas.data.holdout import holdout_indices, split_holdout
from ganvas.devices import has_fast_bf16
from ganvas.distributed import Processes
from ganvas.errors import DataError, GanvasError, named
from ganvas.gan import make_optimizer
from ganvas.losses import get_objective
from ganvas.metrics.domains import DomainClassifier, style_gap, style_scores
from ganvas.metrics.quality import Judge
from ganvas.models import build_network, get_model, model_names, takes_option
from ganvas.noise import SampleNoise
from ganvas.regularizers import (lazy_r1_weight, r1_penalty, roughness, total_variation, update_ema_,
                                 warmed_up_decay)

KIND = ckpt.IMAGE_TO_IMAGE
FOLDER_TASKS = ("upscale", "colorize", "sketch", "inpaint")
UPSCALE = 4
DEFAULT_WIDTH = 32
DEPTH = 4  # U-Net stages: 64 px images reach 4 x 4 at the bottleneck
POOL_SIZE = 50  # CycleGAN's history of generated images (Shrivastava et al. 2017)
GRID_EXAMPLES = 16
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's convert("L")
CANNY_THRESHOLDS = (0.1, 0.2)  # kornia's defaults, on images in [0, 1]
# G's smoothness terms: statistic name -> (its measure of a batch of outputs, the option weighing it).
SMOOTHNESS_TERMS = {"total_variation": (total_variation, "tv_weight"),
                    "roughness": (lambda images: roughness(images).mean(), "roughness_weight")}
NOT_FOR_TRANSLATION = ("gp_weight", "clip_weights", "instance_noise", "compile",
                       "channels_last", "lecam_weight", "mode_seeking_weight")


# --- inputs made from images --------------------------------------------------------------------------------

def colour_part(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(colour channels, alpha or None) of grey, grey+alpha, RGB or RGBA images."""
    if images.shape[1] in (2, 4):
        return images[:, :-1], images[:, -1:]
    return images, None


def greyscale(images: torch.Tensor) -> torch.Tensor:
    """Colour images in [-1, 1] as grey in the same channels (so a residual G corrects them), alpha kept."""
    colour, alpha = colour_part(images)
    if colour.shape[1] != 3:
        raise DataError(f"{named('task', 'colorize')} learns colour from colour images; these have no colour "
                        f"channels (train on RGB or RGBA images, {named('channels')} rgb)")
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    grey = (colour * weights).sum(dim=1, keepdim=True).expand_as(colour)
    return grey if alpha is None else torch.cat([grey, alpha], dim=1)


def downscaled(images: torch.Tensor) -> torch.Tensor:
    """The x4 smaller copy that upscaling learns from (box filter, as a camera's pixels average light)."""
    return F.avg_pool2d(images, UPSCALE)


def bicubic_upscaled(images: torch.Tensor) -> torch.Tensor:
    return F.interpolate(images, scale_factor=UPSCALE, mode="bicubic", align_corners=False).clamp(-1, 1)


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """kornia's Canny edges of the images (transparent parts as black), 1 on an edge and -1 elsewhere."""
    try:
        from kornia.filters import canny
    except ImportError:
        raise GanvasError(f"{named('task', 'sketch')} finds edges with kornia: pip install 'ganvas[translate]'") \
            from None
    colour, alpha = colour_part((images + 1) / 2)
    if alpha is not None:
        colour = colour * alpha
    _, edges = canny(colour.float(), *CANNY_THRESHOLDS)
    return edges.to(images.dtype) * 2 - 1


def holes(count: int, side: int, draws: SampleNoise, device: torch.device) -> torch.Tensor:
    """(N, 1, side, side) bool: one rectangle per image, each side a quarter to a half of the image's."""
    low, high = side // 4, side // 2
    heights, widths = (draws.randint(low, high + 1, (count, 1), device=device) for _ in range(2))
    tops = (draws.rand((count, 1), device=device) * (side - heights + 1)).long()
    lefts = (draws.rand((count, 1), device=device) * (side - widths + 1)).long()
    position = torch.arange(side, device=device)
    rows = (position >= tops) & (position < tops + heights)
    columns = (position >= lefts) & (position < lefts + widths)
    return (rows[:, None, :, None] & columns[:, None, None, :])


def with_holes(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The inpainting input: the image with its holes at 0 (mid-grey), and a channel that is 1 on them, -1 off."""
    return torch.cat([images.masked_fill(mask, 0.0), mask.to(images.dtype) * 2 - 1], dim=1)


def task_input(task: str, targets: torch.Tensor, draws: SampleNoise | None) -> torch.Tensor:
    """What G sees for these target images in a one-folder task."""
    if task == "upscale":
        return bicubic_upscaled(downscaled(targets))
    if task == "colorize":
        return greyscale(targets)
    if task == "sketch":
        return edge_map(targets)
    if task == "inpaint":
        return with_holes(targets, holes(len(targets), targets.shape[-1], draws, targets.device))
    raise ValueError(task)


def examples_input(task: str, images: torch.Tensor, seed: int) -> torch.Tensor:
    """G's inputs for fixed examples, the same every time (inpainting's holes drawn from the seed)."""
    if task in FOLDER_TASKS:
        return task_input(task, images, SampleNoise(torch.Generator().manual_seed(seed)))
    return images


def input_channels(task: str, target_channels: int) -> int:
    return {"sketch": 1, "inpaint": target_channels + 1}.get(task, target_channels)


def shown_as(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Images with `channels` channels for a grid beside others: grey repeated as colour, alpha added opaque or
    dropped, an inpainting input shown without its mask."""
    colour, alpha = colour_part(images[:, :channels] if images.shape[1] > channels else images)
    want_alpha = channels in (2, 4)
    want_colour = 3 if channels >= 3 else 1
    if colour.shape[1] != want_colour:
        colour = colour.mean(dim=1, keepdim=True).expand(-1, want_colour, -1, -1) if want_colour == 3 \
            else colour.mean(dim=1, keepdim=True)
    if not want_alpha:
        return colour
    return torch.cat([colour, alpha if alpha is not None else torch.ones_like(colour[:, :1])], dim=1)


# --- data ---------------------------------------------------------------------------------------------------

def _load_folder(config: TrainConfig, path: str) -> ImageDataset:
    return load_image_folder(path, config.size, fit=config.fit, channels=config.channels,
                             background=config.background)


def match_names(a: ImageDataset, b: ImageDataset) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Indices of the pairs (files of the same name but for the extension, in A's order), and A's and B's names
    that have no partner."""
    def key(name: str) -> str:
        return name.rsplit(".", 1)[0]

    in_b = {key(name): index for index, name in enumerate(b.names)}
    pairs = [(index, in_b[key(name)]) for index, name in enumerate(a.names) if key(name) in in_b]
    matched = {key(a.names[i]) for i, _ in pairs}
    only_a = [name for name in a.names if key(name) not in matched]
    only_b = [name for name in b.names if key(name) not in matched]
    left, right = (np.array(side, dtype=np.int64) for side in zip(*pairs)) if pairs else (np.zeros(0, np.int64),) * 2
    return left, right, only_a, only_b


def _unmatched_note(only_a: list[str], only_b: list[str], a: str, b: str) -> str | None:
    parts = [f"{len(names)} in {folder} ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''})"
             for names, folder in ((only_a, a), (only_b, b)) if names]
    return f"files with no partner of the same name, left out: {'; '.join(parts)}" if parts else None


@dataclass
class TranslationData:
    """A run's pairs (or two unpaired sets): the training batches, and the held-out (else first) examples that
    grids and quality measures show."""

    task: str
    dataset: ImageDataset  # the training images: targets (one folder), A (two folders)
    sampler: Any
    a_channels: int  # what G_A2B takes ...
    b_channels: int  # ... and makes
    examples: tuple[torch.Tensor, torch.Tensor]  # (A or targets, B or targets) in [-1, 1], on the CPU
    held_out: bool  # whether the examples were held out of training
    notes: list[str] = dataclasses.field(default_factory=list)


def load_translation_data(config: TrainConfig, device: torch.device) -> TranslationData:
    """The run's data: training batches on `device`, and as examples the held-out pairs (all of them), else the
    first training ones."""
    if config.task in FOLDER_TASKS:
        full = _load_folder(config, config.data)
        training, held = split_holdout(full, config.holdout, config.seed)
        targets = to_model_range(training.images)
        sampler = BatchSampler(targets.to(device), None, config.batch_size, config.seed)
        shown = to_model_range(held.images) if held is not None else targets[:GRID_EXAMPLES]
        channels = training.image_shape[0]
        if config.task == "colorize":
            greyscale(targets[:1])  # refuses grey data before any work
        return TranslationData(config.task, training, sampler, input_channels(config.task, channels), channels,
                               (shown, shown), held is not None)
    a, b = _load_folder(config, config.data), _load_folder(config, config.data_b)
    if config.task == "paired":
        left, right, only_a, only_b = match_names(a, b)
        if not len(left):
            raise DataError(f"no file in {config.data} has a partner of the same name in {config.data_b} "
                            f"(e.g. {a.names[0]} / {b.names[0]}); {named('task', 'paired')} pairs files by name "
                            f"(use {named('task', 'cyclegan')} for unpaired folders)")
        notes = [note] if (note := _unmatched_note(only_a, only_b, config.data, config.data_b)) else []
        a_all, b_all = to_model_range(a.images[left]), to_model_range(b.images[right])
        held = holdout_indices(len(left), config.holdout, config.seed)
        keep = np.setdiff1d(np.arange(len(left)), held)
        train_names = [a.names[i] for i in left[keep]]
        dataset = dataclasses.replace(a, images=a.images[left[keep]], names=train_names,
                                      held_out=held if len(held) else None,
                                      part="training" if len(held) else "all", name=f"{a.name}+{b.name}")
        sampler = BatchSampler(a_all[keep].to(device), b_all[keep].to(device), config.batch_size, config.seed)
        shown = (a_all[held], b_all[held]) if len(held) else (a_all[keep][:GRID_EXAMPLES], b_all[keep][:GRID_EXAMPLES])
        return TranslationData(config.task, dataset, sampler, a.image_shape[0], b.image_shape[0], shown,
                               bool(len(held)), notes)
    a_train, a_held = split_holdout(a, config.holdout, config.seed)
    b_train, b_held = split_holdout(b, config.holdout, config.seed)
    sampler = TwoSamplers(BatchSampler(to_model_range(a_train.images).to(device), None, config.batch_size,
                                       config.seed),
                          BatchSampler(to_model_range(b_train.images).to(device), None, config.batch_size,
                                       config.seed + 1))
    pick = (lambda train, held: to_model_range(held.images if held is not None else train.images[:GRID_EXAMPLES]))
    return TranslationData(config.task, dataclasses.replace(a_train, name=f"{a.name}+{b.name}"), sampler,
                           a.image_shape[0], b.image_shape[0], (pick(a_train, a_held), pick(b_train, b_held)),
                           a_held is not None)


class TwoSamplers:
    """CycleGAN's batches: one from each folder, each shuffled on its own."""

    def __init__(self, a: BatchSampler, b: BatchSampler):
        self.a, self.b = a, b
        self.steps_per_epoch = max(a.steps_per_epoch, b.steps_per_epoch)

    def batch(self, number: int) -> Batch:
        return self.a.batch(number)[0], self.b.batch(number)[0]


# --- the networks -------------------------------------------------------------------------------------------

def translation_recipes(config: TrainConfig, a_channels: int, b_channels: int) -> dict[str, dict[str, Any]]:
    """Each network role's recipe. pix2pix tasks: generator_a2b and discriminator_b (which sees G's input beside
    its output); cyclegan adds generator_b2a and discriminator_a, each D seeing images of its own folder alone.
    With `ema_decay`, each generator also has a moving average of its weights (averaged_role), which the run's
    grids, measures and translations use."""
    width = config.width or DEFAULT_WIDTH
    residual = config.residual and config.task != "sketch"  # an edge map is no first draft of the image
    # Recipes without these options stay as they were before the options existed.
    dropout = {"dropout": config.dropout} if config.dropout else {}
    upsample = {"upsample": config.upsample} if config.upsample != "transposed" else {}

    # The U-Net's depth and residual output; a model without them (resnet-translator) has neither.
    unet_options = {"depth": DEPTH, "residual": residual} if takes_option(config.model, "generator", "depth") else {}

    def generator(c_in: int, c_out: int) -> dict[str, Any]:
        return {"model": config.model, "part": "generator",
                "args": {"in_channels": c_in, "out_channels": c_out, "width": width, **unet_options, **dropout,
                         **upsample}}

    def discriminator(c_in: int) -> dict[str, Any]:
        return {"model": config.model, "part": "discriminator",
                "args": {"in_channels": c_in, "width": config.d_width or width, "spectral_norm": True}}

    if config.task != "cyclegan":
        trained = {"generator_a2b": generator(a_channels, b_channels),
                   "discriminator_b": discriminator(a_channels + b_channels)}
    else:
        trained = {"generator_a2b": generator(a_channels, b_channels),
                   "generator_b2a": generator(b_channels, a_channels),
                   "discriminator_a": discriminator(a_channels), "discriminator_b": discriminator(b_channels)}
    if not config.ema_decay:
        return trained
    return {**trained, **{averaged_role(role): trained[role] for role in trained if role.startswith("generator")}}


AVERAGE_SUFFIX = "_ema"


def averaged_role(role: str) -> str:
    """The role of the moving average of a generator's weights (the `ema_decay` option)."""
    return role + AVERAGE_SUFFIX


def check_translation_config(config: TrainConfig, processes: Processes) -> None:
    """Options that do not apply to translation, refused before any work."""
    if get_model(config.model).kind != KIND:
        raise GanvasError(f"{named('task', config.task)} translates images and needs an image-to-image model "
                          f"({', '.join(named('model', name) for name in model_names(KIND))}); {config.model!r} makes "
                          "images from noise")
    given = [name for name in NOT_FOR_TRANSLATION if getattr(config, name)]
    if given:
        raise GanvasError(f"{', '.join(named(name) for name in given)}: not available for "
                          f"{named('task', config.task)}, only for noise-to-image GANs; drop them")
    if config.n_critic != 1 or config.d_step != "joint":
        raise GanvasError(f"translation takes one joint D update per G update: drop {named('n_critic')} and "
                          f"{named('d_step')}")
    if set(parse_policy(config.augment)) - {"translation", "flip"}:
        raise GanvasError(f"a translation pair is augmented as one image, by shifting or mirroring it: "
                          f"{named('augment')} takes only 'translation' and 'flip' here, not {config.augment!r}")
    if config.size % 2 ** DEPTH:
        raise GanvasError(f"translation models take sides that are a multiple of {2 ** DEPTH}: choose such a "
                          f"{named('size')} (e.g. 64)")
    if config.task == "cyclegan" and processes.distributed:
        raise GanvasError(f"{named('task', 'cyclegan')}'s pool of generated images is kept by one process: "
                          "train it on one")


class ImagePool:
    """The last POOL_SIZE generated images; D sees a random old one instead of a new one half the time once it
    is full, so it does not forget what G made before (Shrivastava et al. 2017)."""

    def __init__(self, images: torch.Tensor | None = None):
        self.images = images

    def query(self, fresh: torch.Tensor, draws: SampleNoise) -> torch.Tensor:
        count = len(fresh)
        swap = draws.rand((count,), device=fresh.device) < 0.5
        slots = draws.randint(0, POOL_SIZE, (count,), device=fresh.device)
        out = []
        for image, use_old, slot in zip(fresh, swap.tolist(), slots.tolist()):
            image = image[None]
            if self.images is None or len(self.images) < POOL_SIZE:
                self.images = image.clone() if self.images is None else torch.cat([self.images, image])
                out.append(image)
            elif use_old:
                out.append(self.images[slot:slot + 1].clone())
                self.images[slot] = image[0]
            else:
                out.append(image)
        return torch.cat(out)


class TranslationGAN:
    """An image-to-image GAN being trained: its networks by role, their optimizers, and one training step."""

    def __init__(self, config: TrainConfig, data: TranslationData, device: torch.device,
                 processes: Processes = Processes()):
        check_translation_config(config, processes)
        self.config, self.data, self.device, self.processes = config, data, device, processes
        self.cycle = config.task == "cyclegan"
        self.recipes = translation_recipes(config, data.a_channels, data.b_channels)
        trained = {role: recipe for role, recipe in self.recipes.items() if not role.endswith(AVERAGE_SUFFIX)}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.nets = {role: build_network(recipe).to(device) for role, recipe in trained.items()}
        if processes.distributed and device.type == "cuda":  # as GAN does: no CPU kernel for it (distributed.md)
            self.nets = {role: nn.SyncBatchNorm.convert_sync_batchnorm(net) for role, net in self.nets.items()}
        # Each generator's moving average starts as its copy; `averages` maps the generator's role to it.
        self.averages = {role: copy.deepcopy(self.nets[role]).eval() for role in trained
                         if averaged_role(role) in self.recipes}
        self.opts = {role: make_optimizer(net, config.lr_g if role.startswith("generator") else config.lr_d,
                                          config, device) for role, net in self.nets.items()}
        self.objective = get_objective(config.loss, real_label=config.real_label)
        self.noise = torch.Generator(device=device).manual_seed(config.seed + 1)
        self.draws = SampleNoise(self.noise, processes.rank, processes.world_size)
        self.policy = parse_policy(config.augment)
        self.pools = {"pool_a": ImagePool(), "pool_b": ImagePool()} if self.cycle else {}
        self.bf16 = config.precision == "bf16" or config.precision == "auto" and has_fast_bf16(device)

    # training

    def _augmented(self, *images: torch.Tensor) -> list[torch.Tensor]:
        """The same shift for each image of a pair (concatenated, augmented as one)."""
        if not self.policy:
            return list(images)
        joined = augment(torch.cat(images, dim=1), self.policy, self.draws)
        return list(joined.split([image.shape[1] for image in images], dim=1))

    def pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(G's inputs, targets) of a pix2pix batch."""
        first, second = batch
        if second is None:  # one folder: the inputs are made from the (augmented) targets
            (targets,) = self._augmented(first)
            return task_input(self.config.task, targets, self.draws), targets
        inputs, targets = self._augmented(first, second)
        return inputs, targets

    def train_step(self, step: int, next_batch: Callable[[int], Batch]) -> dict[str, torch.Tensor]:
        with self._dropout_seeded(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            step_fn = self._cycle_step if self.cycle else self._pix2pix_step
            stats = step_fn(step, next_batch(0))
        for role, average in self.averages.items():
            update_ema_(average, self.nets[role], warmed_up_decay(self.config.ema_decay, step))
        return stats

    @contextlib.contextmanager
    def _dropout_seeded(self):
        """Dropout draws from torch's global generator: seed it for the step from the run's noise (saved in each
        checkpoint), so a resumed run drops the same features; the caller's global state is left as it was."""
        if not self.config.dropout:
            yield
            return
        seed = int(torch.randint(2 ** 62, (1,), generator=self.noise, device=self.device))
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            yield

    def _update(self, roles: tuple[str, ...], loss: torch.Tensor) -> None:
        for role in roles:
            self.opts[role].zero_grad(set_to_none=True)
        loss.backward()
        self.processes.average_gradients([self.nets[role] for role in roles])
        for role in roles:
            self.opts[role].step()
        if self.bf16:  # as GAN._optimizer_step: no later forward of this step may run autocast's pre-update bf16 copy
            torch.clear_autocast_cache()

    def _d_terms(self, step: int, d: nn.Module, real: torch.Tensor,
                 fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on a real and a generated batch, lazy R1 on the real one added on the steps that take it, and
        its statistics (the objective's loss, D's accuracy, the R1 penalty where taken)."""
        real_logits, fake_logits = d(real).float(), d(fake).float()
        objective = self.objective.discriminator_loss(real_logits, fake_logits)
        total, stats = objective, {"d_loss": objective.detach()}
        if self.config.r1_gamma and step % self.config.r1_every == 0:
            penalty = r1_penalty(d, real)
            total = total + lazy_r1_weight(self.config.r1_gamma, self.config.r1_every) * penalty
            stats["r1_penalty"] = penalty.detach()
        with torch.no_grad():
            stats["d_accuracy"] = self.objective.accuracy(real_logits, fake_logits)
        return total, stats

    def _g_adversarial(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real_logits = d(real).float() if self.objective.generator_needs_real else None
        return self.objective.generator_loss(real_logits, d(fake).float())

    def _pix2pix_step(self, step: int, batch: Batch) -> dict[str, torch.Tensor]:
        g, d = self.nets["generator_a2b"], self.nets["discriminator_b"]
        inputs, targets = self.pair(batch)
        fake = g(inputs)
        d_loss, d_stats = self._d_terms(step, d, torch.cat([inputs, targets], 1),
                                        torch.cat([inputs, fake.detach()], 1))
        self._update(("discriminator_b",), d_loss)
        d.requires_grad_(False)  # G's step needs D's activations' gradients, not its weights'
        adversarial = self._g_adversarial(d, torch.cat([inputs, targets], 1), torch.cat([inputs, fake], 1))
        l1 = (fake.float() - targets).abs().mean()
        total = adversarial + self.config.l1_weight * l1
        smoothing, smoothness = self._smoothness_terms(fake)
        self._update(("generator_a2b",), total + smoothing)
        d.requires_grad_(True)
        return {**d_stats, "g_loss": adversarial.detach(), "l1": l1.detach(),
                **{name: value.detach() for name, value in smoothness.items()}}

    def _smoothness_terms(self, *outputs: torch.Tensor) -> tuple[torch.Tensor | float, dict[str, torch.Tensor]]:
        """The weighted sum of the smoothness terms the run weighs (total variation, roughness) of G's outputs, and
        each term (summed over the directions translated)."""
        weighted, terms = 0.0, {}
        for name, (measure, option) in SMOOTHNESS_TERMS.items():
            if weight := getattr(self.config, option):
                terms[name] = sum(measure(output) for output in outputs)
                weighted = weighted + weight * terms[name]
        return weighted, terms

    def _cycle_step(self, step: int, batch: Batch) -> dict[str, torch.Tensor]:
        config, nets = self.config, self.nets
        a, b = batch
        (a,), (b,) = self._augmented(a), self._augmented(b)
        g_ab, g_ba, d_a, d_b = (nets[r] for r in ("generator_a2b", "generator_b2a", "discriminator_a",
                                                   "discriminator_b"))
        fake_b, fake_a = g_ab(a), g_ba(b)
        d_a.requires_grad_(False)
        d_b.requires_grad_(False)
        adversarial = self._g_adversarial(d_b, b, fake_b) + self._g_adversarial(d_a, a, fake_a)
        cycle_a = (g_ba(fake_b).float() - a).abs().mean()
        cycle_b = (g_ab(fake_a).float() - b).abs().mean()
        cycle = cycle_a + cycle_b
        cycle_weight_a = config.cycle_weight if config.cycle_weight_a is None else config.cycle_weight_a
        total = adversarial + cycle_weight_a * cycle_a + config.cycle_weight * cycle_b
        identity = torch.zeros((), device=a.device)
        fade = max(0.0, 1 - step / config.identity_fade) if config.identity_fade else 1.0
        identity_weight = config.identity_weight * fade
        if identity_weight and a.shape[1] == b.shape[1]:
            identity = (g_ab(b).float() - b).abs().mean() + (g_ba(a).float() - a).abs().mean()
            total = total + identity_weight * identity
        smoothing, smoothness = self._smoothness_terms(fake_b, fake_a)
        self._update(("generator_a2b", "generator_b2a"), total + smoothing)
        d_a.requires_grad_(True)
        d_b.requires_grad_(True)
        loss_a, stats_a = self._d_terms(step, d_a, a, self.pools["pool_a"].query(fake_a.detach(), self.draws))
        loss_b, stats_b = self._d_terms(step, d_b, b, self.pools["pool_b"].query(fake_b.detach(), self.draws))
        self._update(("discriminator_a", "discriminator_b"), (loss_a + loss_b) / 2)
        return {**{name: (stats_a[name] + stats_b[name]) / 2 for name in stats_a}, "g_loss": adversarial.detach() / 2,
                "cycle_l1": cycle.detach() / 2,
                "identity_l1": identity.detach() / 2,
                **{name: value.detach() / 2 for name, value in smoothness.items()}}

    def networks(self) -> dict[str, nn.Module]:
        """Every network by its checkpoint role: the trained ones and the generators' moving averages."""
        return {**self.nets, **{averaged_role(role): average for role, average in self.averages.items()}}

    def weights_are_finite(self) -> bool:
        return all(torch.isfinite(p).all() for net in self.networks().values() for p in net.parameters())

    # outputs

    @torch.no_grad()
    def translate(self, images: torch.Tensor, role: str = "generator_a2b", batch_size: int = 64) -> torch.Tensor:
        """G's outputs for its inputs (its moving average's, if the run keeps one), in eval mode, on the CPU."""
        g = self.averages.get(role, self.nets[role])
        was_training = g.training
        g.eval()
        out = in_batches(lambda batch: g(batch.to(self.device)).cpu(), images, batch_size)
        g.train(was_training)
        return out

    def example_inputs(self) -> torch.Tensor:
        return examples_input(self.data.task, self.data.examples[0], self.config.seed)

    def grid(self) -> tuple[torch.Tensor, int]:
        """Rows of examples, each input | output | target (cyclegan: a | a2b | a2b2a, then b | b2a | b2a2b)."""
        first, second = (x[:GRID_EXAMPLES] for x in self.data.examples)
        if self.cycle:
            count = min(len(first), len(second), GRID_EXAMPLES // 2)
            a, b = first[:count], second[:count]
            a2b, b2a = self.translate(a), self.translate(b, "generator_b2a")
            channels = max(a.shape[1], b.shape[1])
            triples = [torch.stack([shown_as(x, channels) for x in (a, a2b, self.translate(a2b, "generator_b2a"))], 1),
                       torch.stack([shown_as(x, channels) for x in (b, b2a, self.translate(b2a))], 1)]
            return torch.cat(triples).flatten(0, 1), 6
        inputs = self.example_inputs()[:GRID_EXAMPLES]
        outputs = self.translate(inputs)
        channels = second.shape[1]
        return torch.stack([shown_as(inputs, channels), outputs, second[:len(inputs)]], 1).flatten(0, 1), 6

    # checkpoints

    def training_state(self) -> ckpt.TrainingState:
        return ckpt.TrainingState({role: opt.state_dict() for role, opt in self.opts.items()},
                                  [{"noise": self.noise.get_state()}],
                                  {name: pool.images for name, pool in self.pools.items() if pool.images is not None})

    def save(self, run_dir: Path, step: int, name: str | None = None, quality: dict | None = None) -> Path:
        return ckpt.save_checkpoint(run_dir, step, KIND, self.networks(), self.recipes, self.config.to_dict(),
                                    self.training_state(), name=name, quality=quality,
                                    processes=self.processes.world_size)

    def restore(self, checkpoint: ckpt.Checkpoint) -> None:
        ckpt.require_kind(checkpoint, KIND)
        if checkpoint.networks != self.recipes:
            raise GanvasError(f"checkpoint {checkpoint.path} holds other networks ({checkpoint.networks}) than this "
                              f"run's config builds ({self.recipes}); resume with the run's own config")
        for role, net in self.networks().items():
            ckpt.load_weights_into(net, checkpoint.weights(role), role, checkpoint.path)
        state = checkpoint.training_state()
        ckpt.check_training_state(state, self.opts, [{"noise": self.noise}], checkpoint.path)
        shape = self.data.examples[0].shape[2:]
        for name, images in state.buffers.items():
            if name not in self.pools or images.dim() != 4 or images.shape[2:] != shape \
                    or not 0 < len(images) <= POOL_SIZE or not torch.isfinite(images).all():
                raise ckpt.CheckpointError(f"{checkpoint.path} has an unusable training state (buffer {name!r}); "
                                           "resume from an earlier checkpoint")
        try:
            for role, opt in self.opts.items():
                opt.load_state_dict(state.optimizers[role])
            self.noise.set_state(state.rng[0]["noise"])
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as err:
            raise ckpt.CheckpointError(f"{checkpoint.path} has an unusable training state ({type(err).__name__}: "
                                       f"{err}); resume from an earlier checkpoint") from None
        for name, pool in self.pools.items():
            pool.images = state.buffers[name].to(self.device).clone() if name in state.buffers else None


# --- measuring ----------------------------------------------------------------------------------------------

def l1_distance(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean absolute difference in [0, 1] pixel units."""
    return float((outputs.float() - targets.float()).abs().mean() / 2)


def psnr(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (peak 1 in [0, 1] units), over all pixels together."""
    mse = float((((outputs.float() - targets.float()) / 2) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def ssim(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    from pytorch_msssim import ssim as reference_ssim

    side = min(outputs.shape[-2:])
    window = min(11, side - (side + 1) % 2)  # an odd window that fits the images
    return float(reference_ssim((outputs.float() + 1) / 2, (targets.float() + 1) / 2, data_range=1.0,
                                win_size=window))


FLAT = 0.01  # a source pixel whose colour is this close to its 3x3 neighbourhood's mean (roughness) counts as flat
OPAQUE = 0.99  # ... where it is at least this opaque


def flat_area_grain(outputs: torch.Tensor, reference: torch.Tensor) -> float:
    """The texture a translator adds: the outputs' mean roughness where the reference images (a CycleGAN's
    sources, a paired task's targets) are flat and opaque (their own value there is below FLAT; the grain on flat
    areas in docs/translate.md). NaN where the references have no flat opaque pixel."""
    flat = roughness(reference) < FLAT
    _, alpha = colour_part(reference)
    if alpha is not None:
        flat &= (alpha[:, 0].float() + 1) / 2 >= OPAQUE
    return float(roughness(outputs)[flat].mean()) if flat.any() else math.nan


def flat_grain_scores(outputs: torch.Tensor, baseline: torch.Tensor,
                      reference: torch.Tensor) -> dict[str, dict[str, float]]:
    """An evaluation's `flat_grain` row: the outputs' grain where the reference images are flat, beside the
    baseline images' there; no row where the references have no flat area (photographs)."""
    grain = flat_area_grain(outputs, reference)
    if math.isnan(grain):
        return {}
    return {"flat_grain": {"translated": grain, "baseline": flat_area_grain(baseline, reference)}}


PAIRED_LABELS = {"l1": ("L1 to target", "lower"), "psnr": ("PSNR dB", "higher"), "ssim": ("SSIM", "higher")}


class TranslationJudge(Judge):
    """Training's quality measure of a pix2pix run: L1 and PSNR of the examples' outputs against their targets
    (held-out pairs where the run has them), beside the input's own (the baseline every output should beat)."""

    measures = "pairs"
    labels = PAIRED_LABELS
    best_key = "l1"

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor):
        self.targets = targets
        self.count = len(targets)
        baseline = shown_as(inputs, targets.shape[1])
        self.real_floor = {"l1": l1_distance(baseline, targets), "psnr": psnr(baseline, targets)}

    def judge(self, images: torch.Tensor) -> dict[str, float]:
        return {"l1": l1_distance(images, self.targets), "psnr": psnr(images, self.targets)}

    def alarms(self, quality: dict[str, float]) -> dict[str, str | None]:
        return {}

    def summary(self, quality: dict[str, float]) -> dict[str, str]:
        return {"L1": f"{quality['l1']:.3f}", "PSNR": f"{quality['psnr']:.1f}"}


class CycleJudge(Judge):
    """Training's measure of a CycleGAN run on the examples: how far A -> B -> A lands from A (and B from B), and,
    where the folders' images have one shape, the style measure (metrics/domains.py, its classifier trained once
    on the run's training images): the `style_gap` that picks the run's `best` checkpoint, since a CycleGAN's
    style peaks and then fades as G returns toward the identity (docs/translate.md)."""

    measures = "cycle"

    def __init__(self, a: torch.Tensor, b: torch.Tensor, classifier: DomainClassifier | None = None):
        self.a, self.b, self.classifier = a, b, classifier
        self.count = len(a) + len(b)
        self.channels = max(a.shape[1], b.shape[1])
        self.originals = torch.cat([shown_as(x, self.channels) for x in (a, b)])  # where the round trips should land
        self.real_floor = {"cycle_l1": 0.0}
        self.labels = {"cycle_l1": ("cycle L1", "lower")}
        self.best_key = None  # a small cycle error says nothing of how B-like the translations are
        if classifier is not None:
            real = style_scores(classifier, a, b, b, a, a, b)  # its floor column: the real images of each folder
            self.real_floor |= {key: real[key]["floor"] for key in ("a2b_called_b", "b2a_called_a")}
            self.real_floor["style_gap"] = 0.0
            self.labels |= {"a2b_called_b": ("A -> B called B", "higher"), "b2a_called_a": ("B -> A called A", "higher"),
                            "style_gap": ("style gap", "lower")}
            self.best_key = "style_gap"

    def outputs(self, a2b: Callable[[torch.Tensor], torch.Tensor],
                b2a: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """What `judge` takes: the examples' round trips (a2b2a, b2a2b), then their translations (a2b, b2a), in
        one tensor of the wider folder's channels."""
        a_b, b_a = a2b(self.a), b2a(self.b)
        return torch.cat([shown_as(x, self.channels) for x in (b2a(a_b), a2b(b_a), a_b, b_a)])

    def judge(self, images: torch.Tensor) -> dict[str, float]:
        a, b = len(self.a), len(self.b)
        back, (a_b, b_a) = images[:a + b], images[a + b:].split([a, b])
        quality = {"cycle_l1": l1_distance(back, self.originals)}
        if self.classifier is not None:
            scores = style_scores(self.classifier, self.a, self.b, a_b, b_a, back[:a], back[a:])
            quality |= {key: scores[key]["translated"] for key in ("a2b_called_b", "b2a_called_a")}
            quality["style_gap"] = style_gap(scores)
        return quality

    def alarms(self, quality: dict[str, float]) -> dict[str, str | None]:
        return {}

    def summary(self, quality: dict[str, float]) -> dict[str, str]:
        shown = {"cycle L1": f"{quality['cycle_l1']:.3f}"}
        if "style_gap" in quality:
            shown["style"] = f"{quality['a2b_called_b']:.2f}/{quality['b2a_called_a']:.2f}"
        return shown


def translation_session(config: TrainConfig, processes: Processes, device: torch.device):
    from ganvas.kinds import Session

    data = load_translation_data(config, device)
    translator = TranslationGAN(config, data, device, processes)

    def judge(count: int, judge_device: torch.device) -> tuple[Judge, Callable[[], torch.Tensor]]:
        if translator.cycle:
            cycle_judge = CycleJudge(*data.examples, style_classifier(data, config.seed))
            return cycle_judge, lambda: cycle_judge.outputs(translator.translate,
                                                            lambda x: translator.translate(x, "generator_b2a"))
        inputs = translator.example_inputs()
        return TranslationJudge(inputs, data.examples[1]), lambda: translator.translate(inputs)

    return Session(data.dataset, translator, data.sampler, translator.grid, judge, notes=data.notes)


# --- using a trained translator -----------------------------------------------------------------------------

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
DIRECTIONS = {"a2b": "generator_a2b", "b2a": "generator_b2a"}


def load_translator_networks(target: str | Path, device: str = "cpu") -> tuple[dict[str, nn.Module], ckpt.Checkpoint]:
    """The generators of an image-to-image checkpoint (a checkpoint folder, a run folder's latest, or RUN:NAME),
    by direction's role, each its moving average where the run kept one, in eval mode; recipes and weights checked
    (on the meta device) before anything is built for real."""
    from ganvas.sampling import build_checked

    checkpoint = ckpt.load_checkpoint(ckpt.resolve_checkpoint(target))
    if checkpoint.kind != KIND:
        raise GanvasError(f"{checkpoint.path} is a {checkpoint.kind} GAN, not an image translator: train one with "
                          f"{named('task')} (upscale, colorize, sketch, inpaint, paired or cyclegan)")
    def stored(role: str) -> str:  # a generator's moving average, where the run kept one
        return averaged_role(role) if averaged_role(role) in checkpoint.networks else role

    networks = {role: build_checked(checkpoint, stored(role), device) for role in DIRECTIONS.values()
                if role in checkpoint.networks}
    if "generator_a2b" not in networks:
        raise ckpt.CheckpointError(f"{checkpoint.path} has no generator_a2b; use another checkpoint")
    return networks, checkpoint


def read_for(path: str | Path, channels: int, background: str | None) -> torch.Tensor:
    """An image file as (1, channels, H, W) in [-1, 1], converted as training converted its images."""
    from ganvas.data.folder import image_pixels, read_image

    try:
        image = read_image(path, 2 ** 15)  # no smaller draft of a JPEG
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except Exception as err:  # Pillow raises many types on bad data
        raise DataError(f"{path} cannot be read as an image ({type(err).__name__}: {err})") from None
    return to_model_range(torch.from_numpy(image_pixels(image, MODES[channels], background).copy())[None])


def enhance_input(task: str, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """What G takes for an image given to `ganvas enhance`: upscale: the image itself enlarged x4 by bicubic
    (the output is 4 times its size); colorize: its greyscale; sketch: its edges; inpaint: the image with holes
    where `mask` (1, 1, H, W bool) is true, or where it is fully transparent; paired and cyclegan: itself."""
    if task == "upscale":
        return bicubic_upscaled(image)
    if task == "colorize":
        return greyscale(image)
    if task == "sketch":
        return edge_map(image)
    if task == "inpaint":
        if mask is None:
            _, alpha = colour_part(image)
            if alpha is None:
                raise GanvasError(f"inpainting needs to know where the holes are: give a {named('mask')} image "
                                  "(white on the holes)")
            mask = alpha <= -1
        if mask.shape[-2:] != image.shape[-2:]:
            mask = F.interpolate(mask.float(), size=image.shape[-2:], mode="nearest") > 0.5
        return with_holes(image, mask)
    return image


def read_mask(path: str | Path) -> torch.Tensor:
    """A mask image as (1, 1, H, W) bool: true where it is light (the holes to fill)."""
    return read_for(path, 1, "black") > 0


def in_batches(network: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
               batch_size: int = 64) -> torch.Tensor:
    """The network's float outputs for `images`, `batch_size` at a time (evaluation sets need not fit at once)."""
    return torch.cat([network(images[i:i + batch_size]).float() for i in range(0, len(images), batch_size)])


def evaluate_pairs(network: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, dict[str, float]]:
    """L1, PSNR and SSIM of the translations of `inputs` against `targets`, beside the inputs themselves as the
    output (the baseline: for upscaling that is bicubic interpolation), the share of pairs the translation brings
    closer than the baseline, and the grain of both where the targets are flat (left out where they have no flat
    area): the blotches L1 does not show."""
    outputs = in_batches(network, inputs)
    baseline = shown_as(inputs, targets.shape[1])
    scores = {name: {"translated": measure(outputs, targets), "baseline": measure(baseline, targets)}
              for name, measure in (("l1", l1_distance), ("psnr", psnr), ("ssim", ssim))}
    scores["pairs_closer"] = {"translated": share_closer(outputs, baseline, targets)}
    return scores | flat_grain_scores(outputs, baseline, targets)


def share_closer(outputs: torch.Tensor, baseline: torch.Tensor, targets: torch.Tensor) -> float:
    """The share of pairs whose output is nearer its target (L1) than the baseline image is: a mean L1 below the
    baseline's can hide many pairs made worse."""
    def per_pair(images: torch.Tensor) -> torch.Tensor:
        return (images.float() - targets.float()).abs().flatten(1).mean(1)
    return float((per_pair(outputs) < per_pair(baseline)).float().mean())


def evaluate_unpaired(forward: nn.Module, backward: nn.Module, sources: torch.Tensor, target_set: ImageDataset,
                      count: int) -> dict[str, dict[str, float]]:
    """Thumbnail precision and recall of the translations of `sources` against the target folder, beside the
    untranslated sources (the baseline) and other real target images (the floor), the cycle error, and the grain
    the translations add on the sources' flat areas (beside the sources' own; left out where they have none)."""
    from ganvas.metrics.pixels import MIN_COUNT, PixelJudge

    if min(count, len(sources)) < MIN_COUNT:
        raise GanvasError(f"precision, recall and coverage need at least {MIN_COUNT} images of each folder, held out "
                          f"of training: train with {named('holdout')} {MIN_COUNT} or more (and {named('n')} as many)")
    judge = PixelJudge(target_set, min(count, len(sources)))
    sources = sources[:judge.count]
    outputs = in_batches(forward, sources)
    back = in_batches(backward, outputs)
    untranslated = shown_as(sources, outputs.shape[1])
    translated, untouched = judge.judge(outputs), judge.judge(untranslated)
    floor = judge.real_floor
    scores = {name: {"translated": translated[name], "baseline": untouched[name], "floor": floor[name]}
              for name in ("precision", "recall")}
    scores["cycle_l1"] = {"translated": l1_distance(back, sources)}
    return scores | flat_grain_scores(outputs, untranslated, sources)


def style_classifier(data: TranslationData, seed: int = 0) -> DomainClassifier | None:
    """The style measure's classifier of A vs B (metrics/domains.py), trained on the run's training images; None
    where the folders' images differ in shape (it compares images of one shape)."""
    a, b = data.sampler.a.images.cpu(), data.sampler.b.images.cpu()
    return DomainClassifier(a, b, seed) if a.shape[1:] == b.shape[1:] else None


def evaluate_styles(a2b: Callable[[torch.Tensor], torch.Tensor], b2a: Callable[[torch.Tensor], torch.Tensor],
                    data: TranslationData, count: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """A CycleGAN's style measure (metrics/domains.py): a classifier of A vs B trained on the run's training images
    judges the translations of the examples (held-out ones where the run has them), beside the untranslated images
    and the real images of the target folder, and the translations translated back (the control)."""
    a, b = (x[:count] for x in data.examples)
    if (classifier := style_classifier(data, seed)) is None:
        return {}
    a_b, b_a = in_batches(a2b, a), in_batches(b2a, b)
    return style_scores(classifier, a, b, a_b, b_a, in_batches(b2a, a_b), in_batches(a2b, b_a))

