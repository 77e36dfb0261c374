"""What the later issues build on: options defined once, checkpoint format 2 (and format 1 still read), atomic writes,
step statistics as a dict."""

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ganvas
from ganvas import checkpoint as ckpt
from ganvas.cli import build_parser, main
from ganvas.config import OPTION_GROUPS, TrainConfig, options, preset_config
from ganvas.data import load_dataset, to_model_range
from ganvas.errors import GanvasError, flag
from ganvas.files import atomic_directory, atomic_write_bytes, atomic_write_text
from ganvas.gan import GAN
from ganvas.losses import objective_names

# --- options ----------------------------------------------------------------------------------------------------

def train_parser():
    parser = build_parser()
    return next(action for action in parser._subparsers._group_actions[0].choices.values()
                if action.prog.endswith(" train"))


def test_every_option_is_a_flag_with_its_help_choices_and_default_from_one_definition():
    train = train_parser()
    flags = {option: action for action in train._actions for option in action.option_strings}
    for field in options():
        action = flags[flag(field.name)]
        assert action.dest == field.name and action.default is None, "unset flags leave the preset's value"
        assert field.metadata["help"].split(":")[0].split("(")[0].strip().split()[-1] in action.help
        if field.metadata["choices"]:
            assert list(action.choices) == list(field.metadata["choices"])
        if field.default not in (None, "", False):
            assert f"(default {field.default})" in action.help
        assert field.metadata["group"] in OPTION_GROUPS


def test_the_loss_choices_are_the_registered_objectives():
    loss = next(field for field in options() if field.name == "loss")
    assert sorted(loss.metadata["choices"]) == objective_names()


def test_every_option_is_a_keyword_and_a_file_key(tmp_path, mnist_dir):
    values = {field.name: getattr(preset_config("seed"), field.name) for field in options()}
    assert TrainConfig(**values) == preset_config("seed")
    (tmp_path / "options.json").write_text(json.dumps({"lr-d": 0.001, "batch_size": 16, "eval_every": 0}))
    run = ganvas.train(run=tmp_path / "run", config_file=tmp_path / "options.json", data_dir=str(mnist_dir),
                       split="test", steps=2, lr_g=0.003, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["lr_d"], saved["lr_g"], saved["batch_size"]) == (0.001, 0.003, 16)
    assert run.status == "finished"


def test_the_same_error_reads_as_a_flag_in_the_cli_and_a_keyword_in_python(mnist_dir, capsys):
    assert main(["train", "--data-dir", str(mnist_dir), "--split", "test", "--batch-size", "0"]) == 1
    assert "--batch-size must be positive, got 0" in capsys.readouterr().err
    with pytest.raises(GanvasError) as raised:
        ganvas.train(data_dir=str(mnist_dir), split="test", batch_size=0, progress=False)
    assert str(raised.value) == "batch_size= must be positive, got 0"
    assert main(["train", "--loss", "wgan-gp"]) == 1
    assert "--loss wgan-gp needs its gradient penalty: add --gp-weight 10" in capsys.readouterr().err


# --- checkpoint format 2, and format 1 still read ------------------------------------------------------------------

def test_format_2_stores_networks_optimizers_and_rng_by_role(tiny_config, tmp_path):
    from ganvas.trainer import train

    result = train(tiny_config.replace(steps=2, ema_decay=0.9), tmp_path / "run")
    meta = json.loads((result.checkpoint / ckpt.META_FILE).read_text())
    assert meta["format_version"] == 2 and meta["kind"] == "noise-to-image"
    assert set(meta["networks"]) == {"generator", "discriminator", "generator_ema"}
    discriminator = meta["networks"]["discriminator"]
    assert (discriminator["model"], discriminator["part"], discriminator["args"]["image_shape"]) == \
        ("mlp", "discriminator", [1, 28, 28])
    assert meta["networks"]["generator_ema"] == meta["networks"]["generator"]
    state = ckpt.load_checkpoint(result.checkpoint).training_state()
    assert set(state.optimizers) == {"generator", "discriminator"}
    assert len(state.rng) == 1 and set(state.rng[0]) == {"noise"}


@pytest.fixture
def format1_run(format1, tmp_path, monkeypatch):
    """A copy of the format-1 run (tests/format1.py), from a working folder where its config finds its images."""
    shutil.copytree(format1.root, tmp_path / "format1")
    monkeypatch.chdir(tmp_path / "format1")  # the run's config names its images folder relative to here
    return Path("run")


def test_a_format_1_checkpoint_samples_as_its_run_does(format1, format1_run):
    pixels = ganvas.load(format1_run).sample(8, seed=0).pixels
    assert np.array_equal(pixels, format1.samples), "the same images as the same run in today's format"
    checkpoint = ckpt.load_checkpoint(ckpt.resolve_checkpoint(format1_run))
    assert checkpoint.format_version == 1 and set(checkpoint.networks) == {"generator", "discriminator",
                                                                             "generator_ema"}
    raw = torch.load(checkpoint.path / ckpt.TRAINING_STATE_FILE, weights_only=True)
    state = checkpoint.training_state()
    assert state.optimizers["generator"] is not state.optimizers["discriminator"]
    for role, key in (("generator", "optimizer_g"), ("discriminator", "optimizer_d")):
        ours, theirs = state.optimizers[role]["state"], raw[key]["state"]
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[i]["exp_avg"], theirs[i]["exp_avg"]) for i in ours)
    assert len(state.rng) == 1 and torch.equal(state.rng[0]["noise"], raw["noise_rng"])


