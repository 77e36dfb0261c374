"""The Python API as a notebook or the studio uses it: train in the foreground or a thread, watch events, stop, list
runs, load a generator and make images."""

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import ganvas
from ganvas.errors import GanvasError, RunLockedError
from ganvas.events import Progress, Started, StepStats, Stopped, follow_events, read_events

TINY = dict(split="test", batch_size=16, log_every=2, sample_every=4, checkpoint_every=4, eval_every=0,
            progress=False)


@pytest.fixture
def tiny(mnist_dir):
    return {**TINY, "data_dir": str(mnist_dir)}


def test_train_returns_a_finished_run_with_its_status(tiny, tmp_path):
    run = ganvas.train(run=tmp_path / "run", steps=6, **tiny)
    assert (run.status, run.step, run.running) == ("finished", 6, False)
    assert {"d_loss", "g_loss", "d_accuracy"} <= set(run.stats)
    result = run.wait()
    assert result.stopped_by == "steps" and result.checkpoint.name == "step-00000006"


def test_options_are_keywords_and_errors_name_them_as_keywords(tiny, tmp_path):
    with pytest.raises(GanvasError, match=r"batch_size= must be positive, got 0"):
        ganvas.train(run=tmp_path / "a", steps=2, **{**tiny, "batch_size": 0})
    with pytest.raises(GanvasError, match="unknown options: batchsize"):
        ganvas.train(run=tmp_path / "b", batchsize=8, **tiny)
    with pytest.raises(GanvasError, match="loss='wgan' needs a Lipschitz constraint on D: add clip_weights=0.01"):
        ganvas.train(run=tmp_path / "c", loss="wgan", **tiny)
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_check_training_refuses_before_any_work_what_training_would_refuse(tiny, tmp_path):
    options = {key: value for key, value in tiny.items() if key != "progress"}
    settings = ganvas.check_training(preset="mnist", **options)
    # The preset's choices, and the options given over them.
    assert (settings["model"], settings["loss"], settings["batch_size"]) == ("dcgan-cond", "hinge", 16)
    folder = tmp_path / "pictures"
    folder.mkdir()
    for index in range(4):
        Image.fromarray(np.full((16, 16, 3), 60 * index, np.uint8)).save(folder / f"{index}.png")
    assert ganvas.check_training(task="upscale", data=str(folder), size=16)["model"] == "unet"
    with pytest.raises(GanvasError, match="multiple of 16"):
        ganvas.check_training(task="upscale", data=str(folder), size=24)
    with pytest.raises(GanvasError, match=r"gp_weight=: not available for task='upscale'"):
        ganvas.check_training(task="upscale", data=str(folder), size=16, gp_weight=10.0)
    with pytest.raises(GanvasError, match="model 'unet' translates images"):
        ganvas.check_training(model="unet", **options)
    with pytest.raises(GanvasError, match="batch_size= must be positive"):
        ganvas.check_training(**{**options, "batch_size": 0})


def test_a_background_run_streams_events_stops_on_request_and_can_be_sampled(tiny, tmp_path):
    run = ganvas.train(run=tmp_path / "run", steps=1_000_000, background=True, **tiny)
    seen = []
    for event in run.events(timeout=60):
        seen.append(event)
        if isinstance(event, Progress) and event.step >= 5 and not run._stop.is_set():
            assert run.status == "training" and run.running
            run.stop()
    result = run.wait(timeout=60)
    assert isinstance(seen[0], Started) and isinstance(seen[-1], Stopped)
    assert seen[-1].reason == "stop_request" and result.stopped_by == "stop_request"
    assert any(isinstance(event, StepStats) for event in seen)
    assert result.checkpoint.name == f"step-{result.step:08d}", "it saved where it stopped"
    assert run.status == "stopped"
    images = ganvas.load(run).sample(4, seed=1)
    assert images.pixels.shape == (4, 28, 28) and images.pixels.dtype == np.uint8


