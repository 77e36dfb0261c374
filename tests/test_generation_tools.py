"""Truncation, latent walks (GIF and MP4) and variations: the maths, the writers and the commands."""

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.animation import write_animation
from ganvas.cli import main
from ganvas.errors import GanvasError
from ganvas.latents import ease, gaussian_latents, keyframe_path, slerp, truncate, variations

TINY = ["--split", "test", "--batch-size", "16", "--steps", "2", "--eval-every", "0", "--sample-every", "2",
        "--checkpoint-every", "2", "--no-progress"]


def unit(vector):
    return vector / vector.norm()


def test_slerp_hits_both_endpoints_exactly():
    a, b = gaussian_latents(2, 16, seed=1)
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_slerp_between_unit_vectors_stays_on_the_unit_sphere():
    a, b = (unit(z) for z in gaussian_latents(2, 16, seed=2))
    norms = slerp(a, b, torch.linspace(0, 1, 11)).norm(dim=1)
    assert torch.allclose(norms, torch.ones(11), atol=1e-6)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_slerp_of_parallel_and_antiparallel_vectors_is_finite(sign):
    a = gaussian_latents(1, 16, seed=3)[0]
    path = slerp(a, sign * a, torch.linspace(0, 1, 5))
    assert torch.isfinite(path).all() and torch.equal(path[0], a) and torch.equal(path[-1], sign * a)


@pytest.mark.parametrize("easing", ["linear", "smooth"])
def test_easing_is_monotone_from_0_to_1(easing):
    eased = ease(torch.linspace(0, 1, 101, dtype=torch.float64), easing)
    assert eased[0] == 0 and eased[-1] == 1 and (eased.diff() >= 0).all()


def test_unknown_easing_is_refused():
    with pytest.raises(GanvasError, match="unknown easing"):
        ease(torch.zeros(1), "bouncy")


def rows_in(path, keyframes):
    return [next(i for i, z in enumerate(path) if torch.equal(z, key)) for key in keyframes]


@pytest.mark.parametrize("frames", [4, 10, 11])
def test_a_walk_has_the_frames_asked_for_and_passes_through_every_keyframe(frames):
    keyframes = gaussian_latents(4, 8, seed=4)
    path = keyframe_path(keyframes, frames, easing="smooth")
    assert len(path) == frames
    indices = rows_in(path, keyframes)
    assert indices[0] == 0 and indices[-1] == frames - 1 and indices == sorted(indices)


def test_a_looping_walk_ends_one_step_before_the_first_keyframe():
    keyframes = gaussian_latents(3, 8, seed=5)
    path = keyframe_path(keyframes, 12, loop=True)
    assert len(path) == 12 and rows_in(path, keyframes) == [0, 4, 8]
    one_step_on = slerp(keyframes[2], keyframes[0], torch.tensor([0.75]))[0]
    assert torch.allclose(path[-1], one_step_on)


def test_a_walk_needs_two_keyframes_and_a_frame_for_each():
    with pytest.raises(GanvasError, match="at least 2 keyframes"):
        keyframe_path(gaussian_latents(1, 8, seed=0), 10)
    with pytest.raises(GanvasError, match="frames= must be at least"):
        keyframe_path(gaussian_latents(3, 8, seed=0), 2)


def test_truncation_scales_toward_the_mean_and_1_is_off():
    z = gaussian_latents(4, 8, seed=6)
    assert torch.equal(truncate(z, 1.0), z)
    assert torch.allclose(truncate(z, 0.5), z * 0.5)


@pytest.mark.parametrize("psi", [0.0, -0.5, 1.5, float("nan")])
def test_truncation_out_of_range_is_refused(psi):
    with pytest.raises(GanvasError, match="truncation="):
        truncate(torch.zeros(1, 8), psi)


def test_variations_start_from_the_seeds_latent_and_strength_0_keeps_it():
    original = gaussian_latents(1, 8, seed=7)
    assert torch.equal(variations(5, 8, seed=7, strength=0.0), original.expand(5, 8))
    near = variations(5, 8, seed=7, strength=0.3)
    assert torch.equal(near[0], original[0]) and torch.equal(near, variations(5, 8, seed=7, strength=0.3))
    assert not torch.equal(near[1], near[2])
    with pytest.raises(GanvasError, match="strength="):
        variations(5, 8, seed=7, strength=1.5)


