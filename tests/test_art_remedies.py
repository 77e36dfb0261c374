"""Remedies for mode dropping on small, varied sets: coverage, ADA, minibatch std and self-conditioning."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from ganvas import checkpoint as ckpt
from ganvas import api
from ganvas.augment import augment
from ganvas.cli import main
from ganvas.config import load_config, preset_config, validate
from ganvas.data import count_images, load_image_folder, to_model_range
from ganvas.errors import CheckpointError, GanvasError
from ganvas.gan import ADA_IMAGES, GAN, network_recipes
from ganvas.metrics.alarms import DROPPING_SHORTFALL, mode_dropping
from ganvas.metrics.pixels import PixelJudge
from ganvas.metrics.stats import density_coverage
from ganvas.models import build_network
from ganvas.models.layers import MinibatchStd
from ganvas.regularizers import lecam_penalty, mode_seeking_penalty
from ganvas.sampling import sample_labels
from ganvas.selfcondition import CLUSTERS_FILE, cluster_labels
from ganvas.trainer import train

from test_art import blob_folder


def two_kind_folder(path, counts=(12, 6)):
    """Red discs on the left and blue squares on the right, `counts` of each, in slightly varied places."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    index = 0
    for kind, count in enumerate(counts):
        for _ in range(count):
            image = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
            x, y = rng.integers(0, 3, size=2) + (1 if kind == 0 else 8)
            shape = ImageDraw.Draw(image).ellipse if kind == 0 else ImageDraw.Draw(image).rectangle
            shape((x, y, x + 6, y + 6), fill=(220, 30, 30, 255) if kind == 0 else (30, 30, 220, 255))
            image.save(path / f"{index:03d}.png")
            index += 1
    return path


def art_config(folder, **options):
    return preset_config("art", count_images=lambda c: count_images(c.data, c.dataset, c.split), data=str(folder),
                         size=16, width=8, log_every=2, sample_every=100, checkpoint_every=3, eval_every=0,
                         **options)


# --- density and coverage ---------------------------------------------------------------------------------


def test_density_and_coverage_on_points_worked_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [10.0]])  # with k = 1 the balls have radius 1, 1, 1 and 8
    fake = np.array([[0.5], [0.6], [30.0]])
    density, coverage = density_coverage(real, fake, k=1)
    # 0.5 and 0.6 each lie in the balls of 0 and 1 (and 0.6 not in 2's: |2 - 0.6| > 1); 30 is in none.
    assert coverage == pytest.approx(2 / 4)
    assert density == pytest.approx((2 + 2 + 0) / 3)


def test_coverage_falls_when_samples_drop_part_of_the_set_and_density_rises_where_they_crowd():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 2))
    same_kind = rng.normal(size=(200, 2))
    one_half = same_kind[same_kind[:, 0] > 0]
    full = density_coverage(real, same_kind)
    dropped = density_coverage(real, np.concatenate([one_half, one_half]))
    assert full.coverage > 0.9 and dropped.coverage < 0.65
    assert 0.8 < full.density < 1.2 and dropped.density > full.density


def test_thumbnail_judge_reports_coverage_beside_recall_and_the_dropping_alarm(tmp_path):
    # Random blobs are all about equally far apart, so with k = 5 a ball holds a quarter of a small set: 120 images
    # make the balls small enough to tell one repeated image from the set.
    dataset = load_image_folder(blob_folder(tmp_path / "art", 120), size=16)
    judge = PixelJudge(dataset, count=60)
    floor = judge.real_floor
    assert {"density", "coverage"} <= set(floor) and floor["coverage"] > 0.9
    collapsed = judge.judge(to_model_range(dataset.images[:1]).repeat(60, 1, 1, 1))
    assert collapsed["coverage"] < floor["coverage"] - DROPPING_SHORTFALL
    alarms = judge.alarms(collapsed)
    assert alarms["mode_dropping"].startswith("mode dropping: only ")
    assert judge.alarms(floor)["mode_dropping"] is None
    assert "coverage" in judge.summary(collapsed)


def test_the_dropping_alarm_fires_only_far_below_the_floor():
    floor = {"coverage": 0.95}
    assert mode_dropping({"coverage": 0.95 - DROPPING_SHORTFALL}, floor) is None
    assert "60% of the training images" in mode_dropping({"coverage": 0.6}, floor)


# --- adaptive augmentation ----------------------------------------------------------------------------------


