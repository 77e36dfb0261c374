import inspect
import re

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils import parametrize

from ganvas.config import preset_config
from ganvas.errors import GanvasError
from ganvas.gan import GAN
from ganvas.models import (build_discriminator, build_generator, discriminate, generate, get_model, is_conditional,
                           model_names)
from ganvas.models.layers import ConditionalBatchNorm2d, plan_resolutions
from ganvas.models.lightweight import SkipLayerExcitation

SHAPES = [(1, 28, 28), (3, 32, 32), (4, 64, 64)]
CONV_MODELS = ["dcgan", "dcgan-cond", "lightweight", "resnet", "resnet-cond"]
CONDITIONAL_MODELS = [name for name in model_names() if get_model(name).conditional]
NUM_CLASSES = 3
BATCH = 4


def tiny_options(cls: type[nn.Module]) -> dict:
    """The options that keep a registered net small enough for the whole file to run in seconds."""
    accepted = inspect.signature(cls).parameters
    return {key: value for key, value in {"width": 8, "hidden": (32,)}.items() if key in accepted}


def build_pair(name: str, image_shape=(1, 28, 28), **discriminator_options) -> tuple[nn.Module, nn.Module]:
    spec = get_model(name)
    classes = {"num_classes": NUM_CLASSES} if spec.conditional else {}
    generator = build_generator(name, image_shape=image_shape, z_dim=16, **tiny_options(spec.generator), **classes)
    discriminator = build_discriminator(name, image_shape=image_shape, **tiny_options(spec.discriminator),
                                        **classes, **discriminator_options)
    return generator, discriminator


def some_labels(count: int = BATCH) -> torch.Tensor:
    return torch.arange(count) % NUM_CLASSES


def test_the_registry_holds_the_conditional_and_unconditional_pairs():
    assert set(CONV_MODELS) <= set(model_names())
    assert CONDITIONAL_MODELS == ["dcgan-cond", "resnet-cond"]


@pytest.mark.parametrize("image_shape", SHAPES)
@pytest.mark.parametrize("name", model_names())
def test_every_model_maps_latents_to_images_and_images_to_one_logit_with_gradients_everywhere(name, image_shape):
    torch.manual_seed(0)
    generator, discriminator = build_pair(name, image_shape)
    assert generator.image_shape == image_shape
    labels = some_labels()  # unconditional nets ignore them, so a trainer can always pass them
    images = generate(generator, torch.randn(BATCH, generator.z_dim), labels)
    assert images.shape == (BATCH, *image_shape)
    assert images.min() >= -1 and images.max() <= 1
    logits = discriminate(discriminator, images, labels)
    assert logits.shape == (BATCH,)

    loss = logits.mean()
    auxiliary = getattr(discriminator, "auxiliary_loss", None)
    if callable(auxiliary):  # parts of D (a decoder) may learn only from its self-supervised loss, as in training
        loss = loss + auxiliary(torch.rand(BATCH, *image_shape) * 2 - 1)
    loss.backward()
    without_gradient = [f"{type(net).__name__}.{key}" for net in (generator, discriminator)
                        for key, parameter in net.named_parameters()
                        if parameter.grad is None or not parameter.grad.abs().sum() > 0]
    assert without_gradient == []


@pytest.mark.parametrize("image_shape", SHAPES)
@pytest.mark.parametrize("name", model_names())
def test_weights_round_trip_through_safetensors_into_a_fresh_instance(name, image_shape, tmp_path):
    torch.manual_seed(0)
    generator, discriminator = build_pair(name, image_shape)
    z, labels = torch.randn(BATCH, generator.z_dim), some_labels()
    discriminate(discriminator, generate(generator, z, labels), labels)  # moves BN statistics and SN vectors
    torch.manual_seed(1)
    fresh_generator, fresh_discriminator = build_pair(name, image_shape)

    for net, fresh in ((generator, fresh_generator), (discriminator, fresh_discriminator)):
        save_file(net.state_dict(), tmp_path / "weights.safetensors")
        fresh.load_state_dict(load_file(tmp_path / "weights.safetensors"))
        net.eval()
        fresh.eval()
    images = generate(generator, z, labels)
    assert torch.equal(generate(fresh_generator, z, labels), images)
    assert torch.equal(discriminate(fresh_discriminator, images, labels), discriminate(discriminator, images, labels))


@pytest.mark.parametrize("name, options", [("dcgan", {"spectral_norm": True}), ("dcgan-cond", {"spectral_norm": True}),
                                           ("resnet", {}), ("resnet-cond", {})])