def test_a_second_trainer_on_a_run_being_trained_is_refused_naming_the_process(tiny, tmp_path):
    import os

    run = ganvas.train(run=tmp_path / "run", steps=1_000_000, background=True, **tiny)
    next(event for event in run.events(timeout=60) if isinstance(event, Progress))
    with pytest.raises(RunLockedError, match=f"being trained by process {os.getpid()}"):
        ganvas.train(resume=tmp_path / "run", progress=False)
    with pytest.raises(RunLockedError):
        ganvas.train(run=tmp_path / "run", overwrite=True, **tiny)
    assert ganvas.runs(tmp_path)[0].status == "training"
    run.stop()
    run.wait(timeout=60)
    assert (tmp_path / "run" / "checkpoints").is_dir(), "the refused overwrite deleted nothing"


def test_a_stale_lock_from_a_killed_process_is_taken_over(tiny, tmp_path):
    ganvas.train(run=tmp_path / "run", steps=2, **tiny)
    (tmp_path / "run" / "train.lock").write_text(json.dumps({"pid": 999999, "host": "gone", "since": 0}))
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    (tmp_path / "run" / "status.json").write_text(json.dumps({**status, "status": "training"}))
    assert ganvas.runs(tmp_path)[0].status == "stopped", "its process is gone"
    run = ganvas.train(resume=tmp_path / "run", steps=4, progress=False)
    assert run.step == 4
    assert "took over the run from process 999999 on gone" in (tmp_path / "run" / "train.log").read_text()


def test_runs_lists_status_step_stats_and_alarms(tiny, tmp_path):
    ganvas.train(run=tmp_path / "done", steps=4, **tiny)
    ganvas.train(run=tmp_path / "short", steps=1_000, minutes=1e-9, **tiny)
    with pytest.raises(GanvasError, match="diverged"):
        ganvas.train(run=tmp_path / "nan", steps=4, lr=float("inf"), **tiny)
    (tmp_path / "not-a-run").mkdir()
    found = {run.path.name: run for run in ganvas.runs(tmp_path)}
    assert set(found) == {"done", "short", "nan"}
    assert [found[name].status for name in ("done", "short", "nan")] == ["finished", "stopped", "diverged"]
    info = found["done"].info()
    assert (info.step, info.preset, info.model, info.dataset) == (4, "seed", "mlp", "mnist")
    assert info.stats["d_loss"] > 0 and info.alarms == {}


def test_another_process_can_follow_the_event_stream(tiny, tmp_path):
    followed = []
    run_dir = tmp_path / "run"
    run = ganvas.train(run=run_dir, steps=8, background=True, **tiny)
    follower = threading.Thread(target=lambda: followed.extend(follow_events(run_dir, poll_s=0.01, timeout_s=60)))
    follower.start()
    run.wait(timeout=60)
    follower.join(60)
    kinds = [event["event"] for event in followed]
    assert kinds[0] == "started" and kinds[-1] == "stopped" and followed[-1]["status"] == "finished"
    assert {"stats", "samples", "checkpoint"} <= set(kinds)
    assert [event["event"] for event in read_events(run_dir)] == kinds
    # a resumed session appends; following shows the latest session only
    ganvas.train(resume=run_dir, steps=10, progress=False)
    latest = list(follow_events(run_dir, timeout_s=5))
    assert latest[0]["event"] == "started" and latest[0]["resumed"] and latest[-1]["step"] == 10


def test_a_failing_listener_is_dropped_and_training_goes_on(tiny, tmp_path):
    calls = []

    def broken(event):
        calls.append(event)
        raise ValueError("plot backend missing")

    run = ganvas.train(run=tmp_path / "run", steps=4, listeners=[broken], **tiny)
    assert run.status == "finished" and len(calls) == 1
    assert "a listener (broken) failed and was removed: ValueError: plot backend missing" in \
        (tmp_path / "run" / "train.log").read_text()


