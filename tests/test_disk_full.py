"""A full disk during training: the run stops with a clear error, the previous checkpoint stays the latest and
complete, nothing half-written is left behind, and the run resumes as if nothing had happened.

The disk is filled through ganvas.files' `open`, which every write of a run goes through: a write there writes part
of its data and then fails with ENOSPC, as on a real full disk."""

import builtins
import errno
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ganvas
from ganvas import checkpoint as ckpt
from ganvas import files
from ganvas.cli import main
from ganvas.errors import DiskFullError, GanvasError
from ganvas.events import Progress
from ganvas.files import append_text
from ganvas.trainer import train


class Disk:
    """Fills up when asked (`full = True`): from then on writes to the paths `fails(path)` picks run out of space."""

    def __init__(self, monkeypatch, fails=lambda path: True):
        self.full, self.fails, self.failed = False, fails, []
        real_open = builtins.open

        def open_(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            if self.full and set(mode) & set("wax+") and self.fails(Path(file)):
                self.failed.append(Path(file))
                return FullFile(handle)
            return handle

        monkeypatch.setattr(files, "open", open_, raising=False)

    def fill_at(self, step):
        """A listener that fills the disk once training reaches `step`."""
        def listener(event):
            if isinstance(event, Progress) and event.step >= step:
                self.full = True
        return listener


class FullFile:
    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[:len(data) // 2])  # part of it lands, as on a real disk
        self.handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def leftovers(run):
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.name.startswith(".") or ".tmp" in p.name)


def weights(checkpoint):
    return {role: load_file(ckpt.weights_path(checkpoint, role)) for role in ("generator", "discriminator")}


STRAIGHT = {}  # the weights of a run to step 12 that never stopped
WHERE = {
    "checkpoint": (lambda path: ckpt.CHECKPOINTS_DIR in path.parts, "checkpoints/step-00000008"),
    "grid": (lambda path: "samples" in path.parts, "samples/step-00000008.png"),
    "metrics": (lambda path: path.name == "metrics.jsonl", "metrics.jsonl"),
    "anything": (lambda path: True, "metrics.jsonl"),  # the first write after step 7: step 8's metrics line
}


@pytest.mark.parametrize("where", WHERE)
def test_a_full_disk_stops_training_keeps_the_last_checkpoint_and_leaves_nothing_half_written(
        where, tiny_config, tmp_path, monkeypatch):
    fails, named_path = WHERE[where]
    run = tmp_path / "run"
    disk = Disk(monkeypatch, fails)
    with pytest.raises(DiskFullError) as raised:
        train(tiny_config.replace(steps=12), run, listeners=[disk.fill_at(7)])
    message = str(raised.value)
    assert message.startswith(f"the disk is full: {run / named_path} could not be written, so training stopped at "
                              "step 8; the latest checkpoint, step-00000004, is complete.")
    assert message.endswith(f"Free space on that disk (nothing was left half-written), then continue with "
                            f"resume={str(run)!r}")
    assert isinstance(raised.value, GanvasError) and raised.value.errno == errno.ENOSPC and disk.failed
    assert [p.name for p in ckpt.step_checkpoints(run)] == ["step-00000004"]
    assert torch.isfinite(ganvas.load(run).sample(2).tensor).all(), "the previous checkpoint is whole"
    assert leftovers(run) == []
    text = (run / "metrics.jsonl").read_text()
    assert text.endswith("\n") and [json.loads(line)["step"] for line in text.splitlines()][-1] in (6, 8)
    if where != "anything":
        assert ganvas.Run(run).status == "stopped" and "the disk is full" in (run / "train.log").read_text()

    disk.full = False  # space freed: the run resumes as if it had never stopped
    resumed = train(tiny_config.replace(steps=12), run, resume=True)
    if not STRAIGHT:  # the same for every case: trained once
        STRAIGHT.update(weights(train(tiny_config.replace(steps=12), tmp_path / "straight").checkpoint))
    a, b = STRAIGHT, weights(resumed.checkpoint)
    assert all(torch.equal(a[role][k], b[role][k]) for role in a for k in a[role])


def test_the_cli_says_what_to_do_in_its_own_words(mnist_dir, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    Disk(monkeypatch, lambda path: ".step-00000008." in str(path)).full = True  # that checkpoint's folder only
    assert main(["train", "--run", str(run), "--data-dir", str(mnist_dir), "--split", "test", "--batch-size", "16",
                 "--steps", "12", "--checkpoint-every", "4", "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert f"ganvas: error: the disk is full: {run / 'checkpoints' / 'step-00000008'} could not be written" in error
    assert f"then continue with --resume {run}" in error
    assert [p.name for p in ckpt.step_checkpoints(run)] == ["step-00000004"] and leftovers(run) == []


def test_every_write_of_a_run_goes_through_ganvas_files(tiny_config, tmp_path, monkeypatch):
    """What the tests above fill is all there is: each file a run writes (checkpoints, best, grids, plots, metrics,
    logs, status, config) is opened through ganvas.files, itself or under its temporary name."""
    opened = []
    real_open = builtins.open

    def open_(file, mode="r", *args, **kwargs):
        if set(mode) & set("wax+"):
            opened.append(Path(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", open_, raising=False)
    run = tmp_path / "run"
    train(tiny_config.replace(steps=8, eval_every=4, eval_images=64), run)
    train(tiny_config.replace(steps=12, eval_every=4, eval_images=64), run, resume=True)

    def through_files(path):
        return any(p == path or p.parent == path.parent and p.name.startswith(f".{path.name}.")
                   or p.name == path.name and p.parent.name.startswith(f".{path.parent.name}.") for p in opened)

    written = [p for p in run.rglob("*") if p.is_file() and p.name != "train.lock"]
    for name in ("checkpoints/best/meta.json", "checkpoints/step-00000012/training_state.pt",
                 "samples/step-00000012.png", "samples/latest.png", "losses.png", "metrics.jsonl", "events.jsonl",
                 "train.log", "status.json", "config.json"):
        assert run / name in written, name
    assert [str(p.relative_to(run)) for p in written if not through_files(p)] == []


def test_a_failed_append_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    log = tmp_path / "train.log"
    append_text(log, "one\n")
    Disk(monkeypatch).full = True
    with pytest.raises(DiskFullError, match=f"the disk is full: {log} could not be written"):
        append_text(log, "two\n")
    assert log.read_text() == "one\n"
