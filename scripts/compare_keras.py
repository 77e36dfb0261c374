"""The `seed` preset against the tutorial's own Keras code: the same data and steps, several seeds each side.

TensorFlow is not a ganvas dependency. Put it and ganvas in one Python of their own, e.g.:

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu tf-keras        # tf-keras: Keras 2, the tutorial's Keras
    /tmp/tfvenv/bin/pip install torch==2.13.0 numpy scipy pyyaml safetensors pillow tqdm
    /tmp/tfvenv/bin/pip install --no-deps -e .                 # this checkout
    /tmp/tfvenv/bin/python scripts/compare_keras.py --data-dir ../shared/data/mnist --split test \\
        --steps 3000 --seeds 0,1,2 --lockstep 20

Each seed trains the tutorial's Keras code and the `seed` preset's `GAN.train_step` (what `ganvas train
--preset seed` runs) for --steps steps on the same real batches (ganvas's per-epoch shuffle of the
split), then scores --eval-images samples of each generator as `ganvas evaluate` does (the MNIST
evaluator, beside the real-data floor). It prints D's and G's losses and D's accuracy, averaged over
windows of --log-every steps, each side's mean and min-max over the seeds, then the scores, and
whether the preset falls within the Keras code's spread.

--lockstep N first starts both from the same weights (ganvas's, copied into the Keras layers) and feeds
them the same batches and latents for N steps: if the procedures are the same, their weights differ by
float rounding alone. The same is measured for ganvas configurations that differ from the preset in one
option, to show what each option changes.

--keras keras3 runs the tutorial's code under Keras 3 instead (`pip install tensorflow-cpu` alone gives
it). There, `discriminator.trainable = False`, set after compiling D to freeze it inside the combined
model, freezes it everywhere: the tutorial's `discriminator.train_on_batch` then updates nothing, D is
never trained, and the script says so. tf-keras keeps Keras 2's meaning (the trainable state at compile
time holds for that model's train_on_batch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import torch

from ganvas.config import preset_config
from ganvas.data import load_dataset, to_model_range
from ganvas.gan import GAN
from ganvas.metrics.judges import judge_for
from ganvas.sampling import generate
from ganvas.trainer import BatchSampler

Z_DIM, BATCH = 100, 128
METRICS = ["fid", "precision", "recall", "class_coverage", "class_kl", "inception_score"]
# ganvas configurations for --lockstep: the preset, and the preset with one option changed
LOCKSTEP_VARIANTS = {
    "seed preset": {},
    "d_step joint": {"d_step": "joint"},
    "adam_eps_style pytorch": {"adam_eps_style": "pytorch"},
    "adam_eps 1e-8, style pytorch (PyTorch's Adam)": {"adam_eps": 1e-8, "adam_eps_style": "pytorch"},
}


def import_keras(which: str):
    if which == "tf-keras":
        try:
            import tf_keras as keras
        except ImportError:
            sys.exit("tf-keras is not installed: pip install tensorflow-cpu tf-keras (see this script's docstring)")
    else:
        try:
            import keras
        except ImportError:
            sys.exit("Keras 3 is not installed: pip install tensorflow-cpu")
        if not keras.__version__.startswith("3"):
            sys.exit(f"--keras keras3 needs Keras 3, found {keras.__version__}")
    import tensorflow as tf

    return keras, tf


class TutorialGAN:
    """The tutorial's Keras code: the two MLPs, D compiled, then frozen inside the combined model."""

    def __init__(self, keras):
        from_layers = keras.layers
        self.keras = keras
        self.generator = keras.Sequential([
            keras.Input(shape=(Z_DIM,)),
            from_layers.Dense(256, activation="relu"),
            from_layers.Dense(512, activation="relu"),
            from_layers.Dense(1024, activation="relu"),
            from_layers.Dense(784, activation="tanh"),
            from_layers.Reshape((28, 28, 1)),
        ])
        self.discriminator = keras.Sequential([
            keras.Input(shape=(28, 28, 1)),
            from_layers.Flatten(),
            from_layers.Dense(1024, activation="relu"),
            from_layers.Dense(512, activation="relu"),
            from_layers.Dense(256, activation="relu"),
            from_layers.Dense(1, activation="sigmoid"),
        ])
        self.discriminator.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.0002, 0.5),
                                   metrics=["accuracy"])
        self.discriminator.trainable = False
        z = keras.Input(shape=(Z_DIM,))
        self.combined = keras.Model(z, self.discriminator(self.generator(z)))
        self.combined.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.0002, 0.5))
        self.ones, self.zeros = np.ones((BATCH, 1), np.float32), np.zeros((BATCH, 1), np.float32)

    def step(self, real: np.ndarray, noise_d: np.ndarray, noise_g: np.ndarray) -> dict[str, float]:
        """One step of the tutorial's loop: G's images for D, D on real then on generated, G through frozen D."""
        generated = self.generator.predict(noise_d, verbose=0)
        d_loss_real = self.discriminator.train_on_batch(real, self.ones)
        d_loss_fake = self.discriminator.train_on_batch(generated, self.zeros)
        d_loss = 0.5 * np.add(d_loss_real, d_loss_fake)
        g_loss = self.combined.train_on_batch(noise_g, self.ones)
        g_loss = g_loss[0] if isinstance(g_loss, (list, tuple, np.ndarray)) else g_loss
        return {"d_loss": float(d_loss[0]), "d_accuracy": float(d_loss[1]), "g_loss": float(g_loss)}

    def dense_layers(self, model):
        return [layer for layer in model.layers if isinstance(layer, self.keras.layers.Dense)]

    def weights(self) -> dict[str, list[np.ndarray]]:
        return {name: [w for layer in self.dense_layers(model) for w in layer.get_weights()]
                for name, model in (("generator", self.generator), ("discriminator", self.discriminator))}

    def load_torch_weights(self, gan: GAN) -> None:
        """Copy ganvas's weights into the Keras layers (a Dense kernel is the transposed nn.Linear weight)."""
        for model, net in ((self.generator, gan.generator), (self.discriminator, gan.discriminator)):
            linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
            for layer, linear in zip(self.dense_layers(model), linears, strict=True):
                layer.set_weights([linear.weight.detach().numpy().T.copy(), linear.bias.detach().numpy().copy()])

    def images(self, count: int, seed: int) -> torch.Tensor:
        noise = np.random.default_rng(10_000 + seed).normal(0, 1, (count, Z_DIM)).astype(np.float32)
        return torch.from_numpy(self.generator.predict(noise, batch_size=500, verbose=0)).permute(0, 3, 1, 2)


