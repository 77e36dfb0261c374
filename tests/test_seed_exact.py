"""The seed preset is the tutorial's Keras procedure: two D updates per step on separate real and generated batches,
Keras Dense initialisation, Keras Adam (epsilon 1e-7, added to the uncorrected sqrt(v)); each a general option. The
other presets keep one D update on real and generated together. (scripts/compare_keras.py checks the procedure
against the tutorial's own code, docs/stability.md.)"""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ganvas import checkpoint as ckpt
from ganvas.config import INIT_SCHEMES, PRESETS, preset_config
from ganvas.data import load_dataset, to_model_range
from ganvas.errors import GanvasError
from ganvas.gan import GAN, keras_adam_eps, network_recipes
from ganvas.losses import get_objective, objective_names
from ganvas.models import build_network
from ganvas.models import mlp
from ganvas.trainer import train

SHAPE = (1, 28, 28)
KERAS_PROCEDURE = {"d_step": "separate", "init": "keras", "adam_eps": 1e-7, "adam_eps_style": "keras"}


def real_batch(config, count=16):
    return to_model_range(load_dataset("mnist", "test", config.data_dir).images[:count])


def clone_nets(gan):
    return {name: {k: v.clone() for k, v in net.state_dict().items()} for name, net in gan.networks().items()}


class KerasAdam:
    """Keras' Adam written out: m, v and the step count per tensor; epsilon added to the uncorrected sqrt(v)."""

    def __init__(self, params, lr=2e-4, beta1=0.5, beta2=0.999, eps=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = list(params), lr, beta1, beta2, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            m.add_((p.grad - m) * (1 - self.b1))
            v.add_((p.grad.square() - v) * (1 - self.b2))
            p.sub_(m * alpha / (v.sqrt() + self.eps))
            p.grad = None


def tutorial_reference_steps(gan, real, steps):
    """The tutorial's loop by hand on copies of the GAN's networks: fake = G(z) with no gradients, a D update on
    the real batch (target 1), a D update on the fake batch (target 0), a G update through D on fresh noise."""
    G, D = (build_network(gan.recipes[role]) for role in ("generator", "discriminator"))
    G.load_state_dict(gan.generator.state_dict())
    D.load_state_dict(gan.discriminator.state_dict())
    noise = torch.Generator().set_state(gan.noise.get_state())
    opt_g, opt_d = KerasAdam(G.parameters()), KerasAdam(D.parameters())
    ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
    bce = F.binary_cross_entropy_with_logits
    for _ in range(steps):
        with torch.no_grad():
            fake = G(torch.randn(len(real), gan.config.z_dim, generator=noise))
        bce(D(real), ones).backward()
        opt_d.step()
        bce(D(fake), zeros).backward()
        opt_d.step()
        D.requires_grad_(False)
        bce(D(G(torch.randn(len(real), gan.config.z_dim, generator=noise))), ones).backward()
        D.requires_grad_(True)
        opt_g.step()
    return G, D


def test_the_seed_preset_asks_for_the_keras_procedure_and_no_other_preset_does():
    assert {k: getattr(preset_config("seed"), k) for k in KERAS_PROCEDURE} == KERAS_PROCEDURE
    defaults = {"d_step": "joint", "init": "default", "adam_eps": 1e-8, "adam_eps_style": "pytorch"}
    for name, preset in PRESETS.items():
        if name != "seed":
            assert not set(KERAS_PROCEDURE) & set(preset.options), name
    assert {k: getattr(preset_config("lsgan"), k) for k in defaults} == defaults


def test_the_separate_d_step_is_the_tutorials_loop_with_keras_adam(tiny_config):
    gan = GAN(tiny_config, SHAPE, torch.device("cpu"))
    real = real_batch(tiny_config)
    G, D = tutorial_reference_steps(gan, real, steps=3)
    for step in range(3):
        gan.train_step(step, lambda i: (real, None))
    for ours, reference in ((gan.generator, G), (gan.discriminator, D)):
        for (name, a), b in zip(ours.state_dict().items(), reference.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-6, msg=name)
    steps = lambda opt: {int(state["step"]) for state in opt.state.values()}
    assert steps(gan.opt_d) == {6} and steps(gan.opt_g) == {3}, "two D updates and one G update per step"


def test_d_loss_is_the_mean_of_the_two_updates_and_accuracy_counts_both_batches(tiny_config):
    gan = GAN(tiny_config, SHAPE, torch.device("cpu"))
    real_objective = gan.objective
    gan.objective = dataclasses.replace(real_objective, real_loss=lambda real: torch.tensor(1.0, requires_grad=True),
                                        fake_loss=lambda fake: torch.tensor(3.0, requires_grad=True))
    stats = gan.train_step(0, lambda i: (real_batch(tiny_config), None))
    assert stats["d_loss"].item() == 2.0
    assert 0 <= stats["d_accuracy"].item() <= 1


def test_the_joint_d_step_is_one_update_on_real_and_fake_together(tiny_config):
    config = tiny_config.replace(d_step="joint", init="default", adam_eps=1e-8, adam_eps_style="pytorch")
    gan = GAN(config, SHAPE, torch.device("cpu"))
    real = real_batch(config)
    G, D = (build_network(gan.recipes[role]) for role in ("generator", "discriminator"))
    G.load_state_dict(gan.generator.state_dict())
    D.load_state_dict(gan.discriminator.state_dict())
    noise = torch.Generator().set_state(gan.noise.get_state())
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    with torch.no_grad():
        fake = G(torch.randn(len(real), config.z_dim, generator=noise))
    logits = D(torch.cat([real, fake]))
    (F.softplus(-logits[:len(real)]).mean() + F.softplus(logits[len(real):]).mean()).backward()
    opt_d.step()
    gan.train_step(0, lambda i: (real, None))
    for a, b in zip(gan.discriminator.state_dict().values(), D.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert {int(state["step"]) for state in gan.opt_d.state.values()} == {1}


def test_keras_init_gives_glorot_uniform_weights_and_zero_biases():
    torch.manual_seed(0)
    for net in (mlp.MLPGenerator(init="keras"), mlp.MLPDiscriminator(init="keras")):
        for linear in (m for m in net.modules() if isinstance(m, nn.Linear)):
            fan_out, fan_in = linear.weight.shape
            limit = math.sqrt(6 / (fan_in + fan_out))
            assert torch.count_nonzero(linear.bias) == 0
            assert linear.weight.abs().max() <= limit
            if linear.weight.numel() > 1000:  # PyTorch's default bound, 1/sqrt(fan_in), is below Glorot's here
                assert linear.weight.abs().max() > 0.98 * limit > 1.2 / math.sqrt(fan_in)
                assert linear.weight.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.03)
    default = mlp.MLPGenerator()
    assert all(torch.count_nonzero(m.bias) > 0 for m in default.modules() if isinstance(m, nn.Linear))
    assert tuple(mlp.INITS) == INIT_SCHEMES
    with pytest.raises(GanvasError, match="init must be one of"):
        mlp.MLPGenerator(init="he")


def test_weight_init_is_seeded_without_touching_the_global_rng(tiny_config):
    state = torch.random.get_rng_state()
    a, b = (GAN(tiny_config, SHAPE, torch.device("cpu")) for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.generator.parameters(), b.generator.parameters()))


