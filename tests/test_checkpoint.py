import json

import pytest
import torch

from ganvas import checkpoint as ckpt
from ganvas.errors import CheckpointError
from ganvas.sampling import load_generator
from ganvas.trainer import train


@pytest.fixture
def run(tiny_config, tmp_path):
    train(tiny_config.replace(steps=4), tmp_path / "run")
    return tmp_path / "run"


def test_writes_leave_no_temporary_files_and_keep_the_last_k(tiny_config, tmp_path):
    train(tiny_config.replace(steps=12, checkpoint_every=2, keep_checkpoints=2), tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step-00000010", "step-00000012"]


def test_a_half_written_checkpoint_is_invisible(run):
    partial = run / "checkpoints" / ".step-00000099.tmp-1"
    partial.mkdir()
    ckpt.weights_path(partial, "generator").write_bytes(b"")
    assert ckpt.resolve_checkpoint(run).name == "step-00000004"


def test_resolves_runs_checkpoint_folders_and_named_checkpoints(run):
    latest = run / "checkpoints" / "step-00000004"
    assert ckpt.resolve_checkpoint(run) == latest
    assert ckpt.resolve_checkpoint(latest) == latest
    with pytest.raises(CheckpointError, match="no checkpoint named 'best'"):
        ckpt.resolve_checkpoint(f"{run}:best")
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.resolve_checkpoint(run / "nowhere")


def test_unknown_format_version_is_refused(run):
    meta_path = run / "checkpoints" / "step-00000004" / ckpt.META_FILE
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_generator(run)


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "meta.json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not a ganvas checkpoint"):
        ckpt.load_checkpoint(tmp_path)


def test_corrupt_weights_are_a_clear_error(run):
    weights = ckpt.weights_path(run / "checkpoints" / "step-00000004", "generator")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_generator(run)


def test_weights_of_another_architecture_name_the_mismatch(run):
    meta_path = run / "checkpoints" / "step-00000004" / ckpt.META_FILE
    meta = json.loads(meta_path.read_text())
    meta["networks"]["generator"]["args"]["z_dim"] = 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="different generator architecture.*net.0.weight"):
        load_generator(run)


class Payload:
    def __reduce__(self):
        return (print, ("this ran",))


def test_training_state_that_asks_to_run_code_is_refused(run):
    path = run / "checkpoints" / "step-00000004" / ckpt.TRAINING_STATE_FILE
    torch.save({"optimizer_g": Payload()}, path)
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        ckpt.load_checkpoint(path.parent).training_state()