def test_a_format_1_run_resumes_as_its_run_in_todays_format_does(format1, format1_run):
    """The upgrade loses nothing: resuming the format-1 files and the same run as today's code wrote it train alike.
    Both resume with the format-1 run's config (0.1.0's config.json)."""
    from ganvas.config import load_config
    from ganvas.trainer import train

    config = load_config(format1_run).replace(steps=6)
    shutil.copytree(format1_run, "today")  # its config.json, with today's checkpoint in place of the format-1 one
    checkpoint = ckpt.resolve_checkpoint("today")
    shutil.rmtree(checkpoint)
    shutil.copytree(ckpt.resolve_checkpoint(format1.today), checkpoint)
    from_format_1 = train(config, format1_run, resume=True, device="cpu")
    from_format_2 = train(config, Path("today"), resume=True, device="cpu")
    assert from_format_1.step == from_format_2.step == 6
    for role in ("generator", "discriminator", "generator_ema"):
        a = load_file(ckpt.weights_path(from_format_1.checkpoint, role))
        b = load_file(ckpt.weights_path(from_format_2.checkpoint, role))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), role
    assert json.loads((from_format_1.checkpoint / ckpt.META_FILE).read_text())["format_version"] == 2


def test_a_checkpoint_of_a_newer_format_says_which_versions_this_ganvas_reads(format1_run):
    meta_path = ckpt.resolve_checkpoint(format1_run) / ckpt.META_FILE
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "format_version": 3}))
    with pytest.raises(GanvasError, match="format version 3, but this ganvas .* reads versions 1, 2"):
        ganvas.load(format1_run)


# --- atomic writes ------------------------------------------------------------------------------------------------

def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    target.write_text("old")

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ganvas.files.os.replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new")
    with pytest.raises(OSError, match="No space"):
        with atomic_directory(tmp_path / "checkpoint") as folder:
            (folder / "weights").write_bytes(b"x")
    assert sorted(os.listdir(tmp_path)) == ["config.json"] and target.read_text() == "old"


def test_concurrent_writers_never_collide(tmp_path):
    target = tmp_path / "latest.png"
    payloads = [bytes([index]) * 200_000 for index in range(8)]
    errors = []

    def write(payload):
        try:
            for _ in range(5):
                atomic_write_bytes(target, payload)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=write, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and target.read_bytes() in payloads, "one writer's whole content, never a mix"
    assert os.listdir(tmp_path) == ["latest.png"]


def test_replacing_a_named_checkpoint_is_atomic(tiny_config, tmp_path):
    from ganvas.trainer import train

    train(tiny_config.replace(steps=2), tmp_path / "run")
    folder = tmp_path / "run" / "checkpoints" / "best"
    for step in (1, 2):
        with atomic_directory(folder) as temporary:
            (temporary / "meta.json").write_text(str(step))
    assert (folder / "meta.json").read_text() == "2"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["best", "step-00000002"]


# --- step statistics ---------------------------------------------------------------------------------------------

def test_d_terms_are_averaged_over_the_critic_steps(tiny_config):
    dataset = load_dataset("mnist", "test", tiny_config.data_dir)
    gan = GAN(tiny_config.replace(n_critic=2, d_step="joint"), dataset.image_shape, torch.device("cpu"))
    losses = iter([torch.tensor(1.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)])

    class KnownLosses:  # the run's objective, but D's loss is 1 on the first critic step and 3 on the second
        def __getattr__(self, name, objective=gan.objective):
            return getattr(objective, name)

        def discriminator_loss(self, real_logits, fake_logits):
            return next(losses)

    gan.objective = KnownLosses()
    stats = gan.train_step(0, lambda i: (to_model_range(dataset.images[:16]), None))
    assert stats["d_loss"].item() == 2.0


def test_every_loss_term_is_logged(tiny_config, tmp_path):
    from ganvas.trainer import train

    config = tiny_config.replace(model="dcgan", width=8, spectral_norm=True, loss="hinge", r1_gamma=1.0, r1_every=2,
                                 steps=4, log_every=2)
    train(config, tmp_path / "r1")
    lines = [json.loads(line) for line in (tmp_path / "r1" / "metrics.jsonl").read_text().splitlines()]
    assert all(line["r1_penalty"] > 0 for line in lines), "logged on the windows that applied it"
    train(tiny_config.replace(loss="wgan-gp", gp_weight=10.0, steps=2, log_every=2), tmp_path / "gp")
    line = json.loads((tmp_path / "gp" / "metrics.jsonl").read_text().splitlines()[0])
    assert line["gradient_penalty"] >= 0 and {"d_loss", "g_loss", "d_accuracy"} <= set(line)