def test_adam_eps_reaches_the_optimizer_and_keras_style_moves_it_each_update(tiny_config):
    gan = GAN(tiny_config.replace(adam_eps=3e-7, adam_eps_style="pytorch"), SHAPE, torch.device("cpu"))
    assert [g["eps"] for opt in gan.optimizers().values() for g in opt.param_groups] == [3e-7, 3e-7]
    gan.train_step(0, lambda i: (real_batch(tiny_config), None))
    assert gan.opt_d.param_groups[0]["eps"] == 3e-7
    gan = GAN(tiny_config, SHAPE, torch.device("cpu"))  # the seed preset: 1e-7, keras style
    gan.train_step(0, lambda i: (real_batch(tiny_config), None))
    assert gan.opt_g.param_groups[0]["eps"] == keras_adam_eps(1e-7, 0.999, 1) == pytest.approx(1e-7 / math.sqrt(1e-3))
    assert gan.opt_d.param_groups[0]["eps"] == keras_adam_eps(1e-7, 0.999, 2)
    assert keras_adam_eps(1e-7, 0.999, 20_000) == pytest.approx(1e-7, rel=1e-8)
    with pytest.raises(GanvasError, match="adam_eps= must be positive"):
        preset_config("seed", adam_eps=0.0)


def test_seed_checkpoints_record_the_init_and_rebuild_the_generator(tiny_config, tmp_path):
    from ganvas.sampling import load_generator

    result = train(tiny_config.replace(steps=2), tmp_path / "run")
    meta = ckpt.load_checkpoint(result.checkpoint)
    for role in ("generator", "discriminator"):
        assert meta.networks[role]["args"]["init"] == "keras"
    generator, _ = load_generator(result.checkpoint)
    saved = load_file(ckpt.weights_path(result.checkpoint, "generator"))
    assert all(torch.equal(generator.state_dict()[k], v) for k, v in saved.items())