def test_spectral_norm_holds_every_discriminator_weight_at_largest_singular_value_one(name, options):
    torch.manual_seed(0)
    _, discriminator = build_pair(name, (3, 32, 32), **options)
    weighted = {key: module for key, module in discriminator.named_modules()
                if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding))}
    assert [key for key, module in weighted.items() if not parametrize.is_parametrized(module, "weight")] == []
    assert not any(isinstance(module, nn.BatchNorm2d) for module in discriminator.modules())

    with torch.no_grad():  # whatever the raw weights' scale, the normalised ones have σ_max = 1
        for module in weighted.values():
            module.parametrizations.weight.original.mul_(10)
    images = torch.randn(BATCH, 3, 32, 32)
    for _ in range(20):  # each training-mode forward runs one more power iteration
        discriminate(discriminator, images, some_labels())
    discriminator.eval()
    with torch.no_grad():
        largest = {key: torch.linalg.matrix_norm(module.weight.flatten(1), ord=2).item()
                   for key, module in weighted.items()}
    assert largest == pytest.approx({key: 1.0 for key in largest}, abs=0.02)


def test_dcgan_follows_radfords_layout():
    generator, discriminator = build_pair("dcgan", (3, 64, 64))  # width 8, 4 stages from 4×4
    assert generator.project.out_features == 64 * 4 * 4
    assert [m.out_channels for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)] == [32, 16, 8, 3]
    assert [m.out_channels for m in discriminator.modules() if isinstance(m, nn.Conv2d)] == [8, 16, 32, 64]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == 3  # none after the first conv


@pytest.mark.parametrize("name", CONDITIONAL_MODELS)
def test_conditional_nets_start_class_blind_in_g_and_learn_to_depend_on_the_label(name):
    torch.manual_seed(0)
    generator, discriminator = build_pair(name)
    z = torch.randn(1, generator.z_dim).repeat(2, 1)
    two_classes = torch.tensor([0, 1])

    def images_for_two_classes():
        generator.eval()
        with torch.no_grad():
            images = generate(generator, z, two_classes)
        generator.train()
        return images

    initial = images_for_two_classes()
    assert torch.equal(initial[0], initial[1])  # every class starts at gain 1, bias 0
    logits = discriminate(discriminator, initial, two_classes)
    assert logits[0] != logits[1]  # the projection term reads the label from the start

    discriminate(discriminator, generate(generator, torch.randn(BATCH, generator.z_dim), some_labels()),
                 some_labels()).mean().backward()
    with torch.no_grad():  # one gradient step
        for parameter in generator.parameters():
            parameter -= 0.1 * parameter.grad
    trained = images_for_two_classes()
    assert not torch.allclose(trained[0], trained[1])


def test_conditional_batch_norm_without_classes_is_plain_batch_norm():
    assert set(ConditionalBatchNorm2d(5).state_dict()) == set(nn.BatchNorm2d(5).state_dict())


@pytest.mark.parametrize("name", CONDITIONAL_MODELS)
def test_conditional_nets_called_without_labels_say_so(name):
    generator, discriminator = build_pair(name)
    assert is_conditional(generator) and is_conditional(discriminator)
    z, images = torch.randn(2, generator.z_dim), torch.randn(2, 1, 28, 28)
    for call in (lambda: generate(generator, z), lambda: discriminate(discriminator, images),
                 lambda: generator(z), lambda: discriminator(images)):
        with pytest.raises(GanvasError, match="class-conditional.*call it with labels"):
            call()


def test_the_registry_name_decides_whether_num_classes_is_needed():
    with pytest.raises(GanvasError, match="'dcgan-cond' is class-conditional: give num_classes"):
        build_generator("dcgan-cond", image_shape=(1, 28, 28))
    with pytest.raises(GanvasError, match="'resnet' is unconditional"):
        build_discriminator("resnet", image_shape=(1, 28, 28), num_classes=10)


@pytest.mark.parametrize("side, plan", [(8, (4, 1)), (28, (7, 2)), (32, (4, 3)), (48, (6, 3)), (64, (4, 4))])
def test_size_plan_halves_down_to_a_base_of_4_to_7(side, plan):
    assert plan_resolutions((1, side, side)) == plan


