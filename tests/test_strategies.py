"""Every model with every objective, the training strategies, presets and config files."""

import json

import pytest
import torch
from safetensors.torch import load_file

from ganvas import checkpoint as ckpt
from ganvas.cli import main
from ganvas.config import PRESETS, preset_config, read_options_file
from ganvas.data import count_images
from ganvas.data import load_dataset, to_model_range
from ganvas.errors import GanvasError
from ganvas.gan import GAN
from ganvas.losses import objective_names
from ganvas.models import get_model, model_names
from ganvas.trainer import train


def valid_options(model: str, loss: str) -> dict:
    """The settings each objective needs, on a test-sized version of each model."""
    options = {"model": model, "loss": loss}
    if model != "mlp":
        options["width"] = 8
    if loss == "wgan":
        options["clip_weights"] = 0.01
    if loss == "relativistic":
        options["d_step"] = "joint"  # its D loss pairs real with generated images: no update on either alone
    if loss == "wgan-gp":
        options.update(gp_weight=10.0, n_critic=2)
        if model.startswith("dcgan"):
            options["spectral_norm"] = True  # a gradient penalty needs D without batch norm
    return options


@pytest.mark.parametrize("loss", objective_names())
@pytest.mark.parametrize("model", model_names())
def test_every_model_trains_with_every_objective_without_nan(model, loss, tiny_config):
    config = tiny_config.replace(**valid_options(model, loss))
    dataset = load_dataset("mnist", "test", config.data_dir)
    if loss == "wgan-gp" and model == "lightweight":  # its D keeps batch norm, as FastGAN's does
        with pytest.raises(GanvasError, match="without batch norm"):
            GAN(config, dataset.image_shape, torch.device("cpu"), dataset.num_classes)
        return
    gan = GAN(config, dataset.image_shape, torch.device("cpu"), dataset.num_classes)
    images, labels = to_model_range(dataset.images[:8]), dataset.labels[:8]
    for step in range(3):
        stats = gan.train_step(step, lambda i: (images, labels if get_model(model).conditional else None))
        assert all(torch.isfinite(value) for value in stats.values()), f"step {step}: {stats}"
    assert gan.weights_are_finite()


def test_weight_clipping_bounds_the_critic(tiny_config):
    config = tiny_config.replace(loss="wgan", clip_weights=0.01)
    dataset = load_dataset("mnist", "test", config.data_dir)
    gan = GAN(config, dataset.image_shape, torch.device("cpu"))
    gan.train_step(0, lambda i: (to_model_range(dataset.images[:16]), None))
    assert max(p.abs().max().item() for p in gan.discriminator.parameters()) <= 0.01


def test_ema_generator_is_saved_and_used_for_sampling(tiny_config, tmp_path):
    from ganvas.sampling import load_generator

    result = train(tiny_config.replace(steps=4, ema_decay=0.5), tmp_path / "run")
    raw = load_file(ckpt.weights_path(result.checkpoint, "generator"))
    ema = load_file(ckpt.weights_path(result.checkpoint, "generator_ema"))
    assert not torch.equal(raw["net.0.weight"], ema["net.0.weight"]), "the average lags behind G"
    generator, _ = load_generator(result.checkpoint)
    assert torch.equal(generator.state_dict()["net.0.weight"], ema["net.0.weight"])


def test_resume_is_exact_with_every_stateful_strategy(tiny_config, tmp_path):
    config = tiny_config.replace(model="dcgan-cond", width=8, spectral_norm=True, loss="hinge", n_critic=2,
                                 r1_gamma=1.0, r1_every=2, ema_decay=0.9, augment="translation,cutout",
                                 instance_noise=0.05, steps=8)
    straight = train(config, tmp_path / "straight")
    train(config.replace(steps=4), tmp_path / "resumed")
    resumed = train(config, tmp_path / "resumed", resume=True)
    for network in ("generator", "discriminator", "generator_ema"):
        a = load_file(ckpt.weights_path(straight.checkpoint, network))
        b = load_file(ckpt.weights_path(resumed.checkpoint, network))
        assert all(torch.equal(a[k], b[k]) for k in a), network


@pytest.mark.parametrize("options, message", [
    ({"clip_weights": 0.01, "spectral_norm": True, "loss": "wgan"}, "fight each other"),
    ({"clip_weights": 0.01, "loss": "hinge"}, "does not belong with loss='hinge'"),
    ({"loss": "wgan"}, "needs a Lipschitz constraint"),
    ({"loss": "wgan-gp"}, "needs its gradient penalty"),
    ({"augment": "rotate"}, "rotate"),
    ({"ema_decay": 1.0}, "below 1"),
    ({"batch_size": "64"}, "batch_size= must be a whole number"),
])
def test_impossible_combinations_are_refused_before_training(options, message):
    with pytest.raises(GanvasError, match=message):
        preset_config("seed", **options)


@pytest.mark.parametrize("options, message", [
    ({"width": 8}, "model 'mlp' has no generator option width"),
    ({"model": "dcgan", "width": 8, "gp_weight": 10.0, "loss": "wgan-gp"}, "without batch norm"),
    ({"real_label": 0.9, "loss": "hinge"}, "label smoothing"),
])
def test_options_that_do_not_fit_the_model_or_loss_are_refused_before_training(options, message, tiny_config,
                                                                                 tmp_path):
    with pytest.raises(GanvasError, match=message):
        train(tiny_config.replace(**options), tmp_path / "run")
    assert not (tmp_path / "run").exists(), "nothing was created for a run that could not start"