def test_other_models_and_presets_keep_their_recipes():
    seed = network_recipes(preset_config("seed"), SHAPE, None)
    assert seed["generator"]["args"] == {"image_shape": [1, 28, 28], "z_dim": 100, "init": "keras"}
    plain = network_recipes(preset_config("lsgan"), SHAPE, None)
    assert plain["generator"]["args"] == {"image_shape": [1, 28, 28], "z_dim": 100}
    assert plain["discriminator"]["args"] == {"image_shape": [1, 28, 28]}
    # A model without an init option keeps its own initialisation, also under the seed preset.
    dcgan = network_recipes(preset_config("seed", model="dcgan", width=8), SHAPE, None)
    assert "init" not in dcgan["generator"]["args"] and "init" not in dcgan["discriminator"]["args"]


def test_resume_of_the_seed_procedure_is_bit_identical(tiny_config, tmp_path):
    config = tiny_config.replace(steps=8, n_critic=2)
    straight = train(config, tmp_path / "straight")
    train(config.replace(steps=3), tmp_path / "resumed")
    resumed = train(config, tmp_path / "resumed", resume=True)
    for network in ("generator", "discriminator"):
        a = load_file(ckpt.weights_path(straight.checkpoint, network))
        b = load_file(ckpt.weights_path(resumed.checkpoint, network))
        assert all(torch.equal(a[k], b[k]) for k in a), network
    state_a, state_b = (torch.load(r.checkpoint / ckpt.TRAINING_STATE_FILE, weights_only=True)
                        for r in (straight, resumed))
    for role in ("generator", "discriminator"):
        a, b = state_a["optimizers"][role], state_b["optimizers"][role]
        assert a["param_groups"][0]["eps"] == b["param_groups"][0]["eps"]
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert all(torch.equal(a["state"][i][key], b["state"][i][key]) for i in a["state"]), (role, key)
    assert int(state_a["optimizers"]["discriminator"]["state"][0]["step"]) == 8 * 2 * 2


@pytest.mark.parametrize("name", objective_names())
def test_separable_objectives_split_into_their_real_and_fake_terms(name):
    objective = get_objective(name)
    if name == "relativistic":
        assert not objective.separable
        return
    real, fake = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([0.5, -3.0, 1.0])
    total = objective.real_loss(real) + objective.fake_loss(fake)
    assert total.item() == pytest.approx(objective.discriminator_loss(real, fake).item(), rel=1e-6)
    smoothed = get_objective("nonsaturating", real_label=0.9)
    assert (smoothed.real_loss(real) + smoothed.fake_loss(fake)).item() == \
        pytest.approx(smoothed.discriminator_loss(real, fake).item(), rel=1e-6)


def test_separate_updates_refuse_a_loss_that_pairs_real_with_fake(tiny_config):
    with pytest.raises(GanvasError, match="pairs each real image with a generated one.*d_step='joint'"):
        GAN(tiny_config.replace(loss="relativistic"), SHAPE, torch.device("cpu"))
    GAN(tiny_config.replace(loss="relativistic", d_step="joint"), SHAPE, torch.device("cpu"))


def test_separate_updates_take_r1_on_the_real_and_the_gradient_penalty_on_the_generated_update(tiny_config):
    real = real_batch(tiny_config)
    gan = GAN(tiny_config.replace(loss="wgan-gp", gp_weight=10.0), SHAPE, torch.device("cpu"))
    seen = []
    update = gan._update_discriminator
    gan._update_discriminator = lambda stats: seen.append(sorted(stats)) or update(stats)
    stats = gan.train_step(0, lambda i: (real, None))
    assert seen == [["d_loss"], ["d_loss", "gradient_penalty"]] and stats["gradient_penalty"] >= 0
    gan = GAN(tiny_config.replace(model="dcgan", width=8, spectral_norm=True, loss="hinge", r1_gamma=1.0),
              SHAPE, torch.device("cpu"))
    seen.clear()
    update = gan._update_discriminator
    gan._update_discriminator = lambda stats: seen.append(sorted(stats)) or update(stats)
    stats = gan.train_step(0, lambda i: (real, None))
    assert seen == [["d_loss", "r1_penalty"], ["d_loss"]] and torch.isfinite(stats["r1_penalty"])