def test_resume_keeps_the_settings_and_takes_a_new_length(tiny, tmp_path):
    ganvas.train(run=tmp_path / "run", steps=4, **tiny)
    assert ganvas.train(resume=tmp_path / "run", steps=6, progress=False).step == 6
    with pytest.raises(GanvasError, match="drop batch_size="):
        ganvas.train(resume=tmp_path / "run", batch_size=8, progress=False)


@pytest.fixture
def conditional_run(tiny, tmp_path):
    return ganvas.train(run=tmp_path / "cond", steps=2, model="dcgan-cond", width=8, **tiny)


def test_load_gives_a_generator_with_its_info(conditional_run):
    generator = ganvas.load(conditional_run)
    info = generator.info
    assert (info.model, info.step, info.image_shape, info.classes, info.z_dim) == ("dcgan-cond", 2, (1, 28, 28),
                                                                                   10, 100)
    assert info.preset == "seed" and info.dataset == "mnist"
    assert "dcgan-cond" in repr(generator)


def test_samples_grids_files_and_notebook_pictures(conditional_run, tmp_path):
    generator = ganvas.load(conditional_run)
    rows = generator.sample()
    assert len(rows) == 80 and rows.columns == 8, "a conditional model's default grid is a row of 8 per class"
    one_class = generator.sample(5, seed=3, class_=7)
    assert np.array_equal(one_class.pixels, generator.sample(5, seed=3, class_=7).pixels)
    assert one_class.grid(scale=1).size == (3 * 30 + 2, 2 * 30 + 2)
    one_class.save(tmp_path / "grid.png")
    assert Image.open(tmp_path / "grid.png").mode == "L"
    one_class.save(tmp_path / "pixels.npy")
    assert np.array_equal(np.load(tmp_path / "pixels.npy"), one_class.pixels)
    paths = one_class.save_each(tmp_path / "each")
    assert [p.name for p in paths] == ["0.png", "1.png", "2.png", "3.png", "4.png"]
    assert np.array_equal(np.asarray(Image.open(paths[2])), one_class.pixels[2])
    assert one_class._repr_png_().startswith(b"\x89PNG")
    assert len(one_class[1:3]) == 2 and len(one_class[0]) == 1
    with pytest.raises(GanvasError, match="class_= must be from 0 to 9"):
        generator.sample(2, class_=10)


def test_walks_and_variations(conditional_run, tmp_path):
    generator = ganvas.load(conditional_run)
    walk = generator.walk([1, 2, 3], frames=9, loop=True, fps=10)
    assert len(walk) == 9
    walk.save(tmp_path / "walk.gif")
    assert Image.open(tmp_path / "walk.gif").n_frames >= 2
    assert walk._repr_html_().startswith('<img src="data:image/gif;base64,')
    variations = generator.variations(seed=4, n=6, strength=0.0)
    assert len(variations) == 6
    assert np.array_equal(variations.pixels[0], variations.pixels[5]), "strength 0 changes nothing"
    with pytest.raises(GanvasError, match="strength"):
        generator.variations(strength=2)


def test_evaluate_scores_against_the_real_floor(tiny, tmp_path):
    run = ganvas.train(run=tmp_path / "run", steps=2, **tiny)
    evaluation = ganvas.load(run).evaluate(n=16)
    assert evaluation.measures == "digits" and evaluation.count == 16
    assert set(evaluation.generated) == set(evaluation.real_floor) and "fid" in evaluation.generated
    assert "real floor" in str(evaluation) and json.dumps(evaluation.to_dict())


def test_presets_lists_them_all():
    presets = ganvas.presets()
    assert "seed" in presets and "mnist" in presets and all(presets.values())


def test_the_run_loop_never_seeds_torchs_global_rng(tiny, tmp_path):
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    ganvas.train(run=tmp_path / "run", steps=2, **tiny)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_generators_info_has_the_quality_last_measured_in_training(tiny, tmp_path):
    run = ganvas.train(run=tmp_path / "run", steps=4, **{**tiny, "eval_every": 2, "eval_images": 16})
    quality = ganvas.load(run).info.quality
    assert quality is not None and quality == run.quality and "fid" in quality
