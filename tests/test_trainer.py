import json

import pytest
import torch
from safetensors.torch import load_file

from ganvas import checkpoint as ckpt
from ganvas.config import load_config
from ganvas.data import load_dataset, to_model_range
from ganvas.errors import GanvasError
from ganvas.gan import GAN
from ganvas.trainer import BatchSampler, train


def snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_a_training_step_moves_both_networks(tiny_config):
    dataset = load_dataset("mnist", "test", tiny_config.data_dir)
    gan = GAN(tiny_config, dataset.image_shape, torch.device("cpu"))
    before_g, before_d = snapshot(gan.generator), snapshot(gan.discriminator)
    stats = gan.train_step(0, lambda i: (to_model_range(dataset.images[:16]), None))
    assert set(stats) == {"d_loss", "g_loss", "d_accuracy"} and all(torch.isfinite(v) for v in stats.values())
    assert 0 <= stats["d_accuracy"] <= 1, "D's accuracy is a fraction"
    for before, module in [(before_g, gan.generator), (before_d, gan.discriminator)]:
        after = module.state_dict()
        assert all(not torch.equal(before[k], after[k]) for k in before), "every layer should have moved"


def test_the_generator_step_leaves_the_discriminator_trainable_and_untouched(tiny_config):
    dataset = load_dataset("mnist", "test", tiny_config.data_dir)
    gan = GAN(tiny_config, dataset.image_shape, torch.device("cpu"))
    gan.train_step(0, lambda i: (to_model_range(dataset.images[:16]), None))
    assert all(p.requires_grad for p in gan.discriminator.parameters())


def test_batches_cover_each_epoch_once_and_depend_only_on_step():
    images = torch.arange(10).float()
    sampler = BatchSampler(images, images.long() % 3, batch_size=3, seed=5)
    first_epoch = torch.cat([sampler.batch(step)[0] for step in range(3)])
    assert len(set(first_epoch.tolist())) == 9
    assert torch.equal(BatchSampler(images, None, 3, 5).batch(4)[0], sampler.batch(4)[0])
    assert not torch.equal(sampler.batch(0)[0], sampler.batch(3)[0]), "each epoch is reshuffled"
    batch, labels = sampler.batch(7)
    assert torch.equal(labels, batch.long() % 3), "labels travel with their images"


def test_run_folder_holds_config_metrics_samples_and_checkpoints(tiny_config, tmp_path):
    result = train(tiny_config, tmp_path / "run")
    run = tmp_path / "run"
    assert result.step == 8 and result.stopped_by == "steps"
    assert load_config(run) == tiny_config
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4, 6, 8]
    assert {"d_loss", "g_loss", "images_per_s"} <= set(lines[0])
    assert (run / "samples" / "step-00000004.png").is_file() and (run / "losses.png").is_file()
    assert [p.name for p in ckpt.step_checkpoints(run)] == ["step-00000004", "step-00000008"]
    assert "reached the step target" in (run / "train.log").read_text()


def test_an_existing_run_is_never_overwritten_silently(tiny_config, tmp_path):
    train(tiny_config, tmp_path / "run")
    with pytest.raises(GanvasError, match="already exists.*--resume.*overwrite"):
        train(tiny_config, tmp_path / "run")
    train(tiny_config.replace(steps=2), tmp_path / "run", overwrite=True)
    assert [p.name for p in ckpt.step_checkpoints(tmp_path / "run")] == ["step-00000002"]


def test_resumed_run_is_bit_identical_to_a_straight_run(tiny_config, tmp_path):
    straight = train(tiny_config.replace(steps=12), tmp_path / "straight")
    train(tiny_config.replace(steps=6), tmp_path / "resumed")
    resumed = train(tiny_config.replace(steps=12), tmp_path / "resumed", resume=True)
    assert resumed.step == straight.step == 12
    for network in ("generator", "discriminator"):
        a = load_file(ckpt.weights_path(straight.checkpoint, network))
        b = load_file(ckpt.weights_path(resumed.checkpoint, network))
        assert all(torch.equal(a[k], b[k]) for k in a)
    state_a = torch.load(straight.checkpoint / ckpt.TRAINING_STATE_FILE, weights_only=True)
    state_b = torch.load(resumed.checkpoint / ckpt.TRAINING_STATE_FILE, weights_only=True)
    for role in ("generator", "discriminator"):
        exp_avg = lambda s: [v["exp_avg"] for v in s["optimizers"][role]["state"].values()]
        assert all(torch.equal(x, y) for x, y in zip(exp_avg(state_a), exp_avg(state_b)))
    assert torch.equal(state_a["rng"][0]["noise"], state_b["rng"][0]["noise"])
    metrics = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == [2, 4, 6, 8, 10, 12]


def test_resume_rolls_back_metrics_logged_after_the_last_checkpoint(tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config.replace(steps=6), run)  # checkpoints at 4 and 6
    ckpt.prune_checkpoints(run, keep=1)
    (run / "checkpoints" / "step-00000006").rename(run / "checkpoints" / "step-00000004")  # as if 6 never landed
    meta = json.loads((run / "checkpoints" / "step-00000004" / "meta.json").read_text())
    meta["step"] = 4
    (run / "checkpoints" / "step-00000004" / "meta.json").write_text(json.dumps(meta))
    train(tiny_config.replace(steps=6), run, resume=True)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_divergence_stops_with_advice_and_saves_nothing_bad(tiny_config, tmp_path):
    with pytest.raises(GanvasError, match="diverged at step 1.*lower lr_g=/lr_d="):
        train(tiny_config.replace(lr_g=float("inf"), lr_d=float("inf")), tmp_path / "run")
    assert ckpt.step_checkpoints(tmp_path / "run") == []


def test_minutes_limit_stops_at_a_step_boundary_and_saves(tiny_config, tmp_path):
    result = train(tiny_config.replace(steps=None, minutes=1e-9), tmp_path / "run")
    assert result.stopped_by == "time" and result.step == 0
    assert result.checkpoint.name == "step-00000000"


def test_resuming_a_checkpoint_of_another_architecture_is_refused(tiny_config, tmp_path):
    train(tiny_config.replace(steps=2), tmp_path / "run")
    config_path = tmp_path / "run" / "config.json"
    config_path.write_text(config_path.read_text().replace('"z_dim": 100', '"z_dim": 64'))
    with pytest.raises(GanvasError, match="holds other networks"):
        train(load_config(tmp_path / "run"), tmp_path / "run", resume=True)


def test_too_small_a_dataset_for_one_batch_is_a_clear_error(tiny_config, tmp_path):
    with pytest.raises(GanvasError, match="fewer than one batch"):
        train(tiny_config.replace(batch_size=1000), tmp_path / "run")
    assert not (tmp_path / "run").exists()
