"""Quality measurement wired into ganvas: the real-data floor, `ganvas evaluate`, alarms, `best` checkpoints."""

import json

import numpy as np
import pytest
import torch

from ganvas import checkpoint as ckpt
from ganvas.cli import main
from ganvas.data import load_dataset, to_model_range
from ganvas.metrics import load_evaluator
from ganvas.metrics.alarms import AlarmBoard, discriminator_overpowering, mode_collapse
from ganvas.metrics.quality import QualityJudge, reference_embedding
from ganvas.trainer import train

from conftest import digit_like_images, write_mnist_split


@pytest.fixture
def richer_mnist_dir(tmp_path):
    pixels, labels = digit_like_images(400, seed=1)
    return write_mnist_split(tmp_path / "mnist400", pixels, labels, "test")


@pytest.fixture
def judge(richer_mnist_dir):
    dataset = load_dataset("mnist", "test", richer_mnist_dir)
    return QualityJudge(dataset, load_evaluator(), count=100), dataset


def test_reference_embedding_is_cached_by_content(judge, tmp_path):
    _, dataset = judge
    cached = list((tmp_path / "ganvas-home" / "reference").iterdir())
    assert len(cached) == 1
    again = reference_embedding(dataset, evaluator=None)  # served from the cache: no evaluator needed
    assert again.features.shape == (400, 128)


def test_real_images_sit_at_the_floor_and_a_repeated_image_is_flagged_as_collapse(judge):
    judge, dataset = judge
    held_out = to_model_range(dataset.images[-100:])
    real = judge.judge(held_out)
    repeated = judge.judge(held_out[:1].repeat(100, 1, 1, 1))
    assert mode_collapse(real, judge.real_floor) is None
    assert "mode collapse" in mode_collapse(repeated, judge.real_floor)
    assert repeated["fid"] > real["fid"] and repeated["recall"] < real["recall"]


def test_overpowering_alarm_needs_both_a_perfect_d_and_a_climbing_g_loss():
    climbing = [{"step": 100 * i, "d_accuracy": 0.99, "g_loss": 2.0 + 0.5 * i} for i in range(5)]
    assert "overpowering" in discriminator_overpowering(climbing)
    flat = [{**entry, "g_loss": 2.0} for entry in climbing]
    balanced = [{**entry, "d_accuracy": 0.7} for entry in climbing]
    assert discriminator_overpowering(flat) is None
    assert discriminator_overpowering(balanced) is None
    assert discriminator_overpowering(climbing[:3]) is None, "too little history to judge"


def test_alarm_board_speaks_once_when_an_alarm_starts_and_once_when_it_clears():
    board = AlarmBoard()
    assert board.update({"mode_collapse": "mode collapse: ..."}) == [("mode_collapse", "mode collapse: ...", True)]
    assert board.update({"mode_collapse": "mode collapse: ..."}) == []
    assert board.update({"mode_collapse": None}) == [("mode_collapse", "", False)]
    assert board.update({"mode_collapse": None}) == []


def test_an_overpowered_run_raises_the_alarm_in_its_log(tiny_config, tmp_path):
    config = tiny_config.replace(steps=30, log_every=2, lr_g=1e-9, lr_d=2e-3, eval_every=0)
    train(config, tmp_path / "run")
    log = (tmp_path / "run" / "train.log").read_text()
    assert log.count("ALARM D is overpowering G") == 1


def test_a_healthy_run_raises_no_overpowering_alarm(tiny_config, tmp_path):
    # PyTorch's initialisation: from the seed preset's Keras one, D wins on these bars within 30 steps, as the
    # tutorial's D does on MNIST, and the alarm rightly says so.
    train(tiny_config.replace(init="default", steps=30, log_every=2, eval_every=0), tmp_path / "run")
    assert "ALARM" not in (tmp_path / "run" / "train.log").read_text()


def test_training_evaluates_keeps_the_best_checkpoint_and_flags_collapse(richer_mnist_dir, tiny_config, tmp_path):
    config = tiny_config.replace(data_dir=str(richer_mnist_dir), steps=6, eval_every=3, eval_images=50)
    train(config, tmp_path / "run")
    run = tmp_path / "run"
    evaluations = [e for e in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "quality" in e]
    assert [e["step"] for e in evaluations] == [3, 6]
    best = ckpt.load_checkpoint(ckpt.resolve_checkpoint(f"{run}:best"))
    assert best.meta["quality"]["fid"] == min(e["quality"]["fid"] for e in evaluations)
    assert "ALARM mode collapse" in (run / "train.log").read_text(), "an untrained G makes one blur"


def test_evaluate_prints_a_table_and_json_with_the_real_floor(richer_mnist_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(richer_mnist_dir), "--split", "test", "--steps", "2", "--batch-size",
                 "16", "--eval-every", "0", "--run", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--n", "1000"]) == 0
    out = capsys.readouterr().out
    assert "--n 1000 reduced to 200" in out and "real floor" in out and "FID" in out
    assert main(["evaluate", str(run), "--n", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 50 and report["step"] == 2
    assert report["real_floor"]["fid"] < report["generated"]["fid"]
    assert set(report["generated"]) == set(report["real_floor"]) >= {"fid", "kid", "precision", "recall"}


def test_evaluate_refuses_images_the_evaluator_cannot_judge(judge):
    judge, _ = judge
    with pytest.raises(Exception, match="28x28"):
        judge.judge(torch.zeros(4, 3, 32, 32))
