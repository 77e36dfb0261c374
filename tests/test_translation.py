"""Image-to-image GANs (ganvas.translation): pairs, training steps, exact resume, tiled inference, bad inputs."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import ganvas
import ganvas.api
from ganvas import checkpoint as ckpt
from ganvas.config import PRESETS, preset_config
from ganvas.errors import CheckpointError, DataError, GanvasError
from ganvas.models import build_network
from ganvas.models.translator_resnet import ResNetTranslator
from ganvas.models.unet import UNetGenerator
from ganvas.noise import SampleNoise
from ganvas.regularizers import r1_penalty, roughness, total_variation
from ganvas.tiles import apply_tiled
from ganvas.trainer import train
from ganvas.translation import (CycleJudge, TranslationGAN, flat_area_grain, greyscale, holes,
                                load_translation_data, task_input, translation_recipes, with_holes)

SIZE = 16
TINY = {"size": SIZE, "width": 8, "batch_size": 4, "steps": 4, "log_every": 2, "sample_every": 2,
        "checkpoint_every": 2, "eval_every": 2, "holdout": 2}


def picture(seed: int, channels: int = 4, side: int = 24) -> np.ndarray:
    """A coloured square with a transparent margin, placed and coloured by the seed."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((side, side, channels), dtype=np.uint8)
    top, left = rng.integers(2, side // 2, size=2)
    pixels[top:top + side // 3, left:left + side // 3, :3] = rng.integers(40, 255, size=3)
    pixels[..., 3:] = 0
    pixels[top:top + side // 3, left:left + side // 3, 3:] = 255
    return pixels


def write_folder(folder, names, channels: int = 4, seed: int = 0, extension: str = "png"):
    folder.mkdir(parents=True, exist_ok=True)
    mode = {3: "RGB", 4: "RGBA"}[channels]
    for index, name in enumerate(names):
        Image.fromarray(picture(seed + index, channels), mode).save(folder / f"{name}.{extension}")
    return folder


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "images", [f"im{i:02d}" for i in range(12)])


@pytest.fixture
def two_folders(tmp_path):
    names = [f"e{i:02d}" for i in range(12)]
    a = write_folder(tmp_path / "a", names + ["only_in_a"])
    b = write_folder(tmp_path / "b", names + ["only_in_b"], seed=100)
    return a, b


def config_for(task, data, data_b=None, **changes):
    return preset_config(task if task != "paired" else "paired", count_images=lambda c: 12,
                         **{"data": str(data), "data_b": None if data_b is None else str(data_b), **TINY, **changes})


def weights(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


# --- pairs ---------------------------------------------------------------------------------------------------

def test_upscale_input_is_the_bicubic_enlargement_of_a_four_times_smaller_copy():
    images = torch.rand(2, 4, SIZE, SIZE) * 2 - 1
    made = task_input("upscale", images, None)
    small = torch.nn.functional.avg_pool2d(images, 4)
    assert made.shape == images.shape
    assert torch.allclose(made, torch.nn.functional.interpolate(small, scale_factor=4, mode="bicubic").clamp(-1, 1))
    flat = torch.full((1, 3, SIZE, SIZE), 0.3)  # nothing to lose: the input is the image
    assert torch.allclose(task_input("upscale", flat, None), flat, atol=1e-6)


def test_colorize_input_is_grey_in_every_colour_channel_and_keeps_alpha():
    images = torch.rand(2, 4, SIZE, SIZE) * 2 - 1
    grey = greyscale(images)
    assert grey.shape == images.shape
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert torch.equal(grey[:, 3], images[:, 3])
    expected = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    assert torch.allclose(grey[:, 0], expected, atol=1e-6)
    with pytest.raises(DataError, match="colour"):
        greyscale(torch.zeros(1, 1, SIZE, SIZE))


def test_sketch_input_marks_the_edges_of_the_image_only():
    pytest.importorskip("kornia")
    images = -torch.ones(1, 3, 32, 32)
    images[..., 8:24, 8:24] = 1  # a white square on black
    edges = task_input("sketch", images, None)
    assert edges.shape == (1, 1, 32, 32)
    assert set(edges.unique().tolist()) <= {-1.0, 1.0}
    on = edges[0, 0] > 0
    assert on[7:9, 10:22].any() and on[10:22, 7:9].any()  # the square's outline
    assert not on[12:20, 12:20].any() and not on[:4].any()  # nothing inside it or far outside


def test_inpaint_input_has_rectangular_holes_at_zero_and_a_mask_channel():
    images = torch.rand(8, 3, 32, 32) * 2 - 1
    made = task_input("inpaint", images, SampleNoise(torch.Generator().manual_seed(0)))
    assert made.shape == (8, 4, 32, 32)
    mask = made[:, 3] > 0
    assert set(made[:, 3].unique().tolist()) == {-1.0, 1.0}
    for image, hole, source in zip(made, mask, images):
        rows, columns = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        height, width = len(rows), len(columns)
        assert 8 <= height <= 16 and 8 <= width <= 16
        assert hole.sum() == height * width  # one rectangle
        assert torch.all(image[:3][:, hole] == 0)
        assert torch.equal(image[:3][:, ~hole], source[:, ~hole])
    again = task_input("inpaint", images, SampleNoise(torch.Generator().manual_seed(0)))
    assert torch.equal(made, again)  # drawn from the run's noise: the same seed, the same holes


def test_holes_of_a_batch_on_two_processes_are_those_of_one():
    one = holes(8, 32, SampleNoise(torch.Generator().manual_seed(3)), torch.device("cpu"))
    halves = [holes(4, 32, SampleNoise(torch.Generator().manual_seed(3), rank, 2), torch.device("cpu"))
              for rank in range(2)]
    assert torch.equal(torch.cat(halves), one)


@pytest.mark.parametrize("policy", ["translation", "flip", "translation,flip"])
def test_paired_augmentation_shifts_and_mirrors_both_images_alike(policy, two_folders):
    a, _ = two_folders
    config = config_for("paired", a, a, augment=policy)  # A paired with itself: every pair is equal
    data = load_translation_data(config, torch.device("cpu"))
    translator = TranslationGAN(config, data, torch.device("cpu"))
    batch = data.sampler.batch(0)
    assert torch.equal(batch[0], batch[1])
    for _ in range(3):
        inputs, targets = translator.pair(batch)
        assert torch.equal(inputs, targets)
        assert not torch.equal(inputs, batch[0])  # they were moved (all of them unmoved is unlikely)


def test_one_folder_pairs_are_made_from_the_augmented_target():
    config = preset_config("upscale", count_images=lambda c: 12, data="x", **{**TINY, "holdout": 0},
                           augment="translation")
    images = torch.rand(4, 3, SIZE, SIZE) * 2 - 1

    class Data:
        task, a_channels, b_channels, examples = "upscale", 3, 3, (images, images)

    translator = TranslationGAN(config, Data(), torch.device("cpu"))
    inputs, targets = translator.pair((images, None))
    assert torch.allclose(inputs, task_input("upscale", targets, None))


# --- paired folders --------------------------------------------------------------------------------------------

def test_paired_folders_match_files_by_name_and_report_the_unmatched(two_folders, tmp_path):
    a, b = two_folders
    (b / "e03.png").rename(b / "e03.PNG")  # the extension does not count
    data = load_translation_data(config_for("paired", a, b, holdout=0), torch.device("cpu"))
    assert data.dataset.names == [f"e{i:02d}.png" for i in range(12)]
    assert len(data.notes) == 1 and "only_in_a" in data.notes[0] and "only_in_b" in data.notes[0]
    first, second = data.sampler.images, data.sampler.labels
    expected_b = np.stack([np.asarray(Image.open(b / (f"e{i:02d}.png" if i != 3 else "e03.PNG")).resize(
        (SIZE, SIZE), Image.Resampling.LANCZOS)) for i in range(12)])
    assert len(first) == len(second) == 12
    decoded_b = ((second + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    assert np.abs(decoded_b - expected_b).max() <= 1
    run = train(config_for("paired", a, b, steps=2), tmp_path / "run")
    log = (run.run_dir / "train.log").read_text()
    assert "no partner of the same name" in log and "only_in_b" in log


def test_paired_folders_with_no_matching_names_are_refused(tmp_path):
    a = write_folder(tmp_path / "a", ["x1", "x2", "x3"])
    b = write_folder(tmp_path / "b", ["y1", "y2", "y3"])
    with pytest.raises(DataError, match="no file in .* has a partner of the same name"):
        load_translation_data(config_for("paired", a, b, holdout=0), torch.device("cpu"))


def test_paired_folders_may_differ_in_channels(tmp_path):
    names = [f"n{i}" for i in range(8)]
    a = write_folder(tmp_path / "a", names, channels=3)
    b = write_folder(tmp_path / "b", names, channels=4)
    config = config_for("paired", a, b, holdout=0, channels="auto")
    data = load_translation_data(config, torch.device("cpu"))
    assert (data.a_channels, data.b_channels) == (3, 4)
    translator = TranslationGAN(config, data, torch.device("cpu"))
    assert translator.translate(data.examples[0][:2]).shape == (2, 4, SIZE, SIZE)


# --- training --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["upscale", "colorize", "sketch", "inpaint", "paired", "cyclegan"])
def test_a_training_step_moves_every_network(task, folder, two_folders):
    if task == "sketch":
        pytest.importorskip("kornia")
    config = config_for(task, *(two_folders if task in ("paired", "cyclegan") else (folder,)), holdout=0)
    data = load_translation_data(config, torch.device("cpu"))
    translator = TranslationGAN(config, data, torch.device("cpu"))
    before = {role: weights(net) for role, net in translator.nets.items()}
    stats = translator.train_step(0, lambda i: data.sampler.batch(i))
    assert set(translator.nets) == ({"generator_a2b", "discriminator_b"} if task != "cyclegan" else
                                    {"generator_a2b", "generator_b2a", "discriminator_a", "discriminator_b"})
    for role, net in translator.nets.items():
        after = net.state_dict()
        assert any(not torch.equal(before[role][k], after[k]) for k in after), f"{role} did not move"
    assert all(torch.isfinite(value) for value in stats.values())
    assert {"d_loss", "g_loss", "d_accuracy"} <= set(stats)


def test_cycle_weight_a_weighs_the_a_to_b_to_a_cycle_alone(two_folders):
    def cycle_errors(**weights):
        config = config_for("cyclegan", *two_folders, holdout=0, identity_weight=0.0, tv_weight=0.0, **weights)
        data = load_translation_data(config, torch.device("cpu"))
        translator = TranslationGAN(config, data, torch.device("cpu"))
        for step in range(6):
            translator.train_step(step, lambda i: data.sampler.batch(i))
        a, b = data.examples
        g_ab, g_ba = translator.nets["generator_a2b"].eval(), translator.nets["generator_b2a"].eval()
        with torch.no_grad():
            return float((g_ba(g_ab(a)) - a).abs().mean()), float((g_ab(g_ba(b)) - b).abs().mean())

    a_only, b_only = cycle_errors(cycle_weight=0.0, cycle_weight_a=50.0), cycle_errors(cycle_weight=50.0,
                                                                                      cycle_weight_a=0.0)
    assert a_only[0] < b_only[0] and b_only[1] < a_only[1], (a_only, b_only)


def test_identity_fade_weakens_the_identity_term_to_nothing_at_its_step(two_folders):
    config = config_for("cyclegan", *two_folders, holdout=0, identity_fade=2)
    data = load_translation_data(config, torch.device("cpu"))
    translator = TranslationGAN(config, data, torch.device("cpu"))
    identity = [float(translator.train_step(step, lambda i: data.sampler.batch(i))["identity_l1"]) for step in range(4)]
    assert identity[0] > 0 and identity[1] > 0 and identity[2] == identity[3] == 0  # weights 1, 0.5, then 0: skipped


def _checkpoint_tensors(run_dir):
    latest = ckpt.step_checkpoints(run_dir)[-1]
    loaded = ckpt.load_checkpoint(latest)
    return latest.name, {role: loaded.weights(role) for role in loaded.networks}, loaded.training_state()


@pytest.mark.parametrize("task, ema_decay", [("inpaint", 0.0), ("cyclegan", 0.0), ("cyclegan", 0.9)])
def test_resumed_run_is_bit_identical_to_a_straight_run(task, ema_decay, folder, two_folders, tmp_path):
    sources = two_folders if task == "cyclegan" else (folder,)
    straight = train(config_for(task, *sources, steps=6, ema_decay=ema_decay), tmp_path / "straight")
    config = config_for(task, *sources, steps=3, ema_decay=ema_decay)
    train(config, tmp_path / "resumed")
    train(config.replace(steps=6), tmp_path / "resumed", resume=True)
    name_a, weights_a, state_a = _checkpoint_tensors(straight.run_dir)
    name_b, weights_b, state_b = _checkpoint_tensors(tmp_path / "resumed")
    assert name_a == name_b == "step-00000006"
    assert ("generator_a2b_ema" in weights_a) == bool(ema_decay)
    for role in weights_a:
        for key in weights_a[role]:
            assert torch.equal(weights_a[role][key], weights_b[role][key]), (role, key)
    assert torch.equal(state_a.rng[0]["noise"], state_b.rng[0]["noise"])
    assert set(state_a.buffers) == set(state_b.buffers) == ({"pool_a", "pool_b"} if task == "cyclegan" else set())
    for name in state_a.buffers:
        assert torch.equal(state_a.buffers[name], state_b.buffers[name])


@pytest.mark.parametrize("task", ["upscale", "cyclegan"])
def test_a_moving_average_of_each_generator_is_trained_saved_and_used_to_translate(task, folder, two_folders,
                                                                                   tmp_path):
    sources = two_folders if task == "cyclegan" else (folder,)
    run = train(config_for(task, *sources, steps=4, ema_decay=0.9, holdout=0), tmp_path / "run")
    checkpoint = ckpt.load_checkpoint(ckpt.resolve_checkpoint(run.run_dir))
    generators = ["generator_a2b"] + (["generator_b2a"] if task == "cyclegan" else [])
    discriminators = ["discriminator_b"] + (["discriminator_a"] if task == "cyclegan" else [])
    assert set(checkpoint.networks) == {*generators, *discriminators, *(f"{role}_ema" for role in generators)}
    translator = ganvas.load_translator(run.run_dir)
    channels = checkpoint.networks["generator_a2b"]["args"]["in_channels"]
    inputs = torch.rand(2, channels, SIZE, SIZE) * 2 - 1
    for role in generators:
        trained, average = (build_network(checkpoint.networks[r]) for r in (role, f"{role}_ema"))
        trained.load_state_dict(checkpoint.weights(role))
        average.load_state_dict(checkpoint.weights(f"{role}_ema"))
        with torch.no_grad():
            from_average, from_trained = average.eval()(inputs), trained.eval()(inputs)
            loaded = translator.networks[role](inputs)
        assert not torch.allclose(from_average, from_trained, atol=1e-4), f"{role}'s average did not lag behind it"
        assert torch.equal(loaded, from_average), f"load_translator did not take {role}'s average"


def test_a_run_writes_input_output_target_grids_and_quality(folder, tmp_path):
    run = train(config_for("upscale", folder), tmp_path / "run")
    grid = Image.open(run.run_dir / "samples" / "latest.png")
    assert grid.width > grid.height  # rows of input | output | target, two examples a row
    lines = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    quality = [line["quality"] for line in lines if "quality" in line]
    assert quality and {"l1", "psnr"} <= set(quality[0])
    assert "l1" in lines[0]
    assert (run.run_dir / "checkpoints" / "best").is_dir()  # ranked by held-out L1
    assert json.loads((run.run_dir / "holdout.json").read_text())["count"] == 2


def test_a_nan_rolls_back_to_the_last_good_checkpoint(folder, tmp_path, monkeypatch):
    from ganvas.trainer import DivergedError

    config = config_for("upscale", folder, steps=6)
    original = TranslationGAN._pix2pix_step

    def poisoned(self, step, batch):
        stats = original(self, step, batch)
        if int(self.opts["generator_a2b"].state_dict()["state"][0]["step"]) == 3:
            stats["l1"] = torch.tensor(float("nan"))
        return stats

    monkeypatch.setattr(TranslationGAN, "_pix2pix_step", poisoned)
    with pytest.raises(DivergedError, match="rolled back to the last good checkpoint, step-00000002"):
        train(config, tmp_path / "run")


# --- enhance ---------------------------------------------------------------------------------------------------

def _trained(tmp_path, task, *sources, **changes):
    return train(config_for(task, *sources, steps=2, **changes), tmp_path / task).run_dir


@pytest.mark.parametrize("network,tile,overlap,exact", [
    (lambda: UNetGenerator(3, 3, width=4, depth=2), 32, 8, 16),
    (lambda: UNetGenerator(3, 3, width=4, depth=2, upsample="resize"), 32, 8, 16),
    # G's receptive field reaches 23 pixels (7x7 convs, a residual block at a quarter of the side)
    (lambda: ResNetTranslator(3, 3, width=4, blocks=1), 64, 16, 32),
], ids=["unet", "unet-resize", "resnet-translator"])
def test_tiled_inference_equals_whole_image_inference_away_from_the_seams(network, tile, overlap, exact):
    torch.manual_seed(0)
    network = network().eval()
    with torch.no_grad():  # running statistics that are not the identity
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2)
    image = torch.rand(1, 3, 164, 148) * 2 - 1
    whole = apply_tiled(network, image, network.multiple, tile=256, overlap=64)
    tiled = apply_tiled(network, image, network.multiple, tile=tile, overlap=overlap)
    assert tiled.shape == whole.shape == (1, 3, 164, 148)
    # The first tile alone covers [0, tile - overlap) on each axis; its inner edge is `overlap` pixels further. The
    # network's receptive field reaches less far than from `exact` to that edge, so there the result is exactly
    # the whole image's.
    assert torch.allclose(tiled[..., :exact, :exact], whole[..., :exact, :exact], atol=1e-5)
    assert (tiled - whole).abs().max() < 0.5  # and nowhere far off: the seams are blended


class Interrupt(Exception):
    """What a test's progress callback raises to stop a tiled pass."""


def counting_network(events: list) -> torch.nn.Module:
    """A small U-Net that notes each tile it is given in `events`."""
    torch.manual_seed(0)
    network = UNetGenerator(3, 3, width=4, depth=2).eval()
    network.register_forward_pre_hook(lambda _module, inputs: events.append(("tile", tuple(inputs[0].shape[-2:]))))
    return network


def test_tiled_inference_reports_every_tile_in_order_with_the_total():
    events = []
    network = counting_network(events)
    image = torch.rand(1, 3, 100, 88) * 2 - 1
    out = apply_tiled(network, image, network.multiple, tile=32, overlap=8,
                      on_step=lambda done, total: events.append(("step", done, total)))
    # 100x88 pixels (multiples of 4: no padding) in 32-pixel tiles 24 apart: 4 rows of 4 columns
    total = 16
    assert events == [event for done in range(1, total + 1) for event in (("tile", (32, 32)), ("step", done, total))]
    assert torch.equal(out, apply_tiled(network, image, network.multiple, tile=32, overlap=8))  # the same result
    events.clear()
    apply_tiled(network, image[..., :20, :20], network.multiple, tile=32, overlap=8,
                on_step=lambda done, total: events.append(("step", done, total)))
    assert events == [("tile", (20, 20)), ("step", 1, 1)]  # an image within one tile is one step


def test_an_exception_from_the_progress_callback_stops_tiling_before_the_next_tile():
    events = []
    network = counting_network(events)

    def stop_after_the_second(done: int, total: int) -> None:
        events.append(("step", done, total))
        if done == 2:
            raise Interrupt("enough")

    with pytest.raises(Interrupt, match="enough"):
        apply_tiled(network, torch.zeros(1, 3, 100, 88), network.multiple, tile=32, overlap=8,
                    on_step=stop_after_the_second)
    assert events == [("tile", (32, 32)), ("step", 1, 16), ("tile", (32, 32)), ("step", 2, 16)]


def test_a_cyclegan_of_residual_blocks_trains_and_translates_both_ways(two_folders, tmp_path):
    run = _trained(tmp_path, "cyclegan", *two_folders, model="resnet-translator")
    recipe = ckpt.load_checkpoint(ckpt.step_checkpoints(run)[-1]).networks["generator_b2a"]
    assert recipe["model"] == "resnet-translator" and "depth" not in recipe["args"]
    translator = ganvas.load_translator(run)
    assert translator.info.directions == ("a2b", "b2a")
    source = tmp_path / "odd.png"  # a side that is no multiple of the network's 4: padded and cropped back
    Image.fromarray(picture(3, 4, side=22), "RGBA").save(source)
    assert translator.enhance(source, direction="b2a").tensor.shape == (1, 4, 22, 22)
    with pytest.raises(GanvasError, match="no generator option upsample"):
        _trained(tmp_path / "resize", "cyclegan", *two_folders, model="resnet-translator", upsample="resize")


def test_enhance_upscales_four_times_and_keeps_transparency(folder, tmp_path):
    run = _trained(tmp_path, "upscale", folder)
    translator = ganvas.load_translator(run)
    assert translator.info.task == "upscale" and translator.info.directions == ("a2b",)
    source = tmp_path / "small.png"
    Image.fromarray(picture(7, 4, side=20), "RGBA").save(source)
    images = translator.enhance(source)
    assert images.tensor.shape == (1, 4, 80, 80)
    large = tmp_path / "large.png"  # larger than a tile: tiled
    Image.fromarray(np.tile(picture(8, 4, side=24), (4, 4, 1)), "RGBA").save(large)
    assert translator.enhance(large, tile=128, overlap=32).tensor.shape == (1, 4, 384, 384)
    written = translator.enhance_files([source], tmp_path / "out")
    assert [p.name for p in written] == ["small.png"] and Image.open(written[0]).size == (80, 80)
    calls = []
    translator.enhance_files([source, large], tmp_path / "out", tile=128, overlap=32,
                             on_step=lambda path, done, total: calls.append((path.name, done, total)))
    assert calls == [("small.png", 1, 1)] + [("large.png", done, 16) for done in range(1, 17)]  # 4 x 4 tiles


def test_enhance_reports_its_tiles_and_a_callbacks_exception_stops_it_unchanged(folder, tmp_path):
    translator = ganvas.load_translator(_trained(tmp_path, "upscale", folder))
    source = tmp_path / "source.png"
    Image.fromarray(picture(3, 4, side=24), "RGBA").save(source)  # 96x96 after x4 bicubic: 3x3 tiles of 48, 32 apart
    seen = []
    whole = translator.enhance(source, tile=48, overlap=16, on_step=lambda done, total: seen.append((done, total)))
    assert seen == [(done, 9) for done in range(1, 10)]
    assert torch.equal(whole.tensor, translator.enhance(source, tile=48, overlap=16).tensor)
    seen.clear()
    translator.enhance(source, on_step=lambda *step: seen.append(step))
    assert seen == [(1, 1)]  # within the default 256-pixel tile

    def cancel(done: int, total: int) -> None:
        seen.append((done, total))
        raise GanvasError("cancelled by the test")

    seen.clear()
    with pytest.raises(GanvasError) as raised:  # as it was raised: not reworded with the file's name
        translator.enhance(source, tile=48, overlap=16, on_step=cancel)
    assert str(raised.value) == "cancelled by the test" and seen == [(1, 9)]


def test_enhance_cli_and_both_directions_of_a_cyclegan(two_folders, tmp_path, capsys):
    from ganvas.cli import main

    run = _trained(tmp_path, "cyclegan", *two_folders, holdout=6)
    image = two_folders[0] / "e00.png"
    for direction in ("a2b", "b2a"):
        assert main(["enhance", str(run), str(image), "--out", str(tmp_path / direction),
                     "--direction", direction]) == 0
        assert Image.open(tmp_path / direction / "e00.png").size == (24, 24)
    assert main(["evaluate", str(run), "--n", "5"]) == 1
    assert "precision, recall and coverage need at least 6 images" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--n", "6"]) == 0
    out = capsys.readouterr().out
    assert "a2b_precision" in out and "b2a_cycle_l1" in out


def test_train_cli_points_at_the_best_checkpoint_where_it_is_not_the_latest(two_folders, tmp_path, capsys):
    from ganvas.cli import main

    run = tmp_path / "run"
    train(config_for("cyclegan", *two_folders, steps=4, eval_every=4), run)
    assert ckpt.load_checkpoint(run / "checkpoints" / "best").step == 4
    assert main(["train", "--resume", str(run), "--steps", "7", "--no-progress"]) == 0  # measured again at 8
    out = capsys.readouterr().out
    assert f"enhance with `ganvas enhance {run}:best IMAGE... --out DIR` (the best of its checkpoints by the " \
           "quality measure, step 4;" in out


def test_enhance_refuses_bad_inputs(folder, tmp_path):
    run = _trained(tmp_path, "upscale", folder)
    translator = ganvas.load_translator(run)
    with pytest.raises(GanvasError, match="4 channels"):
        translator.enhance(torch.zeros(3, 20, 20))  # the run trained on RGBA
    tiny = tmp_path / "tiny.png"
    Image.new("RGBA", (3, 3), (200, 10, 10, 255)).save(tiny)  # 12 x 12 after x4 bicubic: under 16
    with pytest.raises(GanvasError, match="smaller than this model's smallest input"):
        translator.enhance(tiny)
    with pytest.raises(GanvasError, match="b2a needs a cyclegan run"):
        translator.enhance(tiny, direction="b2a")
    with pytest.raises(DataError, match="does not exist"):
        translator.enhance(tmp_path / "missing.png")


def test_enhancing_files_goes_on_past_a_bad_one_and_names_it_after_the_rest(folder, tmp_path):
    translator = ganvas.load_translator(_trained(tmp_path, "upscale", folder))
    good, later = tmp_path / "good.png", tmp_path / "later.png"
    for index, path in enumerate((good, later)):
        Image.fromarray(picture(index, 4, side=20), "RGBA").save(path)
    broken, tiny = tmp_path / "broken.png", tmp_path / "tiny.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot the rest")
    Image.new("RGBA", (3, 3)).save(tiny)
    out = tmp_path / "out"
    with pytest.raises(GanvasError) as caught:
        translator.enhance_files([good, broken, tiny, later], out)
    message = str(caught.value)
    assert message.startswith(f"2 of the 4 images could not be enhanced (the other 2 are in {out}/)")
    assert "broken.png cannot be read as an image" in message and "tiny.png: an image of 12x12 pixels" in message
    assert sorted(path.name for path in out.iterdir()) == ["good.png", "later.png"]
    with pytest.raises(GanvasError, match="must be multiples of 16") as caught:  # shared by all: said once
        translator.enhance_files([good, later], tmp_path / "other", tile=100)
    assert "of the 2 images" not in str(caught.value) and not (tmp_path / "other").exists()

    def cancel(path, done, total):
        raise GanvasError("cancelled")

    with pytest.raises(GanvasError, match="^cancelled$"):  # a cancel is no bad file: it stops them all
        translator.enhance_files([good, later], tmp_path / "cancelled", on_step=cancel)
    assert not (tmp_path / "cancelled").exists()


def test_inpaint_enhance_fills_the_masks_light_pixels(folder, tmp_path):
    run = _trained(tmp_path, "inpaint", folder)
    translator = ganvas.load_translator(run)
    image = torch.rand(4, 32, 32) * 2 - 1
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[8:16, 8:16] = True
    out = translator.enhance(image, mask=mask).tensor
    assert out.shape == (1, 4, 32, 32)
    network = translator.networks["generator_a2b"]
    with torch.no_grad():
        expected = network(with_holes(image[None], mask[None, None]))
    assert torch.allclose(out, expected, atol=1e-6)


# --- evaluation and kinds --------------------------------------------------------------------------------------

def test_evaluate_reports_the_input_as_the_baseline(folder, tmp_path):
    from ganvas.translation import l1_distance, psnr

    run = _trained(tmp_path, "colorize", folder)
    evaluation = ganvas.evaluate(run, n=10)
    assert evaluation.held_out and evaluation.count == 2
    data = load_translation_data(config_for("colorize", folder), torch.device("cpu"))
    targets = data.examples[1]
    assert evaluation.scores["l1"]["baseline"] == pytest.approx(l1_distance(greyscale(targets), targets))
    assert evaluation.scores["psnr"]["baseline"] == pytest.approx(psnr(greyscale(targets), targets))
    assert {"l1", "psnr", "ssim", "pairs_closer"} <= set(evaluation.scores) <= {"l1", "psnr", "ssim", "pairs_closer",
                                                                                "flat_grain"}
    assert "baseline" in evaluation.text()


def _styled(count: int, seed: int, vertical: bool) -> torch.Tensor:
    """Random-coloured RGBA images striped one way (A: across, B: down), a style a classifier can learn."""
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(count, 3, 1, 1, generator=generator) * 2 - 1
    stripes = (torch.arange(SIZE) // 2 % 2).float() * 2 - 1
    pattern = stripes.view(1, SIZE) if vertical else stripes.view(SIZE, 1)
    colour = (colours * 0.5 + 0.5 * pattern.expand(SIZE, SIZE)).clamp(-1, 1)
    return torch.cat([colour, torch.ones(count, 1, SIZE, SIZE)], dim=1)


def test_the_style_measure_calls_target_images_the_target_and_inputs_not():
    from ganvas.metrics.domains import DomainClassifier, style_scores

    a_train, b_train, a, b = _styled(40, 0, False), _styled(40, 1, True), _styled(10, 2, False), _styled(10, 3, True)
    classifier = DomainClassifier(a_train, b_train, seed=0, steps=100)
    # translations that are the other folder's images, and back again the inputs
    perfect = style_scores(classifier, a, b, a2b=b, b2a=a, a2b2a=a, b2a2b=b)
    unmoved = style_scores(classifier, a, b, a2b=a, b2a=b, a2b2a=b, b2a2b=a)  # translations that are the inputs
    for key in ("a2b_called_b", "b2a_called_a"):
        assert perfect[key]["floor"] >= 0.9, "the classifier tells the held-out real images apart"
        assert perfect[key]["translated"] == perfect[key]["floor"] >= 0.9
        assert unmoved[key]["translated"] == unmoved[key]["baseline"] <= 0.1
    for key in ("a2b2a_called_b", "b2a2b_called_a"):
        assert perfect[key]["translated"] <= 0.1 and unmoved[key]["translated"] >= 0.9
    again = style_scores(DomainClassifier(a_train, b_train, seed=0, steps=100), a, b, a2b=b, b2a=a, a2b2a=a,
                         b2a2b=b)
    assert again == perfect, "seeded: the same numbers every time"


def test_the_cycle_judge_ranks_checkpoints_by_the_style_gap():
    from ganvas.metrics.domains import DomainClassifier

    a_train, b_train, a, b = _styled(40, 0, False), _styled(40, 1, True), _styled(10, 2, False), _styled(10, 3, True)
    judge = CycleJudge(a, b, DomainClassifier(a_train, b_train, seed=0, steps=100))
    assert judge.best_key == "style_gap"
    restyle = lambda images: images.transpose(-1, -2)  # stripes across <-> down: the other style, and back again
    keep = lambda images: images
    translated, unmoved = (judge.judge(judge.outputs(g, g)) for g in (restyle, keep))
    assert translated["a2b_called_b"] >= 0.9 and translated["b2a_called_a"] >= 0.9
    assert translated["style_gap"] <= 0.1 and unmoved["style_gap"] >= 0.9
    assert translated["cycle_l1"] == unmoved["cycle_l1"] == 0.0  # both come back exactly
    # restyling A but leaving B as it is: its round trips are called the other folder (the controls), a gap above 1
    one_way = judge.judge(judge.outputs(restyle, keep))
    assert one_way["a2b_called_b"] >= 0.9 and one_way["b2a_called_a"] <= 0.1 and one_way["style_gap"] >= 1.3


def test_a_cyclegan_run_keeps_its_most_translated_checkpoint_as_best(two_folders, tmp_path):
    run = train(config_for("cyclegan", *two_folders, steps=6), tmp_path / "run")
    lines = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    gaps = [line["quality"]["style_gap"] for line in lines if "quality" in line]
    assert len(gaps) == 3 and all(0 <= gap <= 2 for gap in gaps)
    best = ckpt.load_checkpoint(run.run_dir / "checkpoints" / "best")
    assert best.quality["style_gap"] == min(gaps)


def test_a_cyclegan_between_folders_of_other_channels_measures_the_cycle_alone(tmp_path):
    names = [f"n{i}" for i in range(8)]
    a = write_folder(tmp_path / "a", names, channels=3)
    b = write_folder(tmp_path / "b", names, channels=4, seed=50)
    run = train(config_for("cyclegan", a, b, channels="auto"), tmp_path / "run")
    quality = [json.loads(line)["quality"] for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()
               if "quality" in line]
    assert quality and set(quality[0]) == {"cycle_l1"}
    assert not (run.run_dir / "checkpoints" / "best").exists()  # no style measure, no ranking


def test_evaluate_of_a_cyclegan_reports_thumbnails_cycle_error_and_style(two_folders, tmp_path):
    run = _trained(tmp_path, "cyclegan", *two_folders, holdout=6)
    evaluation = ganvas.evaluate(run, n=6)
    assert {"a2b_precision", "a2b_recall", "a2b_cycle_l1", "b2a_precision", "a2b_called_b", "b2a_called_a",
            "a2b2a_called_b", "b2a2b_called_a", "a2b_flat_grain", "b2a_flat_grain"} <= set(evaluation.scores)
    for key in ("a2b_called_b", "b2a_called_a"):
        assert set(evaluation.scores[key]) == {"translated", "baseline", "floor"}
        assert all(0 <= value <= 1 for value in evaluation.scores[key].values())
    assert "a2b_called_b" in evaluation.text()


def test_decoder_dropout_resumes_exactly_and_leaves_the_global_generator_alone(two_folders, tmp_path):
    sources = two_folders
    straight = train(config_for("paired", *sources, steps=6, dropout=0.5), tmp_path / "straight")
    config = config_for("paired", *sources, steps=3, dropout=0.5)
    train(config, tmp_path / "resumed")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(config.replace(steps=6), tmp_path / "resumed", resume=True)
    assert torch.equal(torch.rand(3), expected), "training drew from torch's global generator"
    _, weights_a, _ = _checkpoint_tensors(straight.run_dir)
    _, weights_b, _ = _checkpoint_tensors(tmp_path / "resumed")
    for role in weights_a:
        assert all(torch.equal(weights_a[role][k], weights_b[role][k]) for k in weights_a[role]), role
    recipe = ckpt.load_checkpoint(ckpt.step_checkpoints(tmp_path / "resumed")[-1]).networks["generator_a2b"]
    assert recipe["args"]["dropout"] == 0.5
    network = UNetGenerator(4, 4, width=4, depth=4, dropout=0.5).eval()
    images = torch.rand(2, 4, 16, 16) * 2 - 1
    assert torch.equal(network(images), network(images)), "eval mode drops nothing"
    assert any(isinstance(m, torch.nn.Dropout) for m in network.modules())


def test_the_decoder_upsamples_by_resizing_when_asked_and_old_recipes_stay_as_they_were(two_folders):
    config = config_for("paired", *two_folders)
    assert "upsample" not in translation_recipes(config, 4, 4)["generator_a2b"]["args"]
    recipe = translation_recipes(config.replace(upsample="resize"), 4, 4)["generator_a2b"]
    assert recipe["args"]["upsample"] == "resize"
    network = build_network(recipe)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in network.modules())
    assert sum(isinstance(m, torch.nn.Upsample) for m in network.modules()) == network.depth
    with pytest.raises(GanvasError, match="translators' U-Net"):
        preset_config("seed", upsample="resize")


def test_d_width_widens_the_patch_discriminators_alone(two_folders):
    config = config_for("cyclegan", *two_folders)
    plain, wider = translation_recipes(config, 4, 4), translation_recipes(config.replace(d_width=24), 4, 4)
    for role in ("discriminator_a", "discriminator_b"):
        assert wider[role]["args"] == {**plain[role]["args"], "width": 24}
        assert build_network(wider[role]).net[0].out_channels == 24
    assert wider["generator_a2b"] == plain["generator_a2b"]


def test_total_variation_is_zero_on_a_flat_image_and_largest_on_pixel_noise():
    flat = torch.full((1, 3, 8, 8), 0.3)
    stripes = torch.zeros(1, 1, 8, 8)
    stripes[..., ::2] = 1.0  # columns alternate: every horizontal step changes by 1, no vertical one
    checkerboard = (torch.arange(8)[:, None] + torch.arange(8)[None, :]).remainder(2).float().expand(1, 1, 8, 8)
    assert float(total_variation(flat)) == 0
    assert float(total_variation(stripes)) == pytest.approx(1.0)
    assert float(total_variation(checkerboard)) == pytest.approx(2.0)


@pytest.mark.parametrize("option,measure,weight", [
    ("tv_weight", total_variation, 200.0),
    ("roughness_weight", lambda images: 10 * roughness(images).mean(), 1000.0),  # x10: about total variation's scale
])
@pytest.mark.parametrize("task", ["paired", "cyclegan"])
def test_a_smoothness_weight_makes_the_translations_smoother(task, option, measure, weight, two_folders):
    def output_measure(translator):
        with torch.no_grad():
            return float(measure(translator.nets["generator_a2b"].eval()(data.examples[0])))

    change = {}
    for weighed in (0.0, weight):
        config = config_for(task, *two_folders, **{option: weighed}, holdout=0)
        data = load_translation_data(config, torch.device("cpu"))
        translator = TranslationGAN(config, data, torch.device("cpu"))
        before = output_measure(translator)
        for step in range(8):
            stats = translator.train_step(step, lambda i: data.sampler.batch(i))
        assert ({"tv_weight": "total_variation", "roughness_weight": "roughness"}[option] in stats) == bool(weighed)
        change[weighed] = output_measure(translator) - before
    assert change[weight] < -0.02 and change[weight] < change[0.0] - 0.02, change


def test_roughness_is_zero_on_flat_areas_and_smooth_gradients_and_large_on_noise():
    ramp = torch.linspace(-1, 1, 16).expand(1, 3, 16, 16).clone()
    assert roughness(ramp)[:, 1:-1, 1:-1].abs().max() < 1e-6, "a linear ramp is its neighbourhood's mean"
    noisy = ramp + 0.2 * torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert roughness(noisy)[:, 1:-1, 1:-1].mean() > 0.1
    transparent = torch.cat([noisy, -torch.ones(1, 1, 16, 16)], 1)
    assert roughness(transparent).max() == 0, "the colour of invisible pixels does not count"


@pytest.mark.parametrize("task", ["paired", "cyclegan"])
def test_r1_keeps_the_discriminator_flat_around_real_images(task, two_folders):
    def d_and_real_images(translator, data):
        a, b = data.examples
        return translator.nets["discriminator_b"], (torch.cat([a, b], 1) if task == "paired" else b)

    gradient_norms = {}
    for gamma in (0.0, 10.0):
        config = config_for(task, *two_folders, r1_gamma=gamma, r1_every=1, holdout=0, precision="fp32")
        data = load_translation_data(config, torch.device("cpu"))
        translator = TranslationGAN(config, data, torch.device("cpu"))
        for step in range(8):
            translator.train_step(step, lambda i: data.sampler.batch(i))
        gradient_norms[gamma] = float(r1_penalty(*d_and_real_images(translator, data)).detach())
    assert gradient_norms[10.0] < 0.6 * gradient_norms[0.0], gradient_norms  # measured: 0.3x paired, 0.5x cyclegan
    lazy = config_for(task, *two_folders, r1_gamma=1.0, r1_every=2, holdout=0)
    data = load_translation_data(lazy, torch.device("cpu"))
    translator = TranslationGAN(lazy, data, torch.device("cpu"))
    taken = ["r1_penalty" in translator.train_step(step, lambda i: data.sampler.batch(i)) for step in range(4)]
    assert taken == [True, False, True, False], "lazy R1: every r1_every-th step"


def test_flat_area_grain_counts_the_texture_added_where_the_source_is_flat_and_opaque():
    source = -torch.ones(1, 4, 16, 16)
    source[:, :3, :, :8] = 0.2  # left half: one flat opaque colour; right half transparent
    source[:, 3, :, :8] = 1
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.4 - 0.2
    assert flat_area_grain(source, source) < 1e-6
    on_transparent = source.clone()
    on_transparent[:, :3, :, 10:] += noise[..., 10:]  # hidden colour, two pixels away from the opaque half
    assert flat_area_grain(on_transparent, source) < 1e-6, "invisible colour is no grain"
    on_opaque = source.clone()
    on_opaque[:, :3, :, :8] += noise[..., :8]
    assert flat_area_grain(on_opaque, source) > 0.05
    busy = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert math.isnan(flat_area_grain(busy, busy)), "a source with no flat area has no grain to measure"


def test_paired_evaluation_measures_the_grain_where_the_targets_are_flat():
    from ganvas.translation import evaluate_pairs

    targets = -torch.ones(2, 4, 16, 16)
    targets[:, :3, :, :8] = 0.2  # left half: one flat opaque colour; right half transparent
    targets[:, 3, :, :8] = 1
    inputs = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1  # busy everywhere
    noise = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.4 - 0.2
    blotchy = evaluate_pairs(lambda x: targets + noise, inputs, targets)["flat_grain"]
    clean = evaluate_pairs(lambda x: targets, inputs, targets)["flat_grain"]
    assert clean["translated"] < 1e-6 < 0.05 < blotchy["translated"] < blotchy["baseline"] == clean["baseline"]
    busy = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert "flat_grain" not in evaluate_pairs(lambda x: x, inputs, busy), "targets with no flat area: no row"


def test_paired_evaluation_counts_the_pairs_brought_closer_than_the_input():
    from ganvas.translation import evaluate_pairs

    targets = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    inputs = targets + 0.2
    off_by = torch.tensor([0.1, -0.1, 0.3, 0.2]).view(4, 1, 1, 1)  # closer, closer, farther, the input itself
    scores = evaluate_pairs(lambda x: targets + off_by, inputs, targets)
    assert scores["pairs_closer"]["translated"] == 0.5
    assert scores["l1"]["translated"] < scores["l1"]["baseline"], "a lower mean, and half the pairs no closer"


def test_residual_can_be_switched_on_and_off(two_folders):
    config = config_for("paired", *two_folders, residual=False)
    data = load_translation_data(config, torch.device("cpu"))
    generator = TranslationGAN(config, data, torch.device("cpu")).nets["generator_a2b"]
    assert not generator.residual
    inputs = data.examples[0][:2]
    assert not torch.allclose(generator.eval()(inputs), inputs, atol=0.05), "a drawing G does not start as the input"
    residual = TranslationGAN(config_for("paired", *two_folders, residual=True), data,
                              torch.device("cpu")).nets["generator_a2b"]
    assert torch.allclose(residual.eval()(inputs), inputs, atol=0.05), "a residual G starts as (almost) the input"


def test_checkpoints_of_the_other_kind_are_refused_clearly(folder, tmp_path, mnist_everywhere):
    translation = _trained(tmp_path, "upscale", folder)
    with pytest.raises(CheckpointError, match="ganvas enhance"):
        ganvas.load(translation)
    noise_run = train(preset_config("seed", steps=2, log_every=1, eval_every=0, batch_size=8), tmp_path / "gan")
    with pytest.raises(GanvasError, match="not an image translator"):
        ganvas.load_translator(noise_run.run_dir)
    # A checkpoint of the other kind as the one to resume from.
    config = config_for("upscale", folder, steps=4)
    with pytest.raises(GanvasError, match="is of a noise-to-image GAN, but this is a image-to-image one"):
        train(config, translation, resume=True, from_checkpoint=ckpt.step_checkpoints(noise_run.run_dir)[-1])


@pytest.mark.parametrize("changes, message", [
    ({"task": "upscale", "data": None, "size": None}, "learns from your own images"),
    ({"task": "paired", "data": "a", "size": 32}, "give the second with"),
    ({"task": "upscale", "data": "a", "size": 32, "data_b": "b"}, "is the second folder of"),
    ({"dropout": 0.5}, "is in the translators' U-Net"),
    ({"task": "upscale", "data": "a", "size": 32, "dropout": 1.0}, "must be in"),
    ({"tv_weight": 1.0}, "smooths a translator's outputs"),
    ({"task": "cyclegan", "data": "a", "data_b": "b", "size": 32, "tv_weight": -1.0},
     "must be 0 \\(off\\) or positive"),
])
def test_task_options_are_checked(changes, message):
    with pytest.raises(GanvasError, match=message):
        preset_config("seed", **changes)


def test_noise_models_and_noise_options_are_refused_for_translation(folder):
    data_config = config_for("upscale", folder)
    data = load_translation_data(data_config, torch.device("cpu"))
    with pytest.raises(GanvasError, match="needs an image-to-image model \\(model='resnet-translator', model='unet'\\)"):
        TranslationGAN(data_config.replace(model="dcgan"), data, torch.device("cpu"))
    with pytest.raises(GanvasError, match="only for noise-to-image GANs"):
        TranslationGAN(data_config.replace(gp_weight=10.0), data, torch.device("cpu"))
    with pytest.raises(GanvasError, match="only for noise-to-image GANs"):
        TranslationGAN(data_config.replace(mode_seeking_weight=1.0), data, torch.device("cpu"))
    with pytest.raises(GanvasError, match="multiple of 16"):
        TranslationGAN(data_config.replace(size=24), data, torch.device("cpu"))


@pytest.mark.parametrize("preset", sorted(name for name, p in PRESETS.items() if "task" in p.options))
def test_every_translation_preset_trains_a_few_steps(preset, folder, two_folders, tmp_path):
    if preset == "sketch":
        pytest.importorskip("kornia")
    sources = two_folders if preset in ("paired", "cyclegan") else (folder,)
    assert train(config_for(preset, *sources, steps=2), tmp_path / "run").step == 2


def test_a_translation_model_without_a_task_is_refused(tmp_path, mnist_everywhere):
    with pytest.raises(GanvasError, match="translates images: give it a"):
        train(preset_config("seed", model="unet", steps=2), tmp_path / "run")


def test_a_task_with_no_preset_takes_its_own():
    from ganvas.config import new_run_config

    config = new_run_config({"task": "colorize", "data": "x", "size": 32}, count_images=lambda c: 500)
    assert config.preset == "colorize" and config.model == "unet" and config.holdout == 50


def test_the_cyclegan_preset_holds_out_enough_images_to_evaluate_a_small_folder():
    from ganvas.config import new_run_config

    def holdout(task: str, count: int) -> int:
        options = {"task": task, "data": "a", "data_b": "b", "size": 32}
        return new_run_config(options, count_images=lambda config: count).holdout

    assert [holdout("cyclegan", count) for count in (20, 40, 500, 5000)] == [2, 6, 50, 100]
    assert holdout("paired", 40) == 4, "pix2pix evaluation needs no minimum: a tenth"


# --- the guide -------------------------------------------------------------------------------------------------

def test_the_translate_guide_runs_as_written(tmp_path, monkeypatch):
    """docs/translate.md's Python runs as written on two tiny folders named as in the guide, cut to a few steps."""
    import re
    from pathlib import Path

    names = [f"e{i:02d}" for i in range(12)]
    write_folder(tmp_path / "emoji" / "google", names)
    write_folder(tmp_path / "emoji" / "twitter", names, seed=50)
    Image.fromarray(picture(3, 4, side=20), "RGBA").save(tmp_path / "small.png")
    Image.fromarray(picture(4, 4, side=48), "RGBA").save(tmp_path / "cat.png")
    monkeypatch.chdir(tmp_path)
    real_train = ganvas.api.train

    def quick_train(*args, **options):
        options.update(steps=2, minutes=None, width=8, progress=False, log_every=1, sample_every=2,
                       checkpoint_every=2, eval_every=2, holdout=4)
        return real_train(*args, **options)

    monkeypatch.setattr(ganvas.api, "train", quick_train)
    guide = (Path(__file__).resolve().parents[1] / "docs" / "translate.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    assert blocks
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/translate.md block {number}", "exec"), namespace)
    assert namespace["larger"].tensor.shape == (1, 4, 80, 80)
    assert Image.open(tmp_path / "x4" / "small.png").size == (80, 80)
    assert (tmp_path / "enhanced" / "cat.png").is_file()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="needs torch.distributed with gloo")
def test_pix2pix_trains_on_two_processes_and_cyclegan_is_refused_there(folder, two_folders, tmp_path):
    import os
    import subprocess
    import sys

    environment = {**os.environ, "OMP_NUM_THREADS": "1", "GANVAS_DIST_TIMEOUT_S": "20"}
    common = ["--size", "16", "--width", "8", "--batch-size", "4", "--steps", "4", "--log-every", "2",
              "--eval-every", "2", "--holdout", "2", "--no-progress", "--device", "cpu", "--nproc-per-node", "2"]
    done = subprocess.run([sys.executable, "-m", "ganvas", "train", "--task", "inpaint", "--data", str(folder),
                           "--run", str(tmp_path / "two"), *common], capture_output=True, text=True,
                          env=environment, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "on 2 processes" in (tmp_path / "two" / "train.log").read_text()
    assert ckpt.step_checkpoints(tmp_path / "two")[-1].name == "step-00000004"
    refused = subprocess.run([sys.executable, "-m", "ganvas", "train", "--task", "cyclegan", "--data",
                              str(two_folders[0]), "--data-b", str(two_folders[1]), "--run", str(tmp_path / "cycle"),
                              *common], capture_output=True, text=True, env=environment, timeout=240)
    assert refused.returncode != 0 and "train it on one" in refused.stderr


def test_an_image_to_enhance_is_converted_as_training_converted_its_images(tmp_path):
    """A see-through pixel given to an RGB translator is flattened onto black, as the training folder's images
    were (not the hidden colour Pillow's RGBA -> RGB conversion would show); an RGBA translator sees it as training
    did: transparent, its colour cleared."""
    from ganvas.data.folder import fit_image, read_image
    from ganvas.translation import read_for

    pixels = np.zeros((16, 16, 4), np.uint8)
    pixels[..., 0] = 255  # red everywhere...
    pixels[:8, ..., 3] = 255  # ...but only the top half opaque
    Image.fromarray(pixels, "RGBA").save(tmp_path / "half.png")
    as_rgb = read_for(tmp_path / "half.png", 3, None)[0]
    as_trained = torch.from_numpy(fit_image(read_image(tmp_path / "half.png", 16), 16, "stretch", "RGB"))
    assert torch.equal(as_rgb, as_trained.float() / 127.5 - 1)
    assert as_rgb[:, 8:].eq(-1).all() and as_rgb[0, :8].eq(1).all()
    as_rgba = read_for(tmp_path / "half.png", 4, None)[0]
    assert as_rgba[:, 8:].eq(-1).all() and as_rgba[:, :8].eq(torch.tensor([1., -1, -1, 1])[:, None, None]).all()