def test_augmentation_probability_zero_keeps_every_image_one_changes_every_image_and_draws_are_the_same():
    images = torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    outputs, states = {}, {}
    for p in (0.0, 0.5, 1.0):
        generator = torch.Generator().manual_seed(1)
        outputs[p] = augment(images, "cutout", generator, torch.tensor(p))
        states[p] = generator.get_state()
    changed = {p: (out != images).flatten(1).any(1) for p, out in outputs.items()}
    assert torch.equal(outputs[0.0], images)
    assert changed[1.0].all()
    assert 16 < changed[0.5].sum() < 48  # about half the samples, each decided on its own
    assert torch.equal(states[0.0], states[1.0]), "p never shifts the random draws that follow"


def test_ada_raises_the_probability_while_d_is_sure_of_the_real_images_and_lowers_it_below_the_target(tmp_path):
    config = art_config(two_kind_folder(tmp_path / "set"), ada_target=0.6)
    gan = GAN(config, (4, 16, 16), torch.device("cpu"))
    assert float(gan.augment_p) == 0
    gan._adapt_augmentation(torch.tensor(1.0), 32)
    gan._adapt_augmentation(torch.tensor(0.9), 32)
    assert float(gan.augment_p) == pytest.approx(2 * 32 / ADA_IMAGES)
    for _ in range(3):
        gan._adapt_augmentation(torch.tensor(0.2), 32)
    assert float(gan.augment_p) == 0, "never below 0"


def test_ada_logs_its_signal_and_probability(tmp_path):
    result = train(art_config(two_kind_folder(tmp_path / "set"), ada_target=0.6, steps=4), tmp_path / "run")
    logged = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    stats = [entry for entry in logged if "augment_p" in entry]
    assert stats and all(-1 <= entry["real_sign"] <= 1 and 0 <= entry["augment_p"] <= 1 for entry in stats)


@pytest.mark.parametrize("options, message", [
    ({"ada_target": 0.6, "augment": ""}, "ada_target= tunes how often"),
    ({"ada_target": 1.0}, "give it in \\(0, 1\\)"),
    ({"ada_target": 0.6, "loss": "relativistic"}, "has no such boundary"),
    ({"self_condition": 1}, "K >= 2"),
    ({"self_condition": 3, "labels": True}, "drop labels="),
])
def test_remedy_options_that_cannot_work_are_refused(tmp_path, options, message):
    with pytest.raises(GanvasError, match=message):
        art_config(two_kind_folder(tmp_path / "set"), **options)


def test_self_conditioning_needs_your_own_images_and_a_conditional_model(tmp_path, tiny_config):
    with pytest.raises(GanvasError, match="your own unlabelled images"):
        preset_config("seed", self_condition=3)
    with pytest.raises(GanvasError, match="class-conditional model"):
        train(art_config(two_kind_folder(tmp_path / "set"), self_condition=2, model="dcgan"), tmp_path / "run")
    with pytest.raises(GanvasError, match="no minibatch standard deviation"):
        train(tiny_config.replace(minibatch_std=True), tmp_path / "mlp")


def test_a_checkpoint_without_the_augmentation_probability_does_not_resume_an_ada_run(tmp_path):
    config = art_config(two_kind_folder(tmp_path / "set"), ada_target=0.0)
    plain = GAN(config, (4, 16, 16), torch.device("cpu"))
    path = plain.save(tmp_path / "run", 0)
    adaptive = GAN(config.replace(ada_target=0.6), (4, 16, 16), torch.device("cpu"))
    with pytest.raises(CheckpointError, match="no usable augmentation probability"):
        adaptive.restore(ckpt.load_checkpoint(path))


# --- LeCam regularization ----------------------------------------------------------------------------------


def test_lecam_penalty_on_scores_worked_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    real_average, fake_average = torch.tensor(-1.0), torch.tensor(2.0)
    # Real scores above the generated images' average (2): (3 - 2)² = 1 of 2; generated below the real average
    # (-1): (-1 - -2)² = 1 of 2.
    assert float(lecam_penalty(real, None, real_average, fake_average)) == pytest.approx(0.5)
    assert float(lecam_penalty(None, fake, real_average, fake_average)) == pytest.approx(0.5)
    assert float(lecam_penalty(real, fake, real_average, fake_average)) == pytest.approx(1.0)
    assert float(lecam_penalty(real, fake, torch.tensor(-5.0), torch.tensor(5.0))) == 0, \
        "no cost while real scores stay below the generated average and generated above the real"


def d_score_gap(gan, real):
    """D's mean score on `real` minus its mean score on generated images, with the run's noise left as it was."""
    with torch.no_grad():
        fake = gan.generator(torch.randn(len(real), gan.config.z_dim, generator=torch.Generator().manual_seed(5)))
        return float(gan.discriminator(real).mean() - gan.discriminator(fake).mean())


