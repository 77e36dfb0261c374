import pytest
import torch

from ganvas.errors import GanvasError
from ganvas.models import build_discriminator, build_generator, get_model, model_names


@pytest.mark.parametrize("name", model_names())
def test_every_model_maps_latents_to_images_and_images_to_one_logit(name):
    torch.manual_seed(0)
    generator = build_generator(name, image_shape=(1, 28, 28), z_dim=100)
    discriminator = build_discriminator(name, image_shape=(1, 28, 28))
    images = generator(torch.randn(5, generator.z_dim))
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (5,)


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
