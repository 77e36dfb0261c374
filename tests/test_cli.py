"""The `ganvas` command end to end, as a user runs it, on a tiny MNIST folder."""

import numpy as np
import pytest
from PIL import Image

from ganvas.cli import main

TINY = ["--split", "test", "--batch-size", "16", "--log-every", "2", "--sample-every", "2",
        "--checkpoint-every", "2", "--no-progress"]


@pytest.fixture
def trained_run(mnist_dir, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(mnist_dir), "--steps", "4", "--run", str(run), *TINY]) == 0
    return run


def test_train_then_sample_a_grid(trained_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", str(trained_run), "--n", "9", "--seed", "7", "--out", str(out)]) == 0
    grid = Image.open(out)
    assert grid.mode == "L" and grid.size == (2 * (3 * 30 + 2),) * 2  # 3x3 tiles of 28 px + 2 px padding, shown 2x
    assert "9 images" in capsys.readouterr().out


def test_sample_writes_arrays_and_one_png_per_image(trained_run, tmp_path):
    assert main(["sample", str(trained_run), "--n", "5", "--seed", "7", "--npy", str(tmp_path / "a.npy"),
                 "--out-dir", str(tmp_path / "images")]) == 0
    array = np.load(tmp_path / "a.npy")
    assert array.shape == (5, 28, 28) and array.dtype == np.uint8
    files = sorted((tmp_path / "images").iterdir())
    assert len(files) == 5
    assert np.array_equal(np.asarray(Image.open(files[3])), array[3])


def test_the_same_seed_gives_the_same_images(trained_run, tmp_path):
    for name, seed in [("a", "7"), ("b", "7"), ("c", "8")]:
        main(["sample", str(trained_run), "--n", "4", "--seed", seed, "--npy", str(tmp_path / f"{name}.npy")])
    a, b, c = (np.load(tmp_path / f"{name}.npy") for name in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_resume_continues_to_the_new_total_and_refuses_changed_settings(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run), "--steps", "6", "--no-progress"]) == 0
    assert "to step 6" in capsys.readouterr().out
    assert main(["train", "--resume", str(trained_run), "--batch-size", "8"]) == 1
    assert "drop --batch-size" in capsys.readouterr().err


def test_an_existing_run_needs_resume_or_overwrite(trained_run, mnist_dir, capsys):
    assert main(["train", "--data-dir", str(mnist_dir), "--steps", "2", "--run", str(trained_run), *TINY]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--data-dir", "MISSING", "--split", "test"], "MISSING"),
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--steps", "0"], "--steps must be positive"),
    (["train", "--steps", "5", "--epochs", "1"], "not both"),
    (["train", "--resume", "no-such-run"], "not a ganvas run folder"),
    (["sample", "no-such-run"], "does not exist"),
    (["train", "--device", "cuda:7", "--data-dir", "MNIST_DIR", "--split", "test"], "not available"),
])
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(argv, message, mnist_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [str(mnist_dir) if arg == "MNIST_DIR" else arg for arg in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ganvas: error:") and message in err


def test_presets_lists_the_seed_recipe(capsys):
    assert main(["presets"]) == 0
    assert capsys.readouterr().out.startswith("seed")


def test_train_and_sample_on_a_folder_of_rgba_images(tmp_path, capsys):
    folder = tmp_path / "art"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        pixels = rng.integers(0, 255, size=(20, 24, 4), dtype=np.uint8)
        Image.fromarray(pixels, "RGBA").save(folder / f"{index}.png")
    run = tmp_path / "run"
    assert main(["train", "--data", str(folder), "--size", "16", "--model", "dcgan", "--width", "8", "--batch-size",
                 "4", "--steps", "2", "--run", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").mode == "RGBA"
    assert main(["train", "--data", str(folder), "--run", str(tmp_path / "other")]) == 1
    assert "--data needs --size" in capsys.readouterr().err


def test_a_skipped_file_is_one_warning_line(tmp_path, capsys):
    folder = tmp_path / "art"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        Image.fromarray(rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot the rest")
    assert main(["train", "--data", str(folder), "--size", "16", "--model", "dcgan", "--width", "8", "--batch-size",
                 "4", "--steps", "1", "--run", str(tmp_path / "run"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "ganvas: warning: skipped 1 unreadable image file(s) in" in err and "broken.png" in err
    assert "UserWarning" not in err and "load_image_folder(" not in err, "no Python source line"