@pytest.mark.parametrize("d_step", ["joint", "separate"])
def test_lecam_keeps_d_from_driving_real_and_generated_scores_apart(tmp_path, d_step):
    folder = two_kind_folder(tmp_path / "set")
    real = to_model_range(load_image_folder(folder, 16).images)
    gaps = {}
    for weight in (0.0, 3.0):
        gan = GAN(art_config(folder, lecam_weight=weight, d_step=d_step, ada_target=0.0, augment=""),
                  (4, 16, 16), torch.device("cpu"))
        for step in range(8):
            stats = gan.train_step(step, lambda i: (real, None))
        gaps[weight] = d_score_gap(gan, real)
        if weight:
            assert float(stats["lecam_penalty"]) > 0
            assert gan.lecam_averages[0] > gan.lecam_averages[1], "the averages follow D's real and generated scores"
    assert gaps[0.0] > 0.5 and gaps[3.0] < 0.7 * gaps[0.0]


def test_a_checkpoint_without_lecams_averages_does_not_resume_a_lecam_run(tmp_path):
    config = art_config(two_kind_folder(tmp_path / "set"))
    path = GAN(config, (4, 16, 16), torch.device("cpu")).save(tmp_path / "run", 0)
    with pytest.raises(CheckpointError, match="no usable moving averages of D's scores"):
        GAN(config.replace(lecam_weight=0.3), (4, 16, 16), torch.device("cpu")).restore(ckpt.load_checkpoint(path))


# --- mode seeking -------------------------------------------------------------------------------------------


