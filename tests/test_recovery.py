"""Recovery: resuming falls back past broken checkpoints (setting them aside), resumes from a chosen one, and
non-finite weights are refused wherever a checkpoint is loaded."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import ganvas
from ganvas import checkpoint as ckpt
from ganvas.cli import main
from ganvas.errors import CheckpointError, GanvasError
from ganvas.events import Note
from ganvas.gan import GAN
from ganvas.trainer import DivergedError, train


def weights_equal(a, b):
    for role in ("generator", "discriminator"):
        x, y = load_file(ckpt.weights_path(a, role)), load_file(ckpt.weights_path(b, role))
        if x.keys() != y.keys() or not all(torch.equal(x[k], y[k]) for k in x):
            return False
    return True


def metric_steps(run):
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def names(run):
    return sorted(p.name for p in (run / "checkpoints").iterdir())


def poison(checkpoint, role="generator"):
    """A NaN in one weight, in a file that is otherwise well formed."""
    path = ckpt.weights_path(checkpoint, role)
    weights = load_file(path)
    key = next(iter(weights))
    weights[key].view(-1)[0] = float("nan")
    save_file(weights, path)


class Notes(list):
    def __call__(self, event):
        if isinstance(event, Note):
            self.append(event.text)


def test_a_truncated_newest_checkpoint_is_set_aside_and_the_run_resumes_bit_identical(tiny_config, tmp_path):
    straight = train(tiny_config.replace(steps=12), tmp_path / "straight")
    run = tmp_path / "resumed"
    train(tiny_config.replace(steps=8), run)  # checkpoints at 4 and 8
    newest = run / "checkpoints" / "step-00000008"
    weights = ckpt.weights_path(newest, "generator")
    weights.write_bytes(weights.read_bytes()[:1000])
    notes = Notes()
    resumed = train(tiny_config.replace(steps=12), run, resume=True, listeners=[notes])
    warning = next(text for text in notes if "broken" in text)
    assert "step-00000008 is broken" in warning and "corrupt" in warning
    assert "renamed it step-00000008.broken, resuming from step-00000004 (step 4)" in warning
    assert names(run) == ["step-00000004", "step-00000008", "step-00000008.broken", "step-00000012"]
    assert resumed.step == 12 and weights_equal(straight.checkpoint, resumed.checkpoint)
    assert metric_steps(run) == [2, 4, 6, 8, 10, 12]
    assert "step-00000008 is broken" in (run / "train.log").read_text()


def test_resume_from_a_chosen_checkpoint_discards_the_later_history(tiny_config, tmp_path):
    straight = train(tiny_config.replace(steps=12), tmp_path / "straight")
    run = tmp_path / "run"
    train(tiny_config.replace(steps=12), run)  # 4, 8, 12
    resumed = ganvas.train(resume=run, from_="step-00000004", steps=12, progress=False).wait()
    assert names(run) == ["step-00000004", "step-00000008", "step-00000008.discarded", "step-00000012",
                          "step-00000012.discarded"]
    assert weights_equal(straight.checkpoint, resumed.checkpoint)
    assert metric_steps(run) == [2, 4, 6, 8, 10, 12]
    # The CLI's --from takes a step number too; a second set-aside of the same name gets a number.
    assert main(["train", "--resume", str(run), "--from", "8", "--steps", "12", "--no-progress"]) == 0
    assert "step-00000012.discarded-2" in names(run)
    assert weights_equal(straight.checkpoint, run / "checkpoints" / "step-00000012")


def test_a_later_best_checkpoint_is_set_aside_with_the_later_history(tiny_config, tmp_path):
    run = tmp_path / "run"
    result = train(tiny_config.replace(steps=8), run)
    gan = GAN(tiny_config, (1, 28, 28), torch.device("cpu"))
    gan.restore(ckpt.load_checkpoint(result.checkpoint))
    gan.save(run, 8, name="best", quality={"fid": 1.0})
    notes = Notes()
    train(tiny_config.replace(steps=8), run, resume=True, from_checkpoint="4", listeners=[notes])
    assert "best.discarded" in names(run) and "best" not in names(run)
    assert any("set aside best as best.discarded" in text for text in notes)


def test_choosing_a_checkpoint_that_is_not_there_lists_those_that_are(tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config.replace(steps=4), run)
    with pytest.raises(CheckpointError, match="has no checkpoint 'step-9'; it has step-00000004"):
        ganvas.train(resume=run, from_="step-9", progress=False)
    with pytest.raises(GanvasError, match="from_= picks the checkpoint a run continues from: give the run with "
                                          "resume="):
        ganvas.train(run=run, from_="4", progress=False)


def test_a_broken_chosen_checkpoint_is_an_error_and_is_left_as_it_is(tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config.replace(steps=8), run)
    poison(run / "checkpoints" / "step-00000004")
    with pytest.raises(CheckpointError, match="non-finite weights"):
        ganvas.train(resume=run, from_=4, steps=12, progress=False)
    assert names(run) == ["step-00000004", "step-00000008"]


def test_when_no_checkpoint_loads_clean_nothing_is_renamed(tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config.replace(steps=8), run)
    for checkpoint in ckpt.step_checkpoints(run):
        (checkpoint / ckpt.TRAINING_STATE_FILE).write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="no checkpoint of .* loads clean .*step-00000008: .*cannot be read "
                                              "safely.*pick one with from_= or start over with overwrite="):
        train(tiny_config.replace(steps=12), run, resume=True)
    assert names(run) == ["step-00000004", "step-00000008"]


def test_non_finite_weights_are_refused_by_every_tool(tiny_config, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where sample and variations would write their default files
    run = tmp_path / "run"
    train(tiny_config.replace(steps=4), run)
    poison(run / "checkpoints" / "step-00000004")
    with pytest.raises(CheckpointError, match="generator.safetensors holds non-finite weights"):
        ganvas.load(run)
    commands = [["sample", str(run)], ["interpolate", str(run), "--seeds", "1,2", "--out", str(tmp_path / "w.gif")],
                ["variations", str(run)], ["evaluate", str(run)], ["export", str(run), "--out", str(tmp_path / "g")]]
    for command in commands:
        assert main(command) == 1, command
        assert "holds non-finite weights (NaN or Inf in" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "w.gif").exists() and not (tmp_path / "g").exists()


def test_resume_skips_a_checkpoint_with_nan_weights(tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config.replace(steps=8), run)
    poison(run / "checkpoints" / "step-00000008", "discriminator")
    notes = Notes()
    result = train(tiny_config.replace(steps=8), run, resume=True, listeners=[notes])
    assert any("step-00000008 is broken" in text and "non-finite" in text for text in notes)
    assert result.step == 8 and "step-00000008.broken" in names(run)
    assert torch.isfinite(ganvas.load(run).sample(4).tensor).all()


def test_rollback_skips_a_nan_checkpoint_and_names_the_one_it_lands_on(tiny_config, tmp_path, monkeypatch):
    """A checkpoint saved clean can still go bad on disk before the loop needs it: rolling back never lands there."""
    original = GAN.train_step

    def diverging(self, step, next_batch):
        stats = original(self, step, next_batch)
        return {**stats, "d_loss": torch.tensor(float("nan"))} if step == 8 else stats

    monkeypatch.setattr(GAN, "train_step", diverging)
    notes = Notes()

    def damage_the_newest(event):
        notes(event)
        if getattr(event, "name", None) == "step-00000008":
            poison(event.path)

    with pytest.raises(DivergedError) as raised:
        train(tiny_config.replace(steps=12), tmp_path / "run", listeners=[damage_the_newest])
    assert "rolled back to the last good checkpoint, step-00000004 (step 4)" in str(raised.value)
    assert any("step-00000008 is broken" in text and "rolling back to step-00000004" in text for text in notes)
    assert names(tmp_path / "run") == ["step-00000004", "step-00000008.broken"]