def distinct_frames(count, *shape):
    frames = np.random.default_rng(0).integers(0, 256, size=(count, *shape), dtype=np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        frames[:, : shape[0] // 2, :, 3] = 0  # the top half see-through
        frames[:, shape[0] // 2:, :, 3] = 255
    return frames


def test_a_gif_repeats_forever_with_every_frame_and_greyscale_stays_grey(tmp_path):
    write_animation(distinct_frames(6, 10, 12), tmp_path / "walk.gif", fps=20, scale=2)
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 6 and gif.info["loop"] == 0 and gif.info["duration"] == 50 and gif.size == (24, 20)
    rgb = np.asarray(gif.convert("RGB"))
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_rgba_frames_make_a_gif_whose_low_alpha_is_transparent(tmp_path):
    frames = distinct_frames(3, 10, 12, 4)
    write_animation(frames, tmp_path / "walk.gif")
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 3 and "transparency" in gif.info
    gif.seek(2)
    alpha = np.asarray(gif.convert("RGBA"))[..., 3]
    assert np.array_equal(alpha == 0, frames[2, ..., 3] < 128)


def test_an_mp4_has_every_frame_flattened_and_padded_to_even_sizes(tmp_path):
    imageio = pytest.importorskip("imageio.v2")
    pytest.importorskip("imageio_ffmpeg")
    write_animation(distinct_frames(5, 9, 11, 4), tmp_path / "walk.mp4", fps=10)
    with imageio.get_reader(tmp_path / "walk.mp4") as reader:
        assert reader.count_frames() == 5 and reader.get_data(0).shape == (10, 12, 3)


def test_mp4_without_imageio_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes `import imageio_ffmpeg` fail
    with pytest.raises(GanvasError, match=r"pip install 'ganvas\[video\]'"):
        write_animation(distinct_frames(2, 8, 8), tmp_path / "walk.mp4")
    assert not (tmp_path / "walk.mp4").exists()


def test_unknown_animation_format_is_refused(tmp_path):
    with pytest.raises(GanvasError, match=".gif or .mp4"):
        write_animation(distinct_frames(2, 8, 8), tmp_path / "walk.avi")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A 2-step MNIST-like run, shared by the command tests (training is the slow part)."""
    from conftest import digit_like_images, write_mnist_split

    folder = tmp_path_factory.mktemp("tools")
    pixels, labels = digit_like_images(32)
    mnist = write_mnist_split(folder / "mnist", pixels, labels, "test")
    assert main(["train", "--data-dir", str(mnist), "--run", str(folder / "run"), *TINY]) == 0
    return folder / "run"


def test_sample_with_truncation_pulls_images_toward_the_average(trained_run, tmp_path):
    for name, psi in [("off", "1"), ("default", None), ("half", "0.5")]:
        extra = ["--truncation", psi] if psi else []
        assert main(["sample", str(trained_run), "--n", "4", "--npy", str(tmp_path / f"{name}.npy"), *extra]) == 0
    off, default, half = (np.load(tmp_path / f"{name}.npy") for name in ["off", "default", "half"])
    assert np.array_equal(off, default) and not np.array_equal(off, half)


def test_interpolate_writes_a_looping_greyscale_gif(trained_run, tmp_path, capsys):
    out = tmp_path / "walk.gif"
    assert main(["interpolate", str(trained_run), "--seeds", "1,7,42", "--frames", "9", "--loop", "--ease", "smooth",
                 "--out", str(out)]) == 0
    gif = Image.open(out)
    assert gif.n_frames == 9 and gif.info["loop"] == 0 and gif.size == (56, 56)  # 28 px shown 2x
    assert "9 frames" in capsys.readouterr().out


def test_interpolate_from_an_rgba_run_keeps_transparency_in_the_gif(tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    for index, pixels in enumerate(distinct_frames(4, 16, 16, 4)):
        Image.fromarray(pixels, "RGBA").save(folder / f"{index}.png")
    run = tmp_path / "run"
    assert main(["train", "--data", str(folder), "--size", "16", "--model", "dcgan", "--width", "8", "--batch-size",
                 "4", "--steps", "2", "--eval-every", "0", "--run", str(run), "--no-progress"]) == 0
    out = tmp_path / "walk.gif"
    assert main(["interpolate", str(run), "--seeds", "1,2", "--frames", "4", "--out", str(out)]) == 0
    assert "transparency" in Image.open(out).info


def test_interpolate_to_mp4(trained_run, tmp_path):
    imageio = pytest.importorskip("imageio.v2")
    pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "walk.mp4"
    assert main(["interpolate", str(trained_run), "--seeds", "1,2", "--frames", "6", "--scale", "1",
                 "--out", str(out)]) == 0
    with imageio.get_reader(out) as reader:
        assert reader.count_frames() == 6 and reader.get_data(0).shape == (28, 28, 3)


def test_variations_grid_starts_with_the_seeds_own_image(trained_run, tmp_path):
    assert main(["variations", str(trained_run), "--seed", "7", "--n", "4", "--strength", "0.3",
                 "--out-dir", str(tmp_path / "near")]) == 0
    assert main(["sample", str(trained_run), "--n", "1", "--seed", "7", "--npy", str(tmp_path / "seed7.npy")]) == 0
    first = np.asarray(Image.open(tmp_path / "near" / "0.png"))
    assert np.array_equal(first, np.load(tmp_path / "seed7.npy")[0]) and len(list((tmp_path / "near").iterdir())) == 4
    assert main(["variations", str(trained_run), "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size == (2 * (2 * 30 + 2),) * 2


@pytest.mark.parametrize("argv, message", [
    (["interpolate", "RUN", "--seeds", "1,2", "--out", "walk.avi"], ".gif or .mp4"),
    (["interpolate", "RUN", "--seeds", "1", "--out", "walk.gif"], "at least 2 keyframes"),
    (["interpolate", "RUN", "--seeds", "1,2", "--ease", "bouncy", "--out", "walk.gif"], "unknown easing"),
    (["interpolate", "RUN", "--seeds", "1,2", "--class", "3", "--out", "walk.gif"], "unconditional"),
    (["sample", "RUN", "--truncation", "0"], "--truncation must be in (0, 1]"),
    (["variations", "RUN", "--strength", "2"], "--strength must be from 0 to 1"),
])
def test_bad_input_is_one_clear_line(argv, message, trained_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(trained_run) if arg == "RUN" else arg for arg in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