def test_mode_seeking_penalty_on_pairs_worked_by_hand():
    images = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.25, 0.25], [9.0, 9.0]])
    latents = torch.tensor([[0.0], [2.0], [0.0], [1.0], [5.0]])
    # Pair 1: images 1 apart for latents 2 apart, ratio 0.5, cost 2; pair 2: 0.25 for 1, cost 4; the odd fifth
    # image has no partner and counts nothing.
    assert float(mode_seeking_penalty(images, latents, eps=0)) == pytest.approx(3.0)
    assert float(mode_seeking_penalty(images[:2], latents[:2], eps=0)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least 2"):
        mode_seeking_penalty(images[:1], latents[:1])


def pair_distance(gan, count=16):
    """The mean pixel distance between G's images for neighbouring pairs of fixed latents."""
    with torch.no_grad():
        images = gan.generator(torch.randn(count, gan.config.z_dim, generator=torch.Generator().manual_seed(5)))
        return float((images[0::2] - images[1::2]).abs().mean())


def test_mode_seeking_spreads_gs_images_apart(tmp_path):
    folder = two_kind_folder(tmp_path / "set")
    real = to_model_range(load_image_folder(folder, 16).images)
    distances = {}
    for weight in (0.0, 1.0):
        # A fast G, so that 8 steps move it visibly (Adam's steps are the same size at any weight).
        gan = GAN(art_config(folder, mode_seeking_weight=weight, ada_target=0.0, augment="", lr_g=2e-3), (4, 16, 16),
                  torch.device("cpu"))
        for step in range(8):
            stats = gan.train_step(step, lambda i: (real, None))
        distances[weight] = pair_distance(gan)
        assert ("mode_seeking_penalty" in stats) == bool(weight)
    assert distances[1.0] > 1.5 * distances[0.0]


def test_mode_seeking_needs_pairs(tmp_path):
    with pytest.raises(GanvasError, match="batch_size=|--batch-size"):
        art_config(two_kind_folder(tmp_path / "set"), mode_seeking_weight=1.0, batch_size=1)
    with pytest.raises(GanvasError, match="must be 0 \\(off\\) or positive"):
        art_config(two_kind_folder(tmp_path / "set"), mode_seeking_weight=-1.0)


# --- minibatch standard deviation -----------------------------------------------------------------------------


def test_minibatch_std_adds_a_map_per_group_that_never_mixes_the_real_and_generated_halves():
    same = torch.ones(3, 2, 4, 4)  # the first half: identical images
    varied = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    out = MinibatchStd()(torch.cat([same, varied]))  # 6 images: groups of 3, one per half
    assert out.shape == (6, 3, 4, 4) and torch.equal(out[:, :2], torch.cat([same, varied]))
    feature = out[:, 2, 0, 0]
    assert torch.allclose(feature[:3], torch.tensor(1e-4)) and (feature[3:] > 0.1).all()
    assert (out[:, 2] == feature[:, None, None]).all(), "one number fills each map"


@pytest.mark.parametrize("model", ["dcgan", "resnet"])
def test_a_minibatch_std_discriminator_is_rebuilt_from_its_checkpoint_recipe(tmp_path, model):
    config = art_config(two_kind_folder(tmp_path / "set"), model=model, minibatch_std=True, steps=2)
    result = train(config, tmp_path / "run")
    recipe = ckpt.load_checkpoint(result.checkpoint).networks["discriminator"]
    assert recipe["args"]["minibatch_std"] is True
    discriminator = build_network(recipe)
    discriminator.load_state_dict(load_file(ckpt.weights_path(result.checkpoint, "discriminator")))
    assert any(isinstance(layer, MinibatchStd) for layer in discriminator.modules())


def test_d_width_makes_d_wider_than_g_and_recipes_without_it_stay_as_they_were(tmp_path):
    config = art_config(two_kind_folder(tmp_path / "set"))
    plain = network_recipes(config, (3, 16, 16), None)
    assert plain["discriminator"]["args"]["width"] == 8 and plain["generator"]["args"]["width"] == 8
    wider = network_recipes(config.replace(d_width=16), (3, 16, 16), None)
    assert wider["discriminator"]["args"] == {**plain["discriminator"]["args"], "width": 16}
    assert wider["generator"] == plain["generator"]
    first_conv = next(m for m in build_network(wider["discriminator"]).modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.out_channels == 16
    with pytest.raises(GanvasError, match="must be positive, got 0"):
        validate(config.replace(d_width=0))


# --- self-conditioning ------------------------------------------------------------------------------------------


def test_clusters_separate_two_kinds_of_image_and_are_numbered_by_size(tmp_path):
    dataset = load_image_folder(two_kind_folder(tmp_path / "set", counts=(12, 6)), size=16)
    labels = cluster_labels(dataset.images, 2, seed=0)
    assert labels.tolist() == [0] * 12 + [1] * 6
    with pytest.raises(GanvasError, match="more clusters than the 18"):
        cluster_labels(dataset.images, 19, seed=0)


def test_a_self_conditioned_run_trains_on_the_clusters_and_samples_cover_them_evenly(tmp_path, capsys):
    folder, run = two_kind_folder(tmp_path / "set"), tmp_path / "run"
    assert main(["train", "--preset", "art", "--data", str(folder), "--size", "16", "--width", "8", "--steps", "2",
                 "--self-condition", "2", "--run", str(run), "--no-progress"]) == 0
    assert "self-conditioned on 2 clusters" in capsys.readouterr().err
    assert load_config(run).model == "dcgan-cond"
    record = json.loads((run / CLUSTERS_FILE).read_text())
    assert record["sizes"] == [12, 6] and record["labels"] == [0] * 12 + [1] * 6
    generator = api.load(run)
    assert generator.info.classes == 2
    assert len(generator.sample()) == 16  # a row of 8 per cluster
    assert sample_labels(generator.network, 6).tolist() == [0, 0, 0, 1, 1, 1]  # any n: the clusters in equal runs
    assert main(["sample", str(run), "--n", "4", "--class", "1", "--out", str(tmp_path / "one.png")]) == 0


def test_a_resumed_run_with_every_remedy_is_bit_identical_and_keeps_its_saved_clusters(tmp_path, monkeypatch):
    config = art_config(two_kind_folder(tmp_path / "set"), self_condition=2, ada_target=0.6, minibatch_std=True,
                        lecam_weight=0.3, mode_seeking_weight=1.0, steps=6)
    straight = train(config, tmp_path / "straight")
    train(config.replace(steps=3), tmp_path / "resumed")

    def no_clustering(*args, **kwargs):
        raise AssertionError("a resumed run reads its clusters, it does not cluster again")

    monkeypatch.setattr("ganvas.selfcondition.cluster_labels", no_clustering)
    resumed = train(config, tmp_path / "resumed", resume=True)
    for network in ("generator", "discriminator", "generator_ema"):
        a = load_file(ckpt.weights_path(straight.checkpoint, network))
        b = load_file(ckpt.weights_path(resumed.checkpoint, network))
        assert all(torch.equal(a[k], b[k]) for k in a), network
    p_straight = ckpt.load_checkpoint(straight.checkpoint).training_state().buffers["augment_p"]
    p_resumed = ckpt.load_checkpoint(resumed.checkpoint).training_state().buffers["augment_p"]
    assert torch.equal(p_straight, p_resumed) and float(p_straight) > 0
    averages = [ckpt.load_checkpoint(result.checkpoint).training_state().buffers["lecam_averages"]
                for result in (straight, resumed)]
    assert torch.equal(*averages) and bool(averages[0].abs().sum() > 0)


def test_a_run_whose_cluster_labels_are_damaged_does_not_resume(tmp_path):
    config = art_config(two_kind_folder(tmp_path / "set"), self_condition=2, steps=3)
    train(config, tmp_path / "run")
    (tmp_path / "run" / CLUSTERS_FILE).write_text('{"clusters": 2, "labels": [0, 1]}')
    with pytest.raises(GanvasError, match="cannot resume on the labels it trained with"):
        train(config.replace(steps=6), tmp_path / "run", resume=True)