def torch_weights(gan: GAN) -> dict[str, list[np.ndarray]]:
    out = {}
    for name, net in (("generator", gan.generator), ("discriminator", gan.discriminator)):
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        out[name] = [w for linear in linears for w in (linear.weight.detach().numpy().T, linear.bias.detach().numpy())]
    return out


def nhwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).contiguous().numpy()


def seed_config(seed: int, **changes):
    return preset_config("seed", seed=seed, **changes)


def run_keras(keras, tf, images: torch.Tensor, seed: int, steps: int) -> tuple[list[dict], float, TutorialGAN, bool]:
    keras.utils.set_random_seed(seed)
    model = TutorialGAN(keras)
    sampler = BatchSampler(images, None, BATCH, seed)
    noise = np.random.default_rng(seed + 1)
    d_before = [w.copy() for w in model.weights()["discriminator"]]
    history, started = [], time.perf_counter()
    for step in range(steps):
        real = nhwc(sampler.batch(step)[0])
        noise_d = noise.normal(0, 1, (BATCH, Z_DIM)).astype(np.float32)
        noise_g = noise.normal(0, 1, (BATCH, Z_DIM)).astype(np.float32)
        history.append(model.step(real, noise_d, noise_g))
        if step == 0:
            d_trained = any(not np.array_equal(a, b) for a, b in zip(d_before, model.weights()["discriminator"]))
            if not d_trained:
                print(f"  Keras {keras.__version__}: discriminator.train_on_batch changed none of D's weights: with "
                      "`trainable = False` set after compiling, this Keras never trains the tutorial's D "
                      "(Keras 3 semantics; tf-keras keeps Keras 2's)", flush=True)
    return history, time.perf_counter() - started, model, d_trained


