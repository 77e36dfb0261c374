"""The tensorboard option: statistics, quality and sample grids as TensorBoard events in RUN/tensorboard, read back
here with TensorBoard's own reader."""

import io
import json
import sys

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import ganvas
from ganvas.cli import build_parser
from ganvas.config import read_options_file
from ganvas.errors import GanvasError
from ganvas.trainer import train


def events(run):
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_statistics_quality_and_grids_are_tensorboard_events(tiny_config, tmp_path):
    run = tmp_path / "run"
    config = tiny_config.replace(tensorboard=True, loss="wgan-gp", gp_weight=10.0, eval_every=4, eval_images=64)
    train(config, run)
    logged = events(run)
    stats = [entry for entry in metrics(run) if "d_loss" in entry]
    terms = {name for entry in stats for name in entry} - {"step", "epoch", "elapsed_s"}
    assert {"d_loss", "g_loss", "d_accuracy", "gradient_penalty", "images_per_s"} <= terms
    assert set(logged.Tags()["scalars"]) >= {f"train/{name}" for name in terms}
    for name in terms:
        points = logged.Scalars(f"train/{name}")
        assert [p.step for p in points] == [entry["step"] for entry in stats]
        assert [p.value for p in points] == pytest.approx([entry[name] for entry in stats], rel=1e-6)
    quality = [entry for entry in metrics(run) if "quality" in entry]
    assert quality, "the run measured its quality"
    for name, value in quality[-1]["quality"].items():
        assert logged.Scalars(f"quality/{name}")[-1].value == pytest.approx(value, rel=1e-6, abs=1e-9)
    grids = logged.Images("samples")
    assert [image.step for image in grids] == [4, 8]
    written = Image.open(run / "samples" / "step-00000008.png")
    shown = Image.open(io.BytesIO(grids[-1].encoded_image_string))
    assert shown.size == written.size and np.array_equal(np.asarray(shown.convert("L")), np.asarray(written))


def test_a_resumed_run_hides_what_it_logged_after_its_checkpoint(tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config.replace(tensorboard=True, steps=8), run)
    ganvas.train(resume=run, from_=4, steps=8, progress=False)
    logged = events(run)
    assert [p.step for p in logged.Scalars("train/d_loss")] == [2, 4, 6, 8]
    assert [p.value for p in logged.Scalars("train/d_loss")] == pytest.approx(
        [entry["d_loss"] for entry in metrics(run)], rel=1e-6)
    assert [image.step for image in logged.Images("samples")] == [4, 8]


def test_a_run_started_without_events_writes_them_once_resumed_with_the_option(tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config.replace(steps=4), run)
    assert not (run / "tensorboard").exists()
    ganvas.train(resume=run, steps=8, tensorboard=True, progress=False)
    assert [p.step for p in events(run).Scalars("train/d_loss")] == [6, 8], "events from the resumed steps on"
    assert json.loads((run / "config.json").read_text())["tensorboard"] is True, "and it stays a setting of the run"
    with pytest.raises(GanvasError, match="drop lr_g="):
        ganvas.train(resume=run, steps=10, lr_g=1e-3, progress=False)


def test_without_the_extra_the_option_says_how_to_get_it(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the tensorboard package were missing
    with pytest.raises(GanvasError, match=r"tensorboard= needs the tensorboard package .*"
                                          r"pip install 'ganvas\[tensorboard\]'"):
        train(tiny_config.replace(tensorboard=True), tmp_path / "run")
    assert not (tmp_path / "run").exists(), "a run that cannot start leaves no folder behind"


def test_the_option_is_a_flag_and_a_file_key(tmp_path):
    assert build_parser().parse_args(["train", "--tensorboard"]).tensorboard is True
    (tmp_path / "options.yaml").write_text("tensorboard: true\n")
    assert read_options_file(tmp_path / "options.yaml") == {"tensorboard": True}
