"""A GAN being trained: its networks, optimizers, objective, training strategy and noise source.

`GAN.train_step` is one alternating update: `n_critic` discriminator steps, then one
generator step through the frozen discriminator. A discriminator step is one update on
the real and the generated batch together (`d_step joint`), or an update on the real
batch followed by one on the generated batch (`d_step separate`, the tutorial's two
Keras `train_on_batch` calls). Everything it knows about a model
or a loss comes from the registries and the run's TrainConfig. It is the noise-to-image
kind of GAN: its networks are a generator and a discriminator (and an EMA of the
generator), saved by those role names.

Everything random it draws comes from generators it owns (weight initialisation from a
forked copy of torch's RNG, seeded by the config), so it never changes torch's global
RNG and two GANs in one process do not disturb each other's draws.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch
from torch import nn

from ganvas import checkpoint as ckpt
from ganvas.augment import augment, parse_policy
from ganvas.batches import Batch
from ganvas.config import TrainConfig
from ganvas.devices import has_fast_bf16
from ganvas.errors import GanvasError, named
from ganvas.distributed import Processes
from ganvas.losses import get_objective
from ganvas.models import build_network, discriminate, generate, generate_in_batches, get_model, takes_option
from ganvas.noise import SampleNoise
from ganvas.regularizers import (clip_weights_, gradient_penalty, instance_noise, lazy_r1_weight, lecam_penalty,
                                 mode_seeking_penalty, r1_penalty, update_ema_, warmed_up_decay)

# ADA: the images over which the augmentation probability may move all the way from 0 to 1. Karras et al. use 500k
# for runs of millions of images; a 10-minute CPU run sees about 300k, so it moves five times faster here.
ADA_IMAGES = 100_000
# LeCam's moving averages of D's scores: the paper's decay.
LECAM_DECAY = 0.99
KIND = ckpt.NOISE_TO_IMAGE


def network_recipes(config: TrainConfig, image_shape: tuple[int, int, int],
                    num_classes: int | None) -> dict[str, dict[str, Any]]:
    """The JSON a checkpoint keeps for each network role, so that sampling can rebuild the generator with no
    training code (models.build_network)."""
    shared: dict[str, Any] = {"image_shape": list(image_shape)}
    if config.width is not None:
        shared["width"] = config.width
    if config.self_condition and not get_model(config.model).conditional:
        raise GanvasError(f"{named('self_condition')} trains a class-conditional model on the cluster labels: "
                          f"choose one (e.g. {named('model', 'dcgan-cond')}), not {config.model!r}")
    if config.minibatch_std and not takes_option(config.model, "discriminator", "minibatch_std"):
        raise GanvasError(f"model {config.model!r} has no minibatch standard deviation layer: drop "
                          f"{named('minibatch_std')}, or use {named('model', 'dcgan')} or {named('model', 'resnet')}")
    if get_model(config.model).conditional:
        if num_classes is None:
            raise GanvasError(f"model {config.model!r} is class-conditional, but {config.dataset} has no labels; "
                              "choose an unconditional model")
        shared["num_classes"] = num_classes
    generator = {"model": config.model, "part": "generator", "args": {**shared, "z_dim": config.z_dim}}
    d_width = {"width": config.d_width} if config.d_width is not None else {}
    discriminator = {"model": config.model, "part": "discriminator",
                     "args": {**shared, **d_width, **({"spectral_norm": True} if config.spectral_norm else {}),
                              **({"minibatch_std": True} if config.minibatch_std else {})}}
    # The init option reaches the networks that offer it (the others keep their own initialisation), and only
    # when it is not the default, so recipes of the model's own init stay as they always were.
    for recipe in (generator, discriminator):
        if config.init != "default" and takes_option(config.model, recipe["part"], "init"):
            recipe["args"]["init"] = config.init
    recipes = {"generator": generator, "discriminator": discriminator}
    if config.ema_decay:
        recipes["generator_ema"] = generator
    return recipes


def make_optimizer(module: nn.Module, lr: float, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    # The fused kernel updates all parameters in one pass: measurably faster on the CPU (docs/performance.md).
    options = {"lr": lr, "betas": (config.beta1, config.beta2), "eps": config.adam_eps}
    try:
        return torch.optim.Adam(module.parameters(), **options, fused=device.type in ("cpu", "cuda", "mps"))
    except (RuntimeError, TypeError):
        return torch.optim.Adam(module.parameters(), **options)


def keras_adam_eps(eps: float, beta2: float, update: int) -> float:
    """The epsilon that makes torch.optim.Adam's `update`-th update (1, 2, ...) the one Keras' Adam makes.

    Keras adds epsilon to sqrt(v), PyTorch to the bias-corrected sqrt(v / (1 - beta2^t)); with
    eps / sqrt(1 - beta2^t) in PyTorch the two are the same update. That is 32x epsilon at the first
    update (beta2 0.999), 1.26x at the 1000th, and 1.0x from about 10,000 on.
    """
    return eps / math.sqrt(1 - beta2 ** update)


def optimizer_updates(optimizer: torch.optim.Optimizer) -> int:
    """How many updates an Adam optimizer has made (its `step` count; 0 before the first)."""
    for state in optimizer.state.values():
        if "step" in state:
            return int(state["step"])
    return 0


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class GAN:
    def __init__(self, config: TrainConfig, image_shape: tuple[int, int, int], device: torch.device,
                 num_classes: int | None = None, processes: Processes = Processes()):
        self.config = config
        self.device = device
        # On several processes each trains on its shard of every batch, and gradients are averaged over them.
        self.processes = processes
        self.recipes = network_recipes(config, image_shape, num_classes)
        with torch.random.fork_rng(devices=[]):  # networks are built on the CPU, then moved
            torch.manual_seed(config.seed)  # weight initialisation
            self.generator = build_network(self.recipes["generator"]).to(device)
            self.discriminator = build_network(self.recipes["discriminator"]).to(device)
        if processes.distributed and device.type == "cuda":
            # Batch statistics over the global batch, as one process computes them. There is no CPU kernel for
            # this: on CPUs each process normalises over its own shard (docs/distributed.md).
            self.generator = nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
            self.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(self.discriminator)
        # Batch norm couples the samples of a batch: real and fake then need separate D passes, and
        # per-sample gradient penalties lose their meaning.
        self.separate_d_passes = has_batch_norm(self.discriminator)
        if self.separate_d_passes and (config.gp_weight or config.r1_gamma):
            raise GanvasError(f"gradient penalties need a discriminator without batch norm; {config.model}'s has it "
                              f"(use {named('spectral_norm')}, which replaces it, or another model)")
        if config.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.generator_ema = copy.deepcopy(self.generator).eval() if config.ema_decay else None
        if config.compile:  # in place, so parameter names and checkpoints stay as they are; after the EMA's copy
            self.generator.compile()
            self.discriminator.compile()
        self.opt_g = make_optimizer(self.generator, config.lr_g, config, device)
        self.opt_d = make_optimizer(self.discriminator, config.lr_d, config, device)
        self._updates = {role: 0 for role in self.optimizers()}  # each optimizer's update count, for keras epsilon
        self.objective = get_objective(config.loss, real_label=config.real_label)
        if config.d_step == "separate" and not self.objective.separable:
            raise GanvasError(f"{named('loss', config.loss)} pairs each real image with a generated one in D's loss, "
                              f"which an update on either batch alone cannot have: use {named('d_step', 'joint')}")
        self.augment_policy = parse_policy(config.augment)
        # ADA's probability of each augmentation: a tensor on the device, adapted there with no sync, and saved.
        self.augment_p = torch.zeros((), device=device) if config.ada_target else None
        # LeCam's moving averages of D's mean score on (real, generated) images, saved like p.
        self.lecam_averages = torch.zeros(2, device=device) if config.lecam_weight else None
        self.num_classes = self.recipes["generator"]["args"].get("num_classes")
        self.noise = torch.Generator(device=device).manual_seed(config.seed + 1)
        # Every per-sample draw is the one a 1-process run makes for that sample (noise.SampleNoise).
        self.draws = SampleNoise(self.noise, processes.rank, processes.world_size)
        self.bf16 = config.precision == "bf16" or config.precision == "auto" and has_fast_bf16(device)

    def latents(self, count: int) -> torch.Tensor:
        return self.draws.randn((count, self.config.z_dim), device=self.device)

    def random_labels(self, count: int) -> torch.Tensor | None:
        if self.num_classes is None:
            return None
        return self.draws.randint(0, self.num_classes, (count,), device=self.device)

    def d_view(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees: images after DiffAugment and instance noise, when the run uses them (channels-last with
        that option)."""
        if self.config.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        if self.augment_policy:
            images = augment(images, self.augment_policy, self.draws, self.augment_p)
        if self.config.instance_noise:
            images = instance_noise(images, self.config.instance_noise, self.draws)
        return images

    def d_logits(self, real: torch.Tensor, real_labels: torch.Tensor | None, fake: torch.Tensor,
                 fake_labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        # Logits in float32 whatever the precision of the network, so losses are computed safely.
        if self.separate_d_passes:
            return (discriminate(self.discriminator, real, real_labels).float(),
                    discriminate(self.discriminator, fake, fake_labels).float())
        # One D pass over real and fake together: larger matrix multiplies, one call instead of two.
        labels = None if fake_labels is None else torch.cat([real_labels, fake_labels])
        logits = discriminate(self.discriminator, torch.cat([real, fake]), labels).float()
        return logits[:len(real)], logits[len(real):]

    def train_step(self, step: int, next_batch: Callable[[int], Batch]) -> dict[str, torch.Tensor]:
        """n_critic D updates, then one G update. Returns the step's statistics as 0-d tensors, to be read together
        (one device sync): d_loss, g_loss and d_accuracy, each D term averaged over the n_critic updates, and every
        other loss term the run uses (gradient_penalty, r1_penalty on the steps that apply it, d_auxiliary_loss,
        mode_seeking_penalty).

        `next_batch(i)` gives the i-th real batch of this step.
        """
        d_stats: dict[str, list[torch.Tensor]] = {}
        for i in range(self.config.n_critic):
            real, labels = next_batch(i)
            with self._autocast():
                for name, value in self._discriminator_step(step, real, labels).items():
                    d_stats.setdefault(name, []).append(value)
        with self._autocast():
            g_stats = self._generator_step(real, labels)
        if self.generator_ema is not None:
            update_ema_(self.generator_ema, self.generator, warmed_up_decay(self.config.ema_decay, step))
        stats = {name: torch.stack(values).mean() for name, values in d_stats.items()}
        if self.augment_p is not None:
            self._adapt_augmentation(stats["real_sign"], real.shape[0])
            stats["augment_p"] = self.augment_p.clone()
        return {"d_loss": stats.pop("d_loss"), "g_loss": g_stats.pop("g_loss"), "d_accuracy": stats.pop("d_accuracy"),
                **stats, **g_stats}

    def _adapt_augmentation(self, real_sign: torch.Tensor, shard_size: int) -> None:
        """ADA's update: r_t = E[sign(D(real))] over the whole batch (the mean over processes, so all agree); p
        rises by batch / ADA_IMAGES when r_t is above the target, falls when below, and stays in [0, 1]."""
        r_t = self.processes.mean(real_sign)
        rate = shard_size * self.processes.world_size / ADA_IMAGES
        self.augment_p = (self.augment_p + torch.sign(r_t - self.config.ada_target) * rate).clamp(0, 1)

    def _autocast(self) -> torch.autocast:
        """bf16 mixed precision (--precision bf16): matrix multiplies and convolutions in bfloat16, weights,
        optimizer and losses in float32. Needs no loss scaling, unlike float16."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _discriminator_step(self, step: int, real: torch.Tensor,
                            labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        config, batch = self.config, real.shape[0]
        fake_labels = self.random_labels(batch)
        with torch.no_grad():  # D's step needs G's images, not G's gradients
            fake = generate(self.generator, self.latents(batch), fake_labels)
        real, fake = self.d_view(real), self.d_view(fake)
        if config.d_step == "separate":
            return self._separate_discriminator_updates(step, real, labels, fake, fake_labels)
        real_logits, fake_logits = self.d_logits(real, labels, fake, fake_labels)
        stats = {"d_loss": self.objective.discriminator_loss(real_logits, fake_logits), **self._auxiliary_term(real),
                 **self._lecam_term(real_logits, fake_logits)}
        if config.gp_weight:
            stats["gradient_penalty"] = gradient_penalty(self.discriminator, real, fake, self.draws, labels)
        stats.update(self._r1_term(step, real, labels))
        self._update_discriminator(stats)
        with torch.no_grad():
            stats["d_accuracy"] = self.objective.accuracy(real_logits, fake_logits)
            stats.update(self._overfitting_term(real_logits))
        return {name: value.detach().float() for name, value in stats.items()}

    def _overfitting_term(self, real_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """ADA's overfitting signal, the mean side of the boundary D puts (augmented) real images on, on runs that
        adapt."""
        return {"real_sign": self.objective.real_sign(real_logits)} if self.augment_p is not None else {}

    def _separate_discriminator_updates(self, step: int, real: torch.Tensor, labels: torch.Tensor | None,
                                        fake: torch.Tensor, fake_labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The tutorial's two `train_on_batch` calls: an update of D on the real batch alone (the objective's real
        term, plus what is taken on real images only: a D's auxiliary loss, R1), then an update on the generated
        batch alone (the objective's generated term, plus WGAN-GP's penalty, which needs both batches), by the D
        the first update left. d_loss is the mean of the two updates' objective terms, as the tutorial logs it;
        each logit counts for d_accuracy as D saw it before the update it belongs to."""
        real_logits = discriminate(self.discriminator, real, labels).float()
        real_stats = {"d_loss": self.objective.real_loss(real_logits), **self._auxiliary_term(real),
                      **self._r1_term(step, real, labels), **self._lecam_term(real_logits, None)}
        self._update_discriminator(real_stats)
        fake_logits = discriminate(self.discriminator, fake, fake_labels).float()
        fake_stats = {"d_loss": self.objective.fake_loss(fake_logits), **self._lecam_term(None, fake_logits)}
        if self.config.gp_weight:
            fake_stats["gradient_penalty"] = gradient_penalty(self.discriminator, real, fake, self.draws, labels)
        self._update_discriminator(fake_stats)
        stats = {**real_stats, **fake_stats, "d_loss": (real_stats["d_loss"] + fake_stats["d_loss"]) / 2}
        with torch.no_grad():
            stats["d_accuracy"] = self.objective.accuracy(real_logits, fake_logits)
            stats.update(self._overfitting_term(real_logits))
        return {name: value.detach().float() for name, value in stats.items()}

    def _auxiliary_term(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """A D's own self-supervised loss on the real images (e.g. reconstructing them), which trains with it."""
        auxiliary = getattr(self.discriminator, "auxiliary_loss", None)
        return {"d_auxiliary_loss": auxiliary(real)} if callable(auxiliary) else {}

    def _lecam_term(self, real_logits: torch.Tensor | None,
                    fake_logits: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """LeCam's penalty on the scores given (real, generated or both), after moving their averages to this
        batch (its mean over processes, so all agree), on runs that use it."""
        if self.lecam_averages is None:
            return {}
        given = [(side, logits) for side, logits in enumerate((real_logits, fake_logits)) if logits is not None]
        batch_means = self.processes.mean(torch.stack([logits.detach().float().mean() for _, logits in given]))
        averages = self.lecam_averages.clone()
        for (side, _), batch_mean in zip(given, batch_means):
            averages[side] = LECAM_DECAY * averages[side] + (1 - LECAM_DECAY) * batch_mean
        self.lecam_averages = averages
        return {"lecam_penalty": lecam_penalty(real_logits, fake_logits, averages[0], averages[1])}

    def _r1_term(self, step: int, real: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Lazy R1 on the real images, on the steps that apply it."""
        if self.config.r1_gamma and step % self.config.r1_every == 0:
            return {"r1_penalty": r1_penalty(self.discriminator, real, labels)}
        return {}

    def _update_discriminator(self, stats: dict[str, torch.Tensor]) -> None:
        """One optimizer update of D on the objective's d_loss plus the weighted terms in `stats`."""
        config = self.config
        # (statistic name, weight): what is added to D's loss beside the objective.
        weights = {"d_auxiliary_loss": 1.0, "gradient_penalty": config.gp_weight,
                   "r1_penalty": lazy_r1_weight(config.r1_gamma, config.r1_every), "lecam_penalty": config.lecam_weight}
        total = stats["d_loss"]
        for name, weight in weights.items():
            if name in stats:
                total = total + weight * stats[name]
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self._optimizer_step("discriminator")
        if config.clip_weights:
            clip_weights_(self.discriminator, config.clip_weights)

    def _optimizer_step(self, role: str) -> None:
        optimizer = self.optimizers()[role]
        self.processes.average_gradients([self.networks()[role]])
        self._updates[role] += 1
        if self.config.adam_eps_style == "keras":
            eps = keras_adam_eps(self.config.adam_eps, self.config.beta2, self._updates[role])
            for group in optimizer.param_groups:
                group["eps"] = eps
        optimizer.step()
        if self.bf16:
            # Autocast keeps its bf16 copy of each weight until the autocast region ends, whatever happens to the
            # weight: without this, a forward after an update in the same region (d_step separate's update on the
            # generated batch) would run the weights from before the update.
            torch.clear_autocast_cache()

    def _generator_step(self, real: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One update of G: the objective's g_loss, plus the mode-seeking term on runs that use it."""
        # Freezing D skips its weight gradients; G still gets gradients through D's activations.
        self.discriminator.requires_grad_(False)
        real_logits = (discriminate(self.discriminator, self.d_view(real), labels).float()
                       if self.objective.generator_needs_real else None)
        fake_labels = self.random_labels(real.shape[0])
        latents = self.latents(real.shape[0])
        fake = generate(self.generator, latents, fake_labels)
        fake_logits = discriminate(self.discriminator, self.d_view(fake), fake_labels).float()
        stats = {"g_loss": self.objective.generator_loss(real_logits, fake_logits)}
        total = stats["g_loss"]
        if self.config.mode_seeking_weight:
            stats["mode_seeking_penalty"] = mode_seeking_penalty(fake, latents)
            total = total + self.config.mode_seeking_weight * stats["mode_seeking_penalty"]
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self._optimizer_step("generator")
        self.discriminator.requires_grad_(True)
        return {name: value.detach() for name, value in stats.items()}

    def weights_are_finite(self) -> bool:
        return all(torch.isfinite(p).all() for net in self.networks().values() for p in net.parameters())

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 500) -> torch.Tensor:
        """Images on the CPU from the generator that samples are meant to come from (the EMA one if any)."""
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        was_training = generator.training
        generator.eval()
        images = generate_in_batches(generator, z, labels, batch_size)
        generator.train(was_training)
        return images

    def networks(self) -> dict[str, nn.Module]:
        networks = {"generator": self.generator, "discriminator": self.discriminator}
        if self.generator_ema is not None:
            networks["generator_ema"] = self.generator_ema
        return networks

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def training_state(self) -> ckpt.TrainingState:
        buffers = {}
        if self.augment_p is not None:
            buffers["augment_p"] = self.augment_p.detach().cpu()
        if self.lecam_averages is not None:
            buffers["lecam_averages"] = self.lecam_averages.detach().cpu()
        return ckpt.TrainingState({role: opt.state_dict() for role, opt in self.optimizers().items()},
                                  [{"noise": self.noise.get_state()}], buffers)

    def save(self, run_dir, step: int, name: str | None = None, quality: dict | None = None):
        return ckpt.save_checkpoint(run_dir, step, KIND, self.networks(), self.recipes, self.config.to_dict(),
                                    self.training_state(), name=name, quality=quality,
                                    processes=self.processes.world_size)

    def restore(self, checkpoint: ckpt.Checkpoint) -> None:
        ckpt.require_kind(checkpoint, KIND)
        ours = {role: self.recipes[role] for role in self.networks()}
        if checkpoint.networks != ours:
            raise GanvasError(f"checkpoint {checkpoint.path} holds other networks ({checkpoint.kind}: "
                              f"{checkpoint.networks}) than this run's config builds ({ours}); "
                              "resume with the run's own config")
        for role, module in self.networks().items():
            ckpt.load_weights_into(module, checkpoint.weights(role), role, checkpoint.path)
        state = checkpoint.training_state()
        ckpt.check_training_state(state, self.optimizers(), [{"noise": self.noise}], checkpoint.path)
        try:
            for role, optimizer in self.optimizers().items():
                optimizer.load_state_dict(state.optimizers[role])
                self._updates[role] = optimizer_updates(optimizer)
            self.noise.set_state(state.rng[0]["noise"])
            if self.augment_p is not None:
                self.augment_p = _probability(state.buffers.get("augment_p"), checkpoint.path).to(self.device)
            if self.lecam_averages is not None:
                self.lecam_averages = _score_averages(state.buffers.get("lecam_averages"),
                                                      checkpoint.path).to(self.device)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as err:
            raise ckpt.CheckpointError(f"{checkpoint.path} has an unusable training state ({type(err).__name__}: "
                                       f"{err}); resume from an earlier checkpoint") from None


def _probability(value: Any, source) -> torch.Tensor:
    """ADA's saved augmentation probability: a float 0-d tensor in [0, 1], or the checkpoint is refused."""
    if not (isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point()
            and 0 <= float(value) <= 1):
        raise ckpt.CheckpointError(f"{source} has no usable augmentation probability for this run's "
                                   f"{named('ada_target')} (a number in [0, 1]); resume from an earlier checkpoint")
    return value.float()


def _score_averages(value: Any, source) -> torch.Tensor:
    """LeCam's saved moving averages: a float tensor of 2 finite numbers, or the checkpoint is refused."""
    if not (isinstance(value, torch.Tensor) and value.shape == (2,) and value.is_floating_point()
            and bool(torch.isfinite(value).all())):
        raise ckpt.CheckpointError(f"{source} has no usable moving averages of D's scores for this run's "
                                   f"{named('lecam_weight')}; resume from an earlier checkpoint")
    return value.float()