def run_ganvas(images: torch.Tensor, seed: int, steps: int) -> tuple[list[dict], float, GAN]:
    config = seed_config(seed)
    gan = GAN(config, images.shape[1:], torch.device("cpu"))
    sampler = BatchSampler(images, None, config.batch_size, config.seed)
    history, started = [], time.perf_counter()
    for step in range(steps):  # as ganvas.trainer's loop calls it
        stats = gan.train_step(step, lambda i: sampler.batch(step * config.n_critic + i))
        history.append(dict(zip(stats, torch.stack(list(stats.values())).tolist())))
    return history, time.perf_counter() - started, gan


def windows(history: list[dict], every: int) -> list[dict]:
    return [{key: statistics.fmean(h[key] for h in history[start:start + every]) for key in ("d_loss", "g_loss",
                                                                                             "d_accuracy")}
            for start in range(0, len(history), every)]


def lockstep(keras, images: torch.Tensor, steps: int) -> None:
    """Same weights, batches and latents on both sides: how far apart are the weights after each step?"""
    shown = sorted({1, 2, steps})
    print(f"\nlockstep: from ganvas's initial weights, the same real batches and latents on both sides; the "
          "largest |difference| of any weight relative to that network's largest |weight|, G / D, after step")
    print(f"  {'ganvas configuration':<48}" + "".join(f"{n:>20}" for n in shown))
    for name, changes in LOCKSTEP_VARIANTS.items():
        config = seed_config(0, **changes)
        gan = GAN(config, images.shape[1:], torch.device("cpu"))
        keras.utils.set_random_seed(0)
        model = TutorialGAN(keras)
        model.load_torch_weights(gan)
        drawn = []
        original = gan.latents
        gan.latents = lambda count: drawn.append(original(count)) or drawn[-1]
        sampler = BatchSampler(images, None, BATCH, 0)
        gaps = []
        for step in range(steps):
            real = sampler.batch(step)[0]
            drawn.clear()
            gan.train_step(step, lambda i: (real, None))
            model.step(nhwc(real), drawn[0].numpy(), drawn[1].numpy())
            gaps.append(relative_gaps(torch_weights(gan), model.weights()))
        cells = [f"{gaps[n - 1]['generator']:.1e} / {gaps[n - 1]['discriminator']:.1e}" for n in shown]
        print(f"  {name:<48}" + "".join(f"{cell:>20}" for cell in cells), flush=True)


def relative_gaps(a: dict[str, list[np.ndarray]], b: dict[str, list[np.ndarray]]) -> dict[str, float]:
    return {name: max(float(np.abs(x - y).max()) for x, y in zip(a[name], b[name])) /
            max(float(np.abs(x).max()) for x in a[name]) for name in a}


