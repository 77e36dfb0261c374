"""DiffAugment: shapes, reproducibility, gradients, and what each augmentation does to simple images."""

import pytest
import torch

from ganvas.augment import BRIGHTNESS_SHIFT, FILL, augment, parse_policy
from ganvas.errors import GanvasError

POLICIES = ["color", "translation", "cutout", "flip"]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_images(count=8, channels=3, height=16, width=16, seed=0) -> torch.Tensor:
    return torch.rand(count, channels, height, width, generator=seeded(seed)) * 2 - 1


@pytest.mark.parametrize("policy", POLICIES + ["color,translation,cutout"])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_has_the_input_shape_dtype_and_device(policy, channels, dtype):
    images = random_images(channels=channels, height=12, width=20).to(dtype)
    augmented = augment(images, policy, seeded(1))
    assert (augmented.shape, augmented.dtype, augmented.device) == (images.shape, images.dtype, images.device)


@pytest.mark.parametrize("policy", ["", "none", ()])
def test_empty_policy_is_identity(policy):
    images = random_images()
    assert augment(images, policy, seeded(1)) is images


def test_same_seed_same_result_and_different_seeds_differ():
    images = random_images()
    policy = ("color", "translation", "cutout")
    assert torch.equal(augment(images, policy, seeded(5)), augment(images, policy, seeded(5)))
    assert not torch.equal(augment(images, policy, seeded(5)), augment(images, policy, seeded(6)))


def test_global_rng_when_no_generator():
    images = random_images()
    torch.manual_seed(3)
    first = augment(images, "color,translation,cutout", None)
    torch.manual_seed(3)
    assert torch.equal(first, augment(images, "color,translation,cutout", None))


@pytest.mark.parametrize("policy", POLICIES)
def test_gradients_flow_to_the_input(policy):
    images = random_images(channels=4).requires_grad_(True)
    augment(images, policy, seeded(2)).sum().backward()
    assert torch.isfinite(images.grad).all()
    assert images.grad.abs().sum() > 0


