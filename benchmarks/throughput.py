"""Training throughput of the seed recipe: ganvas's step against a plain PyTorch loop, measured in the same run.

    python benchmarks/throughput.py                  # ratio ganvas / plain at batch 128 on the CPU
    python benchmarks/throughput.py --ablate         # also each speed-up on its own (docs/performance.md)

Both sides run the seed preset's procedure, the tutorial's Keras code: per step, a batch from G,
an Adam update of D on the real batch, another on the generated batch, then one of G through D;
Keras' Adam (epsilon 1e-7 added to the uncorrected sqrt(v)). The plain loop is the textbook PyTorch
port of it: the same networks, initial weights, optimizer settings and batches, with G's graph kept
in the D step and D's weight gradients computed (and thrown away) in the G step. --ablate adds
`d_step joint` (one D update on real and generated together, what the other presets do) for scale.
Variants run interleaved, several rounds, and the median of each is reported, so a noisy neighbour
hurts both sides alike.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from ganvas.config import preset_config
from ganvas.gan import GAN
from ganvas.trainer import BatchSampler
from timing import interleaved, print_against  # benchmarks/timing.py: a script's folder is on sys.path

IMAGE_SHAPE = (1, 28, 28)


def keras_eps_(optimizer: torch.optim.Adam, updates: int) -> None:
    """Keras' epsilon placement in torch.optim.Adam for its next update (as ganvas.gan.keras_adam_eps)."""
    for group in optimizer.param_groups:
        group["eps"] = 1e-7 / math.sqrt(1 - group["betas"][1] ** (updates + 1))


def plain_step(gan: GAN, real: torch.Tensor) -> torch.Tensor:
    batch = real.shape[0]
    G, D, opt_g, opt_d = gan.generator, gan.discriminator, gan.opt_g, gan.opt_d
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    fake = G(gan.latents(batch))
    d_losses = []
    for images, target in ((real, ones), (fake.detach(), zeros)):  # discriminator.train_on_batch, twice
        opt_d.zero_grad()
        d_loss = F.binary_cross_entropy_with_logits(D(images), target)
        d_loss.backward()
        keras_eps_(opt_d, gan.plain_updates["d"])
        opt_d.step()
        gan.plain_updates["d"] += 1
        d_losses.append(d_loss.detach())
    opt_g.zero_grad()
    g_loss = F.binary_cross_entropy_with_logits(D(G(gan.latents(batch))), ones)
    g_loss.backward()
    keras_eps_(opt_g, gan.plain_updates["g"])
    opt_g.step()
    gan.plain_updates["g"] += 1
    return torch.stack([(d_losses[0] + d_losses[1]) / 2, g_loss.detach()])


def make_gan(fused: bool, **changes) -> GAN:
    config = preset_config("seed", **changes)
    gan = GAN(config, IMAGE_SHAPE, torch.device("cpu"))
    gan.plain_updates = {"d": 0, "g": 0}
    if not fused:
        options = {"lr": config.lr_d, "betas": (config.beta1, config.beta2), "eps": config.adam_eps}
        gan.opt_g = torch.optim.Adam(gan.generator.parameters(), **options)
        gan.opt_d = torch.optim.Adam(gan.discriminator.parameters(), **options)
    return gan


def ganvas_step(gan: GAN, real: torch.Tensor) -> torch.Tensor:
    stats = gan.train_step(0, lambda i: (real, None))
    return torch.stack(list(stats.values()))  # as the trainer reads them: one tensor, one device sync


VARIANTS = {
    # name: (step function, fused Adam, options changed from the seed preset)
    "plain": (plain_step, False, {}),
    "ganvas": (ganvas_step, True, {}),
    "ganvas, unfused Adam": (ganvas_step, False, {}),
    "plain + fused Adam": (plain_step, True, {}),
    "ganvas, d_step joint": (ganvas_step, True, {"d_step": "joint"}),
}


def images_per_second(variant: str, sampler: BatchSampler, steps: int, warmup: int = 10) -> float:
    step_fn, fused, changes = VARIANTS[variant]
    gan = make_gan(fused, **changes)
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        real, _ = sampler.batch(step)
        step_fn(gan, real).tolist()  # the trainer reads the losses every step
    return steps * sampler.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved measurements per variant")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--ablate", action="store_true", help="also measure each speed-up on its own")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = torch.rand(10_000, *IMAGE_SHAPE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    sampler = BatchSampler(images, None, args.batch_size, seed=0)
    variants = list(VARIANTS) if args.ablate else ["plain", "ganvas"]
    results = interleaved(variants, args.rounds, lambda name: images_per_second(name, sampler, args.steps))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} steps x {args.rounds} rounds (median, min-max)")
    print_against(results, "plain", "plain")


if __name__ == "__main__":
    main()