def test_config_files_in_yaml_and_json_with_flags_winning(tmp_path, mnist_dir, capsys):
    (tmp_path / "options.yaml").write_text("preset: lsgan\nbatch-size: 16\nlr_d: 0.001\nsteps: 2\n")
    assert read_options_file(tmp_path / "options.yaml") == {"preset": "lsgan", "batch_size": 16, "lr_d": 0.001,
                                                            "steps": 2}
    run = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "options.yaml"), "--lr-d", "0.002", "--data-dir", str(mnist_dir),
                 "--split", "test", "--run", str(run), "--no-progress", "--eval-every", "0"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert (saved["preset"], saved["loss"], saved["batch_size"], saved["lr_d"]) == ("lsgan", "lsgan", 16, 0.002)
    (tmp_path / "options.json").write_text('{"batch_size": 16, "colour": "red"}')
    assert main(["train", "--config", str(tmp_path / "options.json")]) == 1
    assert "unknown options: colour" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("batch_size: [16\n")
    assert main(["train", "--config", str(tmp_path / "broken.yaml")]) == 1
    assert "not valid YAML" in capsys.readouterr().err


def test_presets_include_the_tutorial_and_its_named_remedies(capsys):
    assert main(["presets"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"seed", "mnist", "wgan", "wgan-gp", "lsgan", "hinge"} <= set(listed) == set(PRESETS)


# The translation presets need folders of images: tests/test_translation.py trains each of them.
@pytest.mark.parametrize("preset", sorted(name for name in PRESETS if "task" not in PRESETS[name].options))
def test_every_preset_trains_a_few_steps(preset, tiny_config, tmp_path):
    # Conv presets at width 8 to keep the test fast; `art` is a conv preset that counts the MNIST split's images.
    options = {"width": 8} if PRESETS[preset].options.get("model", "mlp") != "mlp" or PRESETS[preset].for_data else {}
    config = preset_config(preset, count_images=lambda config: count_images(config.data, config.dataset, config.split),
                           data_dir=tiny_config.data_dir, split="test", batch_size=16, steps=2, eval_every=0, **options)
    assert train(config, tmp_path / "run").step == 2


def test_sampling_a_class_of_a_conditional_model(tiny_config, tmp_path, capsys):
    from ganvas.models import generate_in_batches
    from ganvas.latents import gaussian_latents
    from ganvas.sampling import load_generator
    import numpy as np

    train(tiny_config.replace(model="dcgan-cond", width=8, steps=2), tmp_path / "run")
    assert main(["sample", str(tmp_path / "run"), "--class", "3", "--n", "4", "--npy", str(tmp_path / "3.npy")]) == 0
    generator, _ = load_generator(tmp_path / "run")
    expected = generate_in_batches(generator, gaussian_latents(4, generator.z_dim, 0), torch.full((4,), 3))
    assert np.array_equal(np.load(tmp_path / "3.npy"), ((expected.clamp(-1, 1) + 1) * 127.5).round().byte()[:, 0].numpy())
    assert main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "grid.png")]) == 0
    assert "80 images" in capsys.readouterr().out  # a row of 8 for each of the 10 classes
    assert main(["sample", str(tmp_path / "run"), "--class", "10"]) == 1
    assert "--class must be from 0 to 9" in capsys.readouterr().err


@pytest.mark.parametrize("precision, native, expected", [("fp32", True, False), ("bf16", False, True),
                                                         ("auto", True, True), ("auto", False, False)])
def test_auto_precision_takes_bf16_only_where_the_device_runs_it_natively(precision, native, expected, monkeypatch):
    import ganvas.devices
    from ganvas.gan import GAN

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    assert ganvas.devices.has_fast_bf16(torch.device("cpu")) is native
    gan = GAN(preset_config("seed", precision=precision), (1, 28, 28), torch.device("cpu"))
    assert gan.bf16 is expected


def test_bf16_mixed_precision_trains_in_bfloat16_and_keeps_float32_weights(tiny_config, tmp_path):
    from ganvas.gan import GAN

    gan = GAN(tiny_config.replace(model="dcgan", width=8, precision="bf16"), (1, 28, 28), torch.device("cpu"))
    with gan._autocast():
        assert gan.generator(gan.latents(2)).dtype == torch.bfloat16
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    stats = gan.train_step(0, lambda i: (real, None))
    assert all(torch.isfinite(v) for v in stats.values()) and all(p.dtype == torch.float32 for p in gan.generator.parameters())


def test_bf16_separate_d_updates_use_the_weights_the_update_before_left(tiny_config):
    """Autocast caches its bf16 copy of each weight for a whole region: the update on the generated batch must still
    see the weights the update on the real batch left, as in fp32."""
    import copy

    from ganvas.gan import GAN

    gan = GAN(tiny_config.replace(precision="bf16", d_step="separate"), (1, 28, 28), torch.device("cpu"))
    seen, after_update = [], []
    gan.discriminator.register_forward_hook(lambda module, args, output: seen.append((args[0], output)))
    gan.opt_d.register_step_post_hook(lambda *_: after_update.append(copy.deepcopy(gan.discriminator)))
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    gan.train_step(0, lambda i: (real, None))
    fake_images, fake_logits = seen[1]  # D on the real batch, D on the generated batch, then G's step through D
    with gan._autocast():
        expected = after_update[0](fake_images)
    assert torch.equal(fake_logits, expected)