def test_translation_moves_a_pixel_at_most_an_eighth_and_fills_the_border():
    count, height, width = 64, 16, 24  # at most 2 rows and 3 columns
    images = torch.full((count, 2, height, width), 0.5)
    images[:, :, 8, 12] = 1.0
    augmented = augment(images, "translation", seeded(0))
    shifts = set()
    for image in augmented:
        (row, column), = (image[0] == 1.0).nonzero().tolist()
        dy, dx = row - 8, column - 12
        assert abs(dy) <= height // 8 and abs(dx) <= width // 8
        shifts.add((dy, dx))
        expected = torch.full((height, width), FILL)
        expected[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = 0.5
        expected[row, column] = 1.0
        assert torch.equal(image, expected.expand_as(image))  # every channel, alpha included
    assert len(shifts) > 10  # shifts are drawn per sample
    assert FILL == -1.0  # black: the background of our datasets (docs/augment.md)


@pytest.mark.parametrize("size", [16, 15])
def test_cutout_fills_a_square_of_half_the_side_clipped_at_the_borders(size):
    side = size // 2
    images = torch.full((200, 3, size, size), 0.5)
    augmented = augment(images, "cutout", seeded(0))
    assert ((augmented == FILL) | (augmented == 0.5)).all()
    filled = augmented == FILL
    assert torch.equal(filled, filled[:, :1].expand_as(filled))  # the same patch in every channel
    full_squares = 0
    for patch in filled[:, 0]:
        rows, columns = patch.any(dim=1).nonzero().flatten(), patch.any(dim=0).nonzero().flatten()
        top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
        assert patch.sum() == (bottom - top) * (right - left)  # a filled rectangle...
        for start, end in ((top, bottom), (left, right)):  # ...with sides of `side` unless clipped
            assert end - start == side or ((start == 0 or end == size) and side // 2 <= end - start < side)
        full_squares += int(patch.sum() == side * side)
    assert 0 < full_squares < len(filled)  # both whole and clipped patches occur


def test_flip_mirrors_about_half_the_samples_and_leaves_the_others():
    images = random_images(count=64)
    flipped = augment(images, "flip", seeded(0))
    mirrored = [torch.equal(out, image.flip(2)) for out, image in zip(flipped, images)]
    kept = [torch.equal(out, image) for out, image in zip(flipped, images)]
    assert all(m != k for m, k in zip(mirrored, kept)), "each sample is mirrored or left as it was"
    assert 16 <= sum(mirrored) <= 48


def test_color_leaves_alpha_alone_and_keeps_a_grey_image_uniform():
    images = torch.full((64, 4, 8, 8), 0.2)
    images[:, 3] = torch.linspace(-1, 1, 64)[:, None, None]
    augmented = augment(images, "color", seeded(0))
    assert torch.equal(augmented[:, 3], images[:, 3])
    colour = augmented[:, :3]
    assert torch.allclose(colour, colour[:, :1, :1, :1].expand_as(colour), atol=1e-6)  # still uniform and grey
    assert not torch.allclose(colour, images[:, :3])


def test_color_on_greyscale_changes_brightness_and_contrast():
    images = random_images(count=4, channels=1)
    augmented = augment(images, "color", seeded(0))
    assert not torch.allclose(augmented, images)
    assert torch.isfinite(augmented).all()


def test_brightness_shifts_uniformly_by_up_to_half_in_minus_one_to_one_units():
    # On a uniform grey image saturation and contrast do nothing, so the change is the brightness shift alone.
    images = torch.zeros(4000, 3, 2, 2)
    shifts = augment(images, "color", seeded(0))[:, 0, 0, 0]
    assert shifts.min() >= -BRIGHTNESS_SHIFT and shifts.max() <= BRIGHTNESS_SHIFT
    assert shifts.min() < -0.49 and shifts.max() > 0.49
    assert abs(shifts.mean()) < 0.02 and abs(shifts.std() - 1 / 12 ** 0.5) < 0.01  # U(-0.5, 0.5)


def test_saturation_and_contrast_scale_by_their_ranges():
    # Per pixel, colour = grey + chroma: contrast scales the grey's spatial variation by k ~ U(0.5, 1.5),
    # saturation then contrast scale chroma by s·k with s ~ U(0, 2); brightness moves neither.
    images = random_images(count=2000, height=2, width=2)
    augmented = augment(images, "color", seeded(0))

    def grey_and_chroma(batch):
        grey = batch.mean(dim=1, keepdim=True)
        return grey - grey.mean(dim=(2, 3), keepdim=True), batch - grey

    grey_in, chroma_in = grey_and_chroma(images)
    grey_out, chroma_out = grey_and_chroma(augmented)
    contrast = (grey_out * grey_in).sum(dim=(1, 2, 3)) / grey_in.square().sum(dim=(1, 2, 3))
    saturation = (chroma_out * chroma_in).sum(dim=(1, 2, 3)) / chroma_in.square().sum(dim=(1, 2, 3)) / contrast
    assert torch.allclose(chroma_out, (saturation * contrast)[:, None, None, None] * chroma_in, atol=1e-5)
    assert 0.5 <= contrast.min() < 0.52 and 1.48 < contrast.max() <= 1.5
    assert 0 <= saturation.min() < 0.02 and 1.98 < saturation.max() <= 2 + 1e-5


def test_parse_policy():
    assert parse_policy("translation,cutout,color") == ("translation", "cutout", "color")
    assert parse_policy(" color, cutout ") == ("color", "cutout")
    assert parse_policy("") == parse_policy("none") == ()


@pytest.mark.parametrize("text", ["colour", "color,rotate", "color,"])
def test_unknown_policy_names_the_valid_ones(text):
    with pytest.raises(GanvasError, match="color, translation, cutout, flip"):
        parse_policy(text)


def test_augment_rejects_unknown_names_in_a_tuple():
    with pytest.raises(GanvasError, match="'blur'"):
        augment(random_images(), ("color", "blur"), None)
