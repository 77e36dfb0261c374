"""Folder datasets: formats, channels, fit modes, labels, unreadable files, zips and the decode cache.

Every image is a tiny solid-colour (or striped) picture written by the test itself into tmp_path.
"""

import os
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.data import ImageDataset, load_image_folder
from ganvas.errors import DataError
from ganvas.paths import ganvas_home

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
LOSSY_TOLERANCE = 12  # JPEG and lossy WebP shift solid colours a little


def save(image: Image.Image, path, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def solid(colour, width=32, height=32, mode="RGB"):
    return Image.new(mode, (width, height), colour)


def stripes(colours, stripe_width=16, height=16):
    """Vertical stripes, left to right, each stripe_width wide."""
    image = Image.new("RGB", (stripe_width * len(colours), height))
    for index, colour in enumerate(colours):
        image.paste(colour, (index * stripe_width, 0, (index + 1) * stripe_width, height))
    return image


def pixel(dataset, index, row, column):
    """One pixel's channel values as a tuple."""
    return tuple(dataset.images[index, :, row, column].tolist())


def assert_close(actual, expected, tolerance=LOSSY_TOLERANCE):
    assert np.abs(np.array(actual, dtype=int) - np.array(expected)).max() <= tolerance, (actual, expected)


def half_transparent_rgba(width=32, height=32):
    """Left half fully transparent, right half opaque green."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((*GREEN, 255), (width // 2, 0, width, height))
    return image


def test_reads_every_format_and_size(tmp_path):
    save(solid(RED, 40, 30), tmp_path / "a.png")
    save(solid(GREEN, 30, 40), tmp_path / "b.jpg")
    save(solid(BLUE, 64, 64), tmp_path / "c.JPEG")
    save(solid(WHITE), tmp_path / "d.webp", lossless=True)
    save(solid(RED), tmp_path / "e.bmp")
    first, second = solid(GREEN).convert("P"), solid(BLUE).convert("P")
    save(first, tmp_path / "f.gif", save_all=True, append_images=[second])
    save(solid((0, 255, 0, 0), mode="CMYK"), tmp_path / "g.tiff")  # CMYK magenta
    save(solid(BLUE), tmp_path / "h.TIF")

    dataset = load_image_folder(tmp_path, size=16)

    assert isinstance(dataset, ImageDataset)
    assert dataset.images.shape == (8, 3, 16, 16) and dataset.images.dtype == torch.uint8
    assert dataset.labels is None and dataset.num_classes is None and dataset.class_names is None
    assert dataset.name == tmp_path.name
    expected = [RED, GREEN, BLUE, WHITE, RED, GREEN, (255, 0, 255), BLUE]  # the gif's first frame is green
    for index, colour in enumerate(expected):
        assert_close(pixel(dataset, index, 8, 8), colour)


def test_rgba_and_palette_transparency_keep_alpha(tmp_path):
    rgba = half_transparent_rgba()
    rgba.paste((*BLUE, 100), (16, 24, 32, 32))  # a see-through blue corner
    save(rgba, tmp_path / "a.png")
    palette_image = Image.new("P", (32, 32), 0)
    palette_image.putpalette([0, 0, 0, *RED])  # index 0 black (transparent), index 1 red
    palette_image.paste(1, (16, 0, 32, 32))
    save(palette_image, tmp_path / "b.png", transparency=0)

    dataset = load_image_folder(tmp_path, size=32)

    assert dataset.images.shape == (2, 4, 32, 32)
    assert pixel(dataset, 0, 5, 2)[3] == 0 and pixel(dataset, 0, 5, 30) == (*GREEN, 255)
    assert pixel(dataset, 0, 30, 30) == (*BLUE, 100)
    assert pixel(dataset, 1, 5, 2)[3] == 0 and pixel(dataset, 1, 5, 30) == (*RED, 255)


def test_background_flattens_transparency(tmp_path):
    save(half_transparent_rgba(), tmp_path / "a.png")

    dataset = load_image_folder(tmp_path, size=32, background="white")

    assert dataset.images.shape == (1, 3, 32, 32)
    assert pixel(dataset, 0, 5, 2) == WHITE and pixel(dataset, 0, 5, 30) == GREEN


def test_opaque_alpha_channel_gives_rgb(tmp_path):
    save(solid((*RED, 255), mode="RGBA"), tmp_path / "a.png")  # has alpha, but nothing is see-through

    assert load_image_folder(tmp_path, size=16).images.shape == (1, 3, 16, 16)


def test_all_grey_gives_one_channel(tmp_path):
    save(solid(100, mode="L"), tmp_path / "a.png")
    save(solid(200, mode="L"), tmp_path / "b.jpg")
    save(solid((50, 50, 50)), tmp_path / "c.png")  # RGB file, grey pixels
    save(Image.fromarray(np.full((32, 32), 0x8000, dtype=np.uint16)), tmp_path / "d.png")  # 16-bit grey
    grey_with_hole = Image.new("LA", (32, 32), (0, 0))
    grey_with_hole.paste((150, 255), (16, 0, 32, 32))
    save(grey_with_hole, tmp_path / "e.png")

    dataset = load_image_folder(tmp_path, size=32, background="white")

    assert dataset.images.shape == (5, 1, 32, 32)
    assert pixel(dataset, 0, 5, 5) == (100,) and pixel(dataset, 2, 5, 5) == (50,)
    assert_close(pixel(dataset, 1, 5, 5), (200,))
    assert pixel(dataset, 3, 5, 5) == (128,)  # 16 bits scaled down, not clipped to white
    assert pixel(dataset, 4, 5, 2) == (255,) and pixel(dataset, 4, 5, 30) == (150,)


def test_one_colour_image_makes_all_rgb(tmp_path):
    save(solid(100, mode="L"), tmp_path / "a.png")
    save(solid(RED), tmp_path / "b.png")

    dataset = load_image_folder(tmp_path, size=16)

    assert dataset.images.shape == (2, 3, 16, 16)
    assert pixel(dataset, 0, 8, 8) == (100, 100, 100)


def test_channels_can_be_forced(tmp_path):
    save(solid(100, mode="L"), tmp_path / "a.png")

    assert load_image_folder(tmp_path, size=16, channels="rgb").images.shape == (1, 3, 16, 16)
    assert load_image_folder(tmp_path, size=16, channels="rgba").images.shape == (1, 4, 16, 16)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90° clockwise to view, so the left (red) goes on top
    save(stripes([RED, BLUE], stripe_width=32, height=32), tmp_path / "a.jpg", exif=exif)

    dataset = load_image_folder(tmp_path, size=16, fit="stretch")

    assert_close(pixel(dataset, 0, 2, 8), RED)
    assert_close(pixel(dataset, 0, 13, 8), BLUE)


# A 48×16 image of red, green and blue thirds, fitted to 16×16.
THIRDS = [RED, GREEN, BLUE]


def load_thirds(tmp_path, **options):
    save(stripes(THIRDS), tmp_path / "thirds.png")
    return load_image_folder(tmp_path, size=16, **options)


def test_crop_keeps_the_middle(tmp_path):
    dataset = load_thirds(tmp_path, fit="crop")

    for row, column in [(0, 0), (8, 8), (15, 15)]:
        assert_close(pixel(dataset, 0, row, column), GREEN)


def test_stretch_keeps_everything(tmp_path):
    dataset = load_thirds(tmp_path, fit="stretch")

    for row in (0, 15):
        assert_close(pixel(dataset, 0, row, 1), RED)
        assert_close(pixel(dataset, 0, row, 8), GREEN)
        assert_close(pixel(dataset, 0, row, 14), BLUE)


def test_pad_adds_bars_above_and_below(tmp_path):
    dataset = load_thirds(tmp_path, fit="pad")  # scaled to 16×5, rows 5..9

    assert pixel(dataset, 0, 0, 8) == (0, 0, 0) and pixel(dataset, 0, 15, 8) == (0, 0, 0)
    assert_close(pixel(dataset, 0, 7, 1), RED)
    assert_close(pixel(dataset, 0, 7, 8), GREEN)
    assert_close(pixel(dataset, 0, 7, 14), BLUE)


def test_pad_bars_take_the_background(tmp_path):
    dataset = load_thirds(tmp_path, fit="pad", background="#ffffff")

    assert pixel(dataset, 0, 0, 8) == WHITE and pixel(dataset, 0, 15, 8) == WHITE


def test_pad_bars_are_transparent_for_transparent_data(tmp_path):
    save(half_transparent_rgba(), tmp_path / "square.png")
    dataset = load_thirds(tmp_path, fit="pad")

    assert dataset.images.shape == (2, 4, 16, 16)
    assert pixel(dataset, 1, 0, 8)[3] == 0 and pixel(dataset, 1, 7, 8)[3] == 255


def test_labels_from_sorted_subfolders(tmp_path):
    save(solid(RED), tmp_path / "dogs" / "b.png")
    save(solid(RED), tmp_path / "dogs" / "puppies" / "c.png")
    save(solid(GREEN), tmp_path / "cats" / "a.png")
    save(solid(BLUE), tmp_path / "ants" / "x.png")

    dataset = load_image_folder(tmp_path, size=16, labels=True)

    assert dataset.class_names == ["ants", "cats", "dogs"] and dataset.num_classes == 3
    assert dataset.labels.tolist() == [0, 1, 2, 2]  # files in sorted order: ants/, cats/, dogs/, dogs/puppies/
    colours = [pixel(dataset, index, 8, 8) for index in range(4)]
    assert colours == [BLUE, GREEN, RED, RED]


def test_labels_need_subfolders(tmp_path):
    save(solid(RED), tmp_path / "cats" / "a.png")
    save(solid(RED), tmp_path / "loose.png")

    with pytest.raises(DataError, match="sub-folders.*loose.png"):
        load_image_folder(tmp_path, size=16, labels=True)


def test_unreadable_files_are_skipped_with_one_warning(tmp_path):
    save(solid(RED), tmp_path / "good.png")
    (tmp_path / "corrupt.png").write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    whole = save(noise, tmp_path / "truncated.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(whole[: len(whole) // 2])

    with pytest.warns(UserWarning) as caught:
        dataset = load_image_folder(tmp_path, size=16)

    messages = [str(warning.message) for warning in caught if "unreadable" in str(warning.message)]
    assert len(messages) == 1
    assert "skipped 2" in messages[0] and "corrupt.png" in messages[0] and "truncated.jpg" in messages[0]
    assert len(dataset) == 1


def test_hidden_files_and_other_extensions_are_ignored(tmp_path):
    save(solid(RED), tmp_path / "a.png")
    save(solid(RED), tmp_path / "._a.png")  # macOS resource fork
    save(solid(RED), tmp_path / ".thumbnails" / "a.png")
    save(solid(RED), tmp_path / "__MACOSX" / "a.png")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / "notes.txt").write_text("not an image")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing was unreadable
        assert len(load_image_folder(tmp_path, size=16)) == 1


def test_symlinked_folders_are_followed_without_looping(tmp_path):
    save(solid(RED), tmp_path / "art" / "a.png")
    save(solid(RED), tmp_path / "elsewhere" / "b.png")
    (tmp_path / "art" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "art" / "loop").symlink_to(tmp_path / "art")

    assert len(load_image_folder(tmp_path / "art", size=16)) == 2


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")

    with pytest.raises(DataError, match=r"no images in .*\.png"):
        load_image_folder(tmp_path, size=16)


def test_only_unreadable_files_is_an_error(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")

    with pytest.raises(DataError, match="none of the 1 image files.*broken.png"):
        load_image_folder(tmp_path, size=16)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere", size=16)
    (tmp_path / "picture.txt").write_text("hi")
    with pytest.raises(DataError, match="neither a folder nor a .zip"):
        load_image_folder(tmp_path / "picture.txt", size=16)


@pytest.mark.parametrize("options, message", [
    ({"size": 15}, "out of range"),
    ({"size": 257}, "out of range"),
    ({"size": 32, "fit": "zoom"}, "unknown fit"),
    ({"size": 32, "channels": "cmyk"}, "unknown channels"),
    ({"size": 32, "background": "not-a-colour"}, "unknown colour"),
    ({"size": 32, "channels": "rgba", "background": "white"}, "cannot go with"),
])
def test_bad_options_are_errors(tmp_path, options, message):
    save(solid(RED), tmp_path / "a.png")

    with pytest.raises(DataError, match=message):
        load_image_folder(tmp_path, **options)


def test_zip_of_a_folder(tmp_path):
    folder = tmp_path / "zoo"
    save(solid(RED), folder / "cats" / "a.png")
    save(solid(GREEN), folder / "dogs" / "b.jpg")
    archive_path = tmp_path / "zoo.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for path in sorted(folder.rglob("*.*")):
            archive.write(path, path.relative_to(tmp_path).as_posix())  # zoo/cats/a.png: one top folder
        archive.writestr("__MACOSX/zoo/cats/._a.png", b"resource fork")

    dataset = load_image_folder(archive_path, size=16, labels=True)

    assert dataset.name == "zoo" and dataset.class_names == ["cats", "dogs"]
    assert dataset.labels.tolist() == [0, 1]
    assert pixel(dataset, 0, 8, 8) == RED
    assert_close(pixel(dataset, 1, 8, 8), GREEN)


class CountingOpen:
    """Stands in for PIL.Image.open, counting the files decoded."""

    def __init__(self):
        self.calls = 0
        self.original = Image.open

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.original(*args, **kwargs)


def test_cache_skips_decoding_until_files_change(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "art"
    save(solid(RED), folder / "a.png")
    save(solid(BLUE), folder / "b.png")
    counting_open = CountingOpen()
    monkeypatch.setattr(Image, "open", counting_open)

    first = load_image_folder(folder, size=16)
    assert counting_open.calls == 2
    assert "caching them in" in capsys.readouterr().err
    assert len(list((ganvas_home() / "image-cache").glob("*.npz"))) == 1

    again = load_image_folder(folder, size=16)
    assert counting_open.calls == 2  # read from the cache
    assert capsys.readouterr().err == ""
    assert np.array_equal(first.images.numpy(), again.images.numpy())

    os.utime(folder / "a.png", ns=(1_000_000_000, 1_000_000_000))
    load_image_folder(folder, size=16)
    assert counting_open.calls == 4  # a changed file: decoded again

    save(solid(GREEN), folder / "c.png")
    assert len(load_image_folder(folder, size=16)) == 3 and counting_open.calls == 7

    load_image_folder(folder, size=32)
    assert counting_open.calls == 10  # other options: another cache


def test_cache_keeps_labels_and_repeats_the_warning(tmp_path):
    save(solid(RED), tmp_path / "cats" / "a.png")
    (tmp_path / "dogs" / "broken.png").parent.mkdir()
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    save(solid(BLUE), tmp_path / "dogs" / "b.png")

    for _ in range(2):  # built, then read from the cache
        with pytest.warns(UserWarning, match="dogs/broken.png"):
            dataset = load_image_folder(tmp_path, size=16, labels=True)
        assert dataset.labels.tolist() == [0, 1] and dataset.class_names == ["cats", "dogs"]


def test_unwritable_cache_only_warns(tmp_path, monkeypatch):
    (tmp_path / "home").write_text("a file where the cache folder should go")
    monkeypatch.setenv("GANVAS_HOME", str(tmp_path / "home"))
    save(solid(RED), tmp_path / "art" / "a.png")

    with pytest.warns(UserWarning, match="cannot write the image cache"):
        assert len(load_image_folder(tmp_path / "art", size=16)) == 1
