"""The GPU path's options, checked on the CPU: channels-last and torch.compile train the same model."""

import pytest
import torch

from ganvas.config import preset_config
from ganvas.errors import GanvasError
from ganvas.gan import GAN


def trained(config, steps=2):
    gan = GAN(config, (3, 16, 16), torch.device("cpu"))
    real = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for step in range(steps):
        gan.train_step(step, lambda i: (real, None))
    return gan


def assert_same_weights(a, b):
    for module_a, module_b in [(a.generator, b.generator), (a.discriminator, b.discriminator)]:
        for (name, x), (_, y) in zip(module_a.state_dict().items(), module_b.state_dict().items()):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4, msg=name)


BASE = dict(model="dcgan", width=8, batch_size=8, loss="hinge", spectral_norm=True, augment="translation,color")


def test_channels_last_trains_the_same_model():
    plain = trained(preset_config("seed", **BASE))
    nhwc = trained(preset_config("seed", **BASE, channels_last=True))
    conv = next(p for p in nhwc.generator.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert_same_weights(plain, nhwc)


def test_compile_refuses_gradient_penalties():
    with pytest.raises(GanvasError, match="compile= cannot take the second derivatives"):
        preset_config("seed", compile=True, loss="wgan-gp", gp_weight=10.0)


@pytest.mark.slow
def test_compile_trains_the_same_model():  # compiling takes about a minute on a CPU
    plain = trained(preset_config("seed", **BASE))
    compiled = trained(preset_config("seed", **BASE, compile=True))
    assert_same_weights(plain, compiled)
    assert list(compiled.generator.state_dict()) == list(plain.generator.state_dict()), "checkpoints unchanged"
