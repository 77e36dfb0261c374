"""A format-1 checkpoint (ganvas 0.1.0's layout), written at test time: `build_format1_run`.

0.1.0 (commit 60afa61) wrote a checkpoint folder as

    meta.json                   {"format", "format_version": 1, "ganvas_version", "step",
                                 "model": {"name", "generator": kwargs, "discriminator": kwargs}, "config", "quality"}
    generator.safetensors       safetensors.torch.save_file of each network's state_dict
    discriminator.safetensors
    generator_ema.safetensors
    training_state.pt           torch.save of {"optimizer_g": Adam state_dict, "optimizer_d": Adam state_dict,
                                 "noise_rng": the noise generator's state}

The run is the one tests/fixtures/format1/README.md describes. Its meta.json and config.json there are the text 0.1.0
wrote, and are written as they are; the weights, optimizer states and noise state come from the same run trained
here by today's code, each checked against what 0.1.0 wrote for it (the tensor names, types and shapes below), and
the optimizers' hyperparameters are written as 0.1.0 wrote them. This spec was checked against the files 0.1.0 wrote
(the README says what matched) before they were removed from the repository.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

import ganvas
from ganvas import checkpoint as ckpt
from ganvas.config import config_from_dict
from ganvas.trainer import train

SPEC = Path(__file__).parent / "fixtures" / "format1"  # meta.json and config.json as 0.1.0 wrote them
STEP = 4
CHECKPOINT = f"step-{STEP:08d}"
CLASSES = {"blue": (0, 0, 200), "red": (200, 0, 0)}  # class folders of images/, 8 images each

# The tensors of 0.1.0's weights files (generator_ema.safetensors as generator.safetensors): name -> (type, shape).
WEIGHTS = {
    "generator": {
        "project.weight": ("float32", (128, 8)), "project_norm.embed.weight": ("float32", (2, 16)),
        "project_norm.running_mean": ("float32", (8,)), "project_norm.running_var": ("float32", (8,)),
        "project_norm.num_batches_tracked": ("int64", ()), "stages.0.conv.weight": ("float32", (8, 4, 4, 4)),
        "stages.0.norm.embed.weight": ("float32", (2, 8)), "stages.0.norm.running_mean": ("float32", (4,)),
        "stages.0.norm.running_var": ("float32", (4,)), "stages.0.norm.num_batches_tracked": ("int64", ()),
        "to_image.weight": ("float32", (4, 3, 4, 4)), "to_image.bias": ("float32", (3,)),
    },
    "discriminator": {
        "features.0.weight": ("float32", (4, 3, 4, 4)), "features.0.bias": ("float32", (4,)),
        "features.2.weight": ("float32", (8, 4, 4, 4)), "features.3.weight": ("float32", (8,)),
        "features.3.bias": ("float32", (8,)), "features.3.running_mean": ("float32", (8,)),
        "features.3.running_var": ("float32", (8,)), "features.3.num_batches_tracked": ("int64", ()),
        "head.linear.weight": ("float32", (1, 128)), "head.linear.bias": ("float32", (1,)),
        "head.embed.weight": ("float32", (2, 128)),
    },
}
WEIGHTS["generator_ema"] = WEIGHTS["generator"]

# 0.1.0's training_state.pt: each optimizer's one parameter group (hyperparameters as it wrote them, with `params`
# 0..N-1) and the shapes of those parameters in order; each has float32 exp_avg and exp_avg_sq of its parameter's
# shape and a float32 scalar step. The noise state is a uint8 vector.
ADAM_GROUP = {"lr": 0.0002, "betas": (0.5, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": False,
              "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": True,
              "decoupled_weight_decay": False}
OPTIMIZERS = {  # 0.1.0's key -> (today's role, parameter shapes)
    "optimizer_g": ("generator", [(128, 8), (2, 16), (8, 4, 4, 4), (2, 8), (4, 3, 4, 4), (3,)]),
    "optimizer_d": ("discriminator", [(4, 3, 4, 4), (4,), (8, 4, 4, 4), (8,), (8,), (1, 128), (1,), (2, 128)]),
}
NOISE_STATE = (torch.uint8, (5056,))


@dataclass
class Format1Run:
    root: Path  # images/ and run/: the run's config names its images folder relative to root, as 0.1.0's did
    today: Path  # the same run as today's code wrote it (format 2), trained in this process
    samples: np.ndarray  # the pixels of today's run's `sample(8, seed=0)`

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def checkpoint(self) -> Path:
        return self.run / ckpt.CHECKPOINTS_DIR / CHECKPOINT


def write_images(folder: Path) -> None:
    """The 16 16x16 PNGs: one colour per class folder, with a white bar of seeded height at the left edge."""
    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        (folder / name).mkdir(parents=True)
        for index in range(8):
            pixels = np.full((16, 16, 3), colour, dtype=np.uint8)
            pixels[rng.integers(0, 12):, :4] = 255
            Image.fromarray(pixels).save(folder / name / f"{index}.png")


def build_format1_run(root: Path, today: Path) -> Format1Run:
    """Train the README's run with today's code in `today` (format 2), and write it again in format 1 in root/run,
    beside the images it names (root/images)."""
    write_images(root / "images")
    config = config_from_dict(json.loads((SPEC / "config.json").read_text()), "config.json")
    result = train(config.replace(data=str(root / "images")), today, device="cpu")
    trained = ckpt.load_checkpoint(result.checkpoint)
    meta = json.loads((SPEC / "meta.json").read_text())
    recipe = meta["model"]
    assert trained.step == meta["step"] == STEP and {
        role: (network["model"], network["args"]) for role, network in trained.networks.items()} == {
        "generator": (recipe["name"], recipe["generator"]), "discriminator": (recipe["name"], recipe["discriminator"]),
        "generator_ema": (recipe["name"], recipe["generator"])}, "the run differs from 0.1.0's"

    folder = root / "run" / ckpt.CHECKPOINTS_DIR / CHECKPOINT
    folder.mkdir(parents=True)
    shutil.copyfile(SPEC / "config.json", root / "run" / "config.json")
    shutil.copyfile(SPEC / "meta.json", folder / "meta.json")
    for role, tensors in WEIGHTS.items():
        weights = trained.weights(role)
        assert {k: (str(v.dtype).removeprefix("torch."), tuple(v.shape)) for k, v in weights.items()} == tensors, \
            f"today's {role} has other tensors than 0.1.0's"
        save_file(weights, folder / f"{role}.safetensors")
    state = trained.training_state()
    assert len(state.rng) == 1 and set(state.rng[0]) == {"noise"} and not state.buffers, \
        "today's run keeps other training state than 0.1.0's"
    written = {}
    for key, (role, shapes) in OPTIMIZERS.items():
        optimizer = state.optimizers[role]
        (group,) = optimizer["param_groups"]
        assert [tuple(optimizer["state"][i]["exp_avg"].shape) for i in group["params"]] == shapes, \
            f"today's {role} optimizer has other parameters than 0.1.0's"
        written[key] = {"state": optimizer["state"], "param_groups": [{**ADAM_GROUP, "params": group["params"]}]}
    noise = state.rng[0]["noise"]
    assert (noise.dtype, tuple(noise.shape)) == NOISE_STATE, "today's noise generator state is not 0.1.0's kind"
    torch.save({**written, "noise_rng": noise}, folder / ckpt.TRAINING_STATE_FILE)
    return Format1Run(root, today, ganvas.load(today).sample(8, seed=0).pixels)