@pytest.mark.parametrize("image_shape", [(1, 30, 30), (1, 28, 32), (3, 4, 4)])
@pytest.mark.parametrize("name", CONV_MODELS)
def test_convolutional_models_refuse_sizes_they_cannot_plan(name, image_shape):
    classes = {"num_classes": NUM_CLASSES} if get_model(name).conditional else {}
    with pytest.raises(GanvasError, match=re.escape(f"image shape {image_shape}")):
        build_generator(name, image_shape=image_shape, **classes)
    with pytest.raises(GanvasError, match=re.escape(f"image shape {image_shape}")):
        build_discriminator(name, image_shape=image_shape, **classes)


def test_mlp_has_the_tutorials_layer_sizes():
    generator = build_generator("mlp", image_shape=(1, 28, 28), z_dim=100)
    discriminator = build_discriminator("mlp", image_shape=(1, 28, 28))
    linear_shapes = lambda m: [(l.in_features, l.out_features) for l in m.modules() if isinstance(l, torch.nn.Linear)]
    assert linear_shapes(generator) == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert linear_shapes(discriminator) == [(784, 1024), (1024, 512), (512, 256), (256, 1)]
    assert isinstance(generator.net[-1], torch.nn.Tanh)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(GanvasError, match="unknown model 'nope'.*mlp"):
        get_model("nope")


def test_lightweight_gates_large_maps_with_skip_layer_excitation_from_maps_4x_smaller():
    torch.manual_seed(0)
    generator, _ = build_pair("lightweight", (3, 32, 32))
    sides = []
    for module in generator.excitations:
        module.register_forward_hook(lambda m, inputs, output: sides.append((inputs[0].shape[-1], output.shape[-1])))
    generator.eval()
    z = torch.randn(BATCH, generator.z_dim)
    with torch.no_grad():
        gated = generator(z)
    assert sides == [(4, 16), (8, 32)]

    for module in generator.excitations:  # force every gate open: the large map passes unchanged
        module.register_forward_hook(lambda m, inputs, output: inputs[1])
    with torch.no_grad():
        ungated = generator(z)
    assert not torch.allclose(gated, ungated, atol=1e-4)


def test_skip_layer_excitation_scales_channels_by_gates_computed_from_the_small_map():
    torch.manual_seed(0)
    excitation = SkipLayerExcitation(small_channels=6, large_channels=5)
    small, large = torch.randn(2, 6, 8, 8), torch.randn(2, 5, 32, 32)
    gated = excitation(small, large)
    gates = gated / large
    assert torch.allclose(gates, gates[:, :, :1, :1].expand_as(gates), atol=1e-5)  # one gate per channel
    assert ((gates > 0) & (gates < 1)).all()
    assert not torch.allclose(excitation(torch.zeros_like(small), large), gated)


def test_lightweight_auxiliary_loss_trains_the_decoder_and_the_trunk_and_goes_down():
    torch.manual_seed(0)
    _, discriminator = build_pair("lightweight", (3, 32, 32))
    real = torch.rand(BATCH, 3, 32, 32) * 2 - 1
    loss = discriminator.auxiliary_loss(real)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    for part in (discriminator.trunk, discriminator.decoder):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())

    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = discriminator.auxiliary_loss(real)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_lightweight_trains_in_a_gan_with_its_auxiliary_loss_and_separate_d_passes():
    config = preset_config("seed", model="lightweight", width=8, batch_size=4, loss="hinge")
    gan = GAN(config, (3, 32, 32), torch.device("cpu"))
    assert gan.separate_d_passes  # D has batch norm
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    reconstructed = []
    auxiliary_loss = gan.discriminator.auxiliary_loss
    gan.discriminator.auxiliary_loss = lambda images: reconstructed.append(images) or auxiliary_loss(images)
    for step in range(2):
        stats = gan.train_step(step, lambda i: (real, None))
        assert all(torch.isfinite(value) for value in stats.values()), f"step {step}: {stats}"
        assert stats["d_auxiliary_loss"] > 0, "the reconstruction loss is logged beside D's objective"
    assert gan.weights_are_finite()
    assert [torch.equal(images, real) for images in reconstructed] == [True, True]  # once per D step, on the reals


@pytest.mark.parametrize("image_shape, counts", [((3, 32, 32), (1_929_123, 830_372)),
                                                 ((3, 64, 64), (6_174_883, 3_080_100))])
def test_lightweight_parameter_counts_at_the_default_width(image_shape, counts):
    generator = build_generator("lightweight", image_shape=image_shape, z_dim=100)
    discriminator = build_discriminator("lightweight", image_shape=image_shape)
    assert tuple(sum(p.numel() for p in net.parameters()) for net in (generator, discriminator)) == counts