def spread(values: list[float]) -> str:
    return f"{statistics.fmean(values):7.3f} [{min(values):.3f}, {max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, each run on both sides")
    parser.add_argument("--log-every", type=int, default=250, help="steps per loss window")
    parser.add_argument("--eval-images", type=int, default=5000, help="generated images per evaluation")
    parser.add_argument("--lockstep", type=int, default=0, metavar="N", help="first the same-weights check, N steps")
    parser.add_argument("--keras", default="tf-keras", choices=("tf-keras", "keras3"))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for each side")
    parser.add_argument("--json", help="also write every number to this file")
    args = parser.parse_args()

    keras, tf = import_keras(args.keras)
    torch.set_num_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    dataset = load_dataset("mnist", args.split, args.data_dir)
    images = to_model_range(dataset.images)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, torch {torch.__version__}; MNIST {args.split} "
          f"({len(images)} images), batch {BATCH}, {args.steps} steps, seeds {seeds}", flush=True)
    if args.lockstep:
        lockstep(keras, images, args.lockstep)

    judge = judge_for(dataset, own_images=False, count=args.eval_images)
    results = {"keras": {}, "ganvas": {}, "args": vars(args)}
    for seed in seeds:
        history, seconds, model, d_trained = run_keras(keras, tf, images, seed, args.steps)
        scores = judge.report(lambda count: model.images(count, seed)).generated
        results["keras"][seed] = {"windows": windows(history, args.log_every), "seconds": seconds, "scores": scores,
                                  "d_trained": d_trained}
        print(f"seed {seed}: Keras {args.steps * BATCH / seconds:.0f} images/s, FID {scores['fid']:.1f}", flush=True)
        history, seconds, gan = run_ganvas(images, seed, args.steps)
        scores = judge.report(lambda count: generate(gan.generator, count, seed)).generated
        results["ganvas"][seed] = {"windows": windows(history, args.log_every), "seconds": seconds, "scores": scores}
        print(f"seed {seed}: ganvas {args.steps * BATCH / seconds:.0f} images/s, FID {scores['fid']:.1f}", flush=True)
        if args.json:  # after every seed, so a long comparison cut short keeps what it measured
            Path(args.json).write_text(json.dumps({**results, "real_floor": judge.real_floor}, indent=1,
                                                  default=float) + "\n")
    results["real_floor"] = judge.real_floor
    report(results, seeds, args.log_every)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")


def report(results: dict, seeds: list[int], every: int) -> None:
    sides = ("keras", "ganvas")
    print(f"\nlosses over training, mean over each window of {every} steps: mean over seeds [min, max]")
    print(f"{'steps':>11}  {'side':<7}{'d_loss':>24}{'g_loss':>24}{'d_accuracy':>24}")
    outside = []
    count = len(results["keras"][seeds[0]]["windows"])
    for w in range(count):
        for side in sides:
            values = {key: [results[side][s]["windows"][w][key] for s in seeds] for key in ("d_loss", "g_loss",
                                                                                          "d_accuracy")}
            print(f"{w * every + 1:>5}-{(w + 1) * every:<5}  {side:<7}" +
                  "".join(f"{spread(v):>24}" for v in values.values()))
            if side == "ganvas":
                for key, ours in values.items():
                    theirs = [results["keras"][s]["windows"][w][key] for s in seeds]
                    if not min(theirs) <= statistics.fmean(ours) <= max(theirs):
                        outside.append(f"{key} at steps {w * every + 1}-{(w + 1) * every}")
    print(f"\n`ganvas evaluate` measures ({len(seeds)} seeds; real floor in the last column)")
    print(f"{'metric':<18}" + "".join(f"{side + ' ' + str(s):>12}" for side in sides for s in seeds) +
          f"{'keras':>22}{'ganvas':>22}{'floor':>9}")
    for key in METRICS:
        row = {side: [results[side][s]["scores"][key] for s in seeds] for side in sides}
        print(f"{key:<18}" + "".join(f"{v:>12.3f}" for side in sides for v in row[side]) +
              "".join(f"{f'[{min(v):.3f}, {max(v):.3f}]':>22}" for v in row.values()) +
              f"{results['real_floor'][key]:>9.3f}")
        if not min(row["keras"]) <= statistics.fmean(row["ganvas"]) <= max(row["keras"]):
            outside.append(f"{key} (seed mean {statistics.fmean(row['ganvas']):.3f})")
    speed = {side: statistics.fmean(results[side][s]["seconds"] for s in seeds) for side in sides}
    print(f"\nseconds per run: Keras {speed['keras']:.0f}, ganvas {speed['ganvas']:.0f}")
    if not all(results["keras"][s]["d_trained"] for s in seeds):
        print("the Keras code's D was never trained (see above): this is not the tutorial's procedure")
    print("within the Keras code's spread (ganvas's seed mean inside Keras's [min, max]): " +
          ("every window and measure" if not outside else "all but " + "; ".join(outside)))


if __name__ == "__main__":
    main()
