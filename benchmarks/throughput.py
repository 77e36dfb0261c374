"""Training throughput of the seed recipe: ganvas's step against a plain PyTorch loop, measured in the same run.

    python benchmarks/throughput.py                  # ratio ganvas / plain at batch 128 on the CPU
    python benchmarks/throughput.py --ablate         # also each speed-up on its own (docs/performance.md)
    python benchmarks/throughput.py --precision bf16 --profile   # bf16 autocast, and where the step's time goes

Both sides run the seed preset's procedure, the tutorial's Keras code: per step, a batch from G,
an Adam update of D on the real batch, another on the generated batch, then one of G through D;
Keras' Adam (epsilon 1e-7 added to the uncorrected sqrt(v)). The plain loop is the textbook PyTorch
port of it: the same networks, initial weights, optimizer settings and batches, with G's graph kept
in the D step and D's weight gradients computed (and thrown away) in the G step. --ablate adds
`d_step joint` (one D update on real and generated together, what the other presets do) for scale.
Variants run interleaved, several rounds, and the median of each is reported, so a noisy neighbour
hurts both sides alike.

The `matmuls alone` line is the step's own matrix multiplies (their shapes recorded from one ganvas step by
torch.profiler), replayed on contiguous tensors of the step's precision with nothing else: the speed limit of
the step at these shapes on this machine. --profile splits the ganvas step's time into matrix multiplies,
precision casts, the optimizer and everything else (small kernels, autograd and Python).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict
from typing import Callable

import torch
import torch.nn.functional as F

from ganvas.config import preset_config
from ganvas.gan import GAN
from ganvas.batches import BatchSampler
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
    # The textbook bf16 recipe: each forward under autocast, losses in float32.
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=gan.bf16)  # noqa: E731
    with autocast():
        fake = G(gan.latents(batch))
    d_losses = []
    for images, target in ((real, ones), (fake.detach(), zeros)):  # discriminator.train_on_batch, twice
        opt_d.zero_grad()
        with autocast():
            logits = D(images).float()
        d_loss = F.binary_cross_entropy_with_logits(logits, target)
        d_loss.backward()
        keras_eps_(opt_d, gan.plain_updates["d"])
        opt_d.step()
        gan.plain_updates["d"] += 1
        d_losses.append(d_loss.detach())
    opt_g.zero_grad()
    with autocast():
        logits = D(G(gan.latents(batch))).float()
    g_loss = F.binary_cross_entropy_with_logits(logits, ones)
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


MATMULS = ("aten::mm", "aten::addmm")
CASTS = ("aten::copy_",)  # autocast's casts and their backward (ToCopyBackward0) end in copy_
OPTIMIZER = ("aten::_fused_adam_", "Optimizer.step#Adam.step", "Optimizer.zero_grad#Adam.zero_grad")


def profiled_step(precision: str, real: torch.Tensor, steps: int = 1, record_shapes: bool = False):
    gan = make_gan(True, precision=precision)
    for _ in range(3):
        ganvas_step(gan, real)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                record_shapes=record_shapes) as profile:
        for _ in range(steps):
            ganvas_step(gan, real).tolist()
    return profile


def step_matmuls(precision: str, real: torch.Tensor) -> list[tuple[str, list[list[int]]]]:
    """(op, input shapes) of every matrix multiply in one ganvas step, in order."""
    return [(event.name, event.input_shapes) for event in profiled_step(precision, real, record_shapes=True).events()
            if event.name in MATMULS]


def replay_matmuls(matmuls: list[tuple[str, list[list[int]]]], dtype: torch.dtype) -> Callable[[], None]:
    """A function that runs the given matrix multiplies on contiguous random tensors, nothing else."""
    calls = []
    for name, shapes in matmuls:
        operands = [torch.randn(shape, dtype=dtype) for shape in shapes if shape]
        calls.append((torch.addmm if name == "aten::addmm" else torch.mm, operands))
    return lambda: [op(*operands) for op, operands in calls]


def time_breakdown(precision: str, real: torch.Tensor, steps: int) -> dict[str, float]:
    """Share of the ganvas step's time in matrix multiplies, casts, the optimizer and everything else."""
    totals: dict[str, float] = defaultdict(float)
    averages = profiled_step(precision, real, steps).key_averages()
    for event in averages:
        part = ("matrix multiplies" if event.key in MATMULS else "precision casts" if event.key in CASTS
                else "optimizer" if event.key in OPTIMIZER else "everything else")
        totals[part] += event.self_cpu_time_total
    whole = sum(totals.values())
    return {part: time / whole for part, time in sorted(totals.items(), key=lambda item: -item[1])}


def images_per_second(variant: str, sampler: BatchSampler, steps: int, precision: str, warmup: int = 10) -> float:
    if variant == "matmuls alone":
        replay = replay_matmuls(step_matmuls(precision, sampler.batch(0)[0]),
                                torch.bfloat16 if precision == "bf16" else torch.float32)
        for _ in range(warmup):
            replay()
        started = time.perf_counter()
        for _ in range(steps):
            replay()
        return steps * sampler.batch_size / (time.perf_counter() - started)
    step_fn, fused, changes = VARIANTS[variant]
    gan = make_gan(fused, precision=precision, **changes)
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
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: both sides under bfloat16 autocast (ganvas's --precision bf16)")
    parser.add_argument("--profile", action="store_true", help="also split the ganvas step's time by kind of work")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = torch.rand(10_000, *IMAGE_SHAPE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    sampler = BatchSampler(images, None, args.batch_size, seed=0)
    variants = [*(VARIANTS if args.ablate else ["plain", "ganvas"]), "matmuls alone"]
    results = interleaved(variants, args.rounds,
                          lambda name: images_per_second(name, sampler, args.steps, args.precision))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.precision}, "
          f"{args.steps} steps x {args.rounds} rounds (median, min-max)")
    print_against(results, "plain", "plain")
    limit = statistics.median(results["matmuls alone"])
    print(f"  ganvas runs at {statistics.median(results['ganvas']) / limit:.2f}x the speed of its matrix multiplies alone")
    if args.profile:
        print(f"where the ganvas step's time goes ({args.steps} profiled steps):")
        for part, share in time_breakdown(args.precision, sampler.batch(0)[0], args.steps).items():
            print(f"  {part:<18} {share:6.1%}")


if __name__ == "__main__":
    main()
