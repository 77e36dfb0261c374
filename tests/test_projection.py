"""Projection of images into a trained generator, latent files, blends, re-classing, held-out data and bad input
(docs/enhance.md): on tiny runs trained here in a second and images the tests make themselves."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import ganvas
from ganvas.cli import main
from ganvas.errors import GanvasError
from ganvas.models import build_discriminator, model_names
from ganvas.projection import LOSSES, FeatureTap, Loss, learning_rate, project, psnr, ssim

TINY = dict(split="test", batch_size=16, log_every=2, sample_every=4, checkpoint_every=4, eval_every=0,
            progress=False)
QUICK = dict(steps=40, starts=64)  # projection settings that run in well under a second on these models


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from conftest import digit_like_images, write_mnist_split

    folder = tmp_path_factory.mktemp("digits")
    pixels, labels = digit_like_images(64)
    return write_mnist_split(folder / "mnist", pixels, labels, "test")


@pytest.fixture(scope="module")
def plain_run(digits, tmp_path_factory):
    """The seed preset's MLPs (whose images vary with the latent from the start), 4 steps, 8 of the 64 images held
    out."""
    run = tmp_path_factory.mktemp("plain") / "run"
    ganvas.train(run=run, data_dir=str(digits), steps=4, holdout=8, **TINY)
    return run


@pytest.fixture(scope="module")
def cond_run(digits, tmp_path_factory):
    run = tmp_path_factory.mktemp("cond") / "run"
    ganvas.train(run=run, data_dir=str(digits), steps=2, model="resnet-cond", width=8, **TINY)
    return run


def test_projecting_an_image_the_generator_made_recovers_it(plain_run):
    generator = ganvas.load(plain_run)
    target = generator.sample(2, seed=123)
    projections = generator.project(target, **QUICK)
    assert [p.name for p in projections] == ["0-0", "0-1"]
    for projection in projections:
        assert projection.psnr > projection.random_psnr + 6, projection.summary()
        assert projection.psnr > 25 and projection.ssim > 0.9
        # the numbers are those of the images it returns
        assert math.isclose(projection.psnr, float(psnr(projection.image.tensor, projection.target.tensor)),
                            rel_tol=1e-5)


def test_a_targets_projection_does_not_depend_on_the_others_projected_with_it(plain_run):
    generator = ganvas.load(plain_run)
    a, b = generator.sample(2, seed=5).tensor
    alone = generator.project(a, **QUICK)[0]
    together = generator.project(torch.stack([b, a]), **QUICK)[1]
    assert torch.allclose(alone.latent.z, together.latent.z, atol=1e-4)


def test_projection_is_deterministic_for_a_seed(plain_run):
    generator = ganvas.load(plain_run)
    target = generator.sample(1, seed=9)
    first, again = (generator.project(target, steps=10, starts=16, seed=3)[0] for _ in range(2))
    assert torch.equal(first.latent.z, again.latent.z)


def test_every_loss_runs_and_steps_0_gives_the_best_random_start(plain_run):
    generator = ganvas.load(plain_run)
    target = generator.sample(1, seed=11)
    for loss in LOSSES:
        projection = generator.project(target, steps=5, starts=16, loss=loss)[0]
        assert math.isfinite(projection.loss) and projection.psnr > 0
    start = generator.project(target, steps=0, starts=16)[0]
    assert start.psnr == pytest.approx(start.random_psnr)


def test_the_latent_file_round_trips_and_draws_the_projection_again(plain_run, tmp_path):
    generator = ganvas.load(plain_run)
    projection = generator.project(generator.sample(1, seed=4), **QUICK)[0]
    paths = projection.save(tmp_path)
    assert {path.name for path in paths.values()} == {"0.json", "0.png", "0-compare.png", "0.gif"}
    data = json.loads(paths["latent"].read_text())
    assert data["format"] == "ganvas-latent" and data["class"] is None and data["truncation"] == 1.0
    assert data["generator"]["checkpoint"] == str(generator.info.path) and data["generator"]["z_dim"] == 100
    assert data["loss"] == pytest.approx(projection.loss) and data["psnr"] == pytest.approx(projection.psnr)
    read = generator.latent(paths["latent"])
    assert torch.equal(read.z, projection.latent.z), "float32 latents survive the JSON exactly"
    assert torch.allclose(generator.render(paths["latent"]).tensor, projection.image.tensor, atol=1e-6)
    assert Image.open(paths["compare"]).size == (2 * (2 * 28 + 3 * 2), 2 * (28 + 2 * 2))  # two tiles, shown 2x
    gif = Image.open(paths["animation"])
    assert gif.n_frames > 1 and gif.size[0] == 2 * (2 * 28 + 2)


def test_blend_at_0_and_1_gives_the_two_endpoints(plain_run, tmp_path):
    generator = ganvas.load(plain_run)
    a, b = generator.project(generator.sample(2, seed=8), **QUICK)
    a.latent.save(tmp_path / "a.json")
    b.latent.save(tmp_path / "b.json")
    row = generator.blend(tmp_path / "a.json", tmp_path / "b.json", [0, 0.5, 1])
    assert len(row) == 3 and row.columns == 3
    # (the same latents exactly; the images to float rounding, which depends on the batch size)
    assert torch.allclose(row.tensor[0], generator.render(tmp_path / "a.json").tensor[0], atol=1e-6)
    assert torch.allclose(row.tensor[2], generator.render(tmp_path / "b.json").tensor[0], atol=1e-6)
    seeds = generator.blend("seed:3", 4, [0, 1])
    assert torch.allclose(seeds.tensor, torch.cat([generator.sample(1, seed=3).tensor,
                                                   generator.sample(1, seed=4).tensor]), atol=1e-6)
    with pytest.raises(GanvasError, match="ratios= must be numbers from 0 to 1"):
        generator.blend(3, 4, [0, 1.5])


def test_a_walk_and_variations_start_from_latent_files(plain_run, tmp_path):
    generator = ganvas.load(plain_run)
    projection = generator.project(generator.sample(1, seed=21), **QUICK)[0]
    path = projection.latent.save(tmp_path / "mine.json")
    walk = generator.walk([path, "seed:7", 3], frames=6)
    assert len(walk) == 6 and torch.allclose(walk.frames.tensor[0], projection.image.tensor[0], atol=1e-6)
    near = generator.variations(seed=1, n=4, strength=0.2, latent=path)
    assert torch.allclose(near.tensor[0], projection.image.tensor[0], atol=1e-6)
    assert not torch.allclose(near.tensor[1], near.tensor[0])


def test_re_classing_keeps_the_latent_and_changes_the_class(cond_run, tmp_path):
    generator = ganvas.load(cond_run)
    target = generator.sample(1, class_=3, seed=2)
    projection = generator.project(target, class_=3, **QUICK)[0]
    assert projection.class_ == 3
    as_five = projection.reclass(5)
    z = projection.latent.z[None]
    assert torch.allclose(as_five.tensor, generator.network(z, torch.tensor([5])).detach(), atol=1e-6)
    path = projection.latent.save(tmp_path / "three.json")
    assert torch.allclose(generator.sample(latent=path, class_=5).tensor, as_five.tensor, atol=1e-6)
    assert json.loads(path.read_text())["class"] == 3
    found = generator.project(target, **QUICK)[0]
    assert found.class_ in range(10) and found.psnr > found.random_psnr


def test_a_conditional_walk_takes_each_keyframes_class(cond_run, tmp_path):
    generator = ganvas.load(cond_run)
    projections = generator.project(generator.sample(2, class_=1, seed=6), class_=1, **QUICK)
    projections[0].latent.with_class(2).save(tmp_path / "two.json")
    projections[1].latent.with_class(7).save(tmp_path / "seven.json")
    walk = generator.walk([tmp_path / "two.json", tmp_path / "seven.json"], frames=2)
    assert torch.allclose(walk.frames.tensor, generator.render([tmp_path / "two.json", tmp_path / "seven.json"]).tensor,
                          atol=1e-6)


# --- targets of any size, format and mode, fitted as training images are ---------------------------------------

def test_targets_are_fitted_exactly_as_training_images_are(tmp_path):
    from ganvas.data.folder import load_image_folder
    from ganvas.targets import load_targets

    folder = tmp_path / "art"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (40, 60, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "a.png")
    for channels, shape, background in [("rgba", (4, 16, 16), None), ("rgb", (3, 16, 16), "white"),
                                        ("grey", (1, 16, 16), None)]:
        for fit in ("crop", "pad"):
            trained = load_image_folder(folder, 16, fit=fit, channels=channels, background=background).images
            fitted = load_targets([folder / "a.png"], shape, fit, background)
            assert torch.equal(((fitted.images + 1) * 127.5).round().to(torch.uint8), trained)
            how = "its centre square" if fit == "crop" else "padded to a square"
            assert fitted.notes == [f"a: 60x40 fitted to 16x16 ({how})"]


def test_an_unreadable_target_is_named_and_the_others_are_still_projected(plain_run, tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(good)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    generator = ganvas.load(plain_run)
    projections = generator.project([tmp_path / "broken.png", good, tmp_path / "missing.jpg"], **QUICK)
    assert [p.name for p in projections] == ["good"]
    assert projections.skipped == [(str(tmp_path / "broken.png"), "not an image file that Pillow can read"),
                                   (str(tmp_path / "missing.jpg"), "no such file")]
    out = tmp_path / "out"
    assert main(["project", str(plain_run), str(tmp_path / "broken.png"), str(good), "--steps", "5", "--starts", "8",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "broken.png" in captured.err
    assert captured.out.startswith("good: PSNR") and (out / "good.json").is_file()
    with pytest.raises(GanvasError, match="nothing to project: .*broken.png: not an image file"):
        generator.project([tmp_path / "broken.png"], **QUICK)


def test_a_target_much_larger_than_the_model_is_fitted_with_a_note(plain_run, tmp_path):
    big = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (1500, 2400, 3), dtype=np.uint8)).save(big)
    projections = ganvas.load(plain_run).project(big, steps=2, starts=8)
    assert projections.notes == ["big: 2400x1500 fitted to 28x28 (its centre square)"]
    assert projections[0].target.tensor.shape == (1, 1, 28, 28)


def test_pictures_arrays_and_tensors_are_targets_too(plain_run):
    generator = ganvas.load(plain_run)
    picture = Image.new("RGB", (50, 50), "white")
    array = np.zeros((28, 28, 4), np.uint8)
    projections = generator.project([picture, array, generator.sample(1).tensor[0]], steps=2, starts=8)
    assert [p.name for p in projections] == ["0", "1", "2"]
    assert projections[0].target.tensor.min() == 1.0 and projections[1].target.tensor.max() == -1.0
    with pytest.raises(GanvasError, match="a tensor target must be shaped"):
        generator.project([torch.zeros(3, 28, 28)], steps=2, starts=8)


# --- latent files that do not belong -------------------------------------------------------------------------

@pytest.fixture
def saved_latent(plain_run, tmp_path):
    generator = ganvas.load(plain_run)
    path = generator.project(generator.sample(1, seed=4), steps=2, starts=8)[0].latent.save(tmp_path / "a.json")
    return generator, path


def edited(path, tmp_path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    out = tmp_path / "edited.json"
    out.write_text(json.dumps(data))
    return out


def test_latent_files_with_the_wrong_length_nans_or_junk_get_a_clear_error(saved_latent, tmp_path):
    generator, path = saved_latent
    z = json.loads(path.read_text())["z"]
    cases = [
        (edited(path, tmp_path, z=z[:-1]), "z has 99 numbers, but its generator's z_dim is 100"),
        (tmp_path / "nan.json", "z holds NaN or infinite numbers"),
        (tmp_path / "junk.json", "is not a ganvas latent file \\(it is not JSON\\)"),
        (tmp_path / "other.json", "is not a ganvas latent file \\(no \"format\""),
        (tmp_path / "none.json", "does not exist"),
    ]
    (tmp_path / "nan.json").write_text(json.dumps({**json.loads(path.read_text()), "z": [math.nan] * 100}))
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"z": z}))
    for bad, message in cases:
        with pytest.raises(GanvasError, match=message):
            generator.sample(latent=bad)
        with pytest.raises(GanvasError, match=message):
            generator.walk([bad, 3], frames=4)


def test_a_latent_from_another_model_or_other_weights_is_refused(saved_latent, cond_run, digits, tmp_path):
    generator, path = saved_latent
    other_model = ganvas.load(cond_run)
    with pytest.raises(GanvasError, match="belongs to another model \\(mlp with z_dim 100, 1x28x28 images, from .*\\), "
                                          "not this one "
                                          "\\(resnet-cond with z_dim 100, 1x28x28 images, 10 classes\\)"):
        other_model.blend(path, 3)
    retrained = ganvas.train(run=tmp_path / "again", data_dir=str(digits), steps=2, seed=1, **TINY)
    with pytest.raises(GanvasError, match="was found in other weights .*project the image again into this one"):
        ganvas.load(retrained).variations(latent=path)
    small = ganvas.train(run=tmp_path / "small", data_dir=str(digits), steps=2, z_dim=16, **TINY)
    with pytest.raises(GanvasError, match="z has 100 numbers, but this generator's z_dim is 16"):
        ganvas.load(small).render(path)
    assert main(["sample", str(cond_run), "--latent", str(path)]) == 1


def test_cli_sample_variations_interpolate_and_blend_take_latent_files(saved_latent, plain_run, tmp_path, capsys):
    generator, path = saved_latent
    run = str(plain_run)
    assert main(["sample", run, "--latent", f"{path},{path}", "--npy", str(tmp_path / "two.npy")]) == 0
    two = np.load(tmp_path / "two.npy")
    assert two.shape == (2, 28, 28) and np.array_equal(two[0], generator.render(path).pixels[0])
    assert main(["variations", run, "--latent", str(path), "--n", "4", "--out", str(tmp_path / "v.png")]) == 0
    assert main(["interpolate", run, "--keyframes", f"{path},seed:7,3", "--frames", "6", "--loop",
                 "--out", str(tmp_path / "walk.gif")]) == 0
    assert Image.open(tmp_path / "walk.gif").n_frames == 6
    assert main(["blend", run, str(path), "seed:5", "--ratios", "0,0.5,1", "--out-dir", str(tmp_path / "mix")]) == 0
    assert sorted(p.name for p in (tmp_path / "mix").iterdir()) == ["0.png", "1.png", "2.png"]
    out = capsys.readouterr().out
    assert "3 mixes of" in out and "6 frames" in out
    assert main(["blend", run, str(path), "seed:x"]) == 1
    assert "is not a seed: write seed:7" in capsys.readouterr().err


# --- held-out data -------------------------------------------------------------------------------------------

def test_holdout_keeps_images_out_of_training_and_records_them(plain_run, digits):
    from ganvas.config import load_config
    from ganvas.data import load_held_out_data, load_run_data, load_training_data

    record = json.loads((plain_run / "holdout.json").read_text())
    assert (record["format"], record["count"], record["of"], record["seed"]) == ("ganvas-holdout", 8, 64, 0)
    config = load_config(plain_run)
    everything, training, held = load_run_data(config), load_training_data(config), load_held_out_data(config)
    assert (len(training), len(held)) == (56, 8)
    assert torch.equal(held.images, everything.images[record["indices"]])
    kept = sorted(set(range(64)) - set(record["indices"]))
    assert torch.equal(training.images, everything.images[kept])
    assert "56 images 1x28x28, 8 held out" in (plain_run / "train.log").read_text()
    # chosen by the seed: another seed holds out others
    assert load_held_out_data(config.replace(seed=1)).held_out.tolist() != record["indices"]


def test_held_out_images_are_projected_and_evaluated(plain_run, tmp_path, capsys):
    generator = ganvas.load(plain_run)
    held = generator.held_out(3)
    assert held.names[0].startswith("holdout-") and held.labels.shape == (3,)
    projections = generator.project(held, steps=2, starts=8)
    assert [p.name for p in projections] == held.names
    assert main(["project", str(plain_run), "--holdout", "--n", "2", "--steps", "2", "--starts", "8",
                 "--out", str(tmp_path / "p")]) == 0
    assert len(list((tmp_path / "p").glob("holdout-*.json"))) == 2
    report = generator.evaluate(n=4, holdout=True)
    assert report.count == 4 and "fid" in report.generated
    assert main(["evaluate", str(plain_run), "--holdout", "--n", "4"]) == 0
    assert main(["project", str(plain_run), "--n", "2"]) == 1
    assert "--n picks how many held-out images --holdout projects" in capsys.readouterr().err


def test_holdout_options_are_checked(digits, tmp_path):
    with pytest.raises(GanvasError, match="holdout= must be 0 \\(off\\) or positive"):
        ganvas.train(run=tmp_path / "a", data_dir=str(digits), steps=2, holdout=-1, **TINY)
    with pytest.raises(GanvasError, match="holdout= 64 leaves nothing to train on: the data set has 64 images"):
        ganvas.train(run=tmp_path / "b", data_dir=str(digits), steps=2, holdout=64, **TINY)
    run = ganvas.train(run=tmp_path / "c", data_dir=str(digits), steps=2, **TINY)
    assert not (tmp_path / "c" / "holdout.json").exists()
    with pytest.raises(GanvasError, match="holds no images out of training; train one with holdout= N"):
        ganvas.load(run).held_out()


# --- the pieces ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", model_names())
def test_discriminator_features_are_found_generically_in_every_model(model):
    conditional = model.endswith("-cond")
    kwargs = {"num_classes": 3} if conditional else {}
    shape = (3, 32, 32)
    discriminator = build_discriminator(model, image_shape=shape, **kwargs).eval()
    tap = FeatureTap(discriminator)
    labels = torch.tensor([0, 2]) if conditional else None
    images = torch.rand(2, *shape) * 2 - 1
    features = tap.features(images, labels)
    assert len(features) >= 2 and all(f.shape[0] == 2 for f in features)
    loss = Loss("pixels+features", images.flip(0), discriminator, labels)
    value = loss(images.requires_grad_(True), labels)
    value.sum().backward()
    assert value.shape == (2,) and torch.isfinite(value).all() and images.grad.abs().sum() > 0


def test_ssim_and_psnr_match_torchmetrics_and_count_alpha_as_seen():
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    generator = torch.Generator().manual_seed(0)
    a = torch.rand(3, 3, 32, 32, generator=generator) * 2 - 1
    b = (a + 0.2 * torch.randn(3, 3, 32, 32, generator=generator)).clamp(-1, 1)
    ours = ssim(a, b)
    theirs = torch.stack([structural_similarity_index_measure((x[None] + 1) / 2, (y[None] + 1) / 2, data_range=1.0)
                          for x, y in zip(a, b)])
    assert torch.allclose(ours, theirs, atol=2e-3)
    assert torch.allclose(psnr(a, b), torch.stack([peak_signal_noise_ratio((x + 1) / 2, (y + 1) / 2, data_range=1.0)
                                                   for x, y in zip(a, b)]), atol=1e-3)
    invisible = torch.cat([a[:1], -torch.ones(1, 1, 32, 32)], 1)  # RGBA, alpha 0 everywhere
    other_colour = torch.cat([b[:1], -torch.ones(1, 1, 32, 32)], 1)
    assert psnr(invisible, other_colour).item() == 100.0, "the colour of invisible pixels does not count"


def test_the_learning_rate_warms_up_and_decays():
    rates = [learning_rate(step / 100, 0.1) for step in range(100)]
    assert rates[0] == 0 and max(rates) == pytest.approx(0.1) and rates[-1] < 0.001
    assert rates.index(max(rates)) <= 10


def test_bad_projection_settings_are_refused(plain_run):
    generator = ganvas.load(plain_run)
    target = generator.sample(1).tensor
    for keywords, message in [({"steps": -1}, "steps= must be a whole number of at least 0"),
                              ({"starts": 0}, "starts= must be a whole number of at least 1"),
                              ({"loss": "lpips"}, "unknown projection loss= 'lpips'"),
                              ({"class_": 3}, "this generator is unconditional: class_= needs")]:
        with pytest.raises(GanvasError, match=message):
            generator.project(target, **keywords)
    with pytest.raises(GanvasError, match="targets must be shaped"):
        project(generator.network, torch.zeros(1, 3, 28, 28))


def test_the_projection_benchmark_runs(plain_run, tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    monkeypatch.setattr(sys, "argv", ["projection.py", str(plain_run), "--n", "3", "--steps", "2", "--starts", "8",
                                      "--random", "16", "--grid", str(tmp_path / "grid.png")])
    runpy.run_path(str(benchmarks / "projection.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "gain_over_random_db" in out and "evaluator reads the target's digit" in out
    assert Image.open(tmp_path / "grid.png").size[0] > 0
