"""ONNX export: every registered generator runs in onnxruntime as it does in PyTorch (docs/export.md)."""

import inspect
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ganvas
from ganvas.errors import GanvasError
from ganvas.export import export_checkpoint, export_onnx, read_metadata
from ganvas.latents import balanced_labels, gaussian_latents
from ganvas.models import build_generator, generate, get_model, is_conditional, model_names

onnxruntime = pytest.importorskip("onnxruntime")  # in the `onnx` extra, which scripts/setup.sh installs

Z_DIM = 8
NUM_CLASSES = 3
TOLERANCE = 1e-4  # max |onnxruntime - PyTorch| over all pixels
# Small nets (seconds for the whole registry), with a mix of channels and sides; other models get 3×16×16.
IMAGE_SHAPES = {"mlp": (1, 28, 28), "dcgan": (1, 28, 28), "resnet": (4, 16, 16),
                "lightweight": (3, 32, 32)}  # 32 px: 3 up-blocks, 2 skip-layer excitations


def small_generator(name: str) -> torch.nn.Module:
    """A tiny generator of a registered model, in eval mode, whose images vary as a trained one's do.

    Weights are drawn at unit gain (DCGAN's N(0, 0.02) would make near-constant images that any exporter
    matches), class embeddings differ per class (they start equal), and batch-norm running statistics are
    measured on a few training-mode batches, so that eval mode (which the export must use) normalises
    with them and differs from training mode.
    """
    options = set(inspect.signature(get_model(name).generator).parameters)
    kwargs = {"image_shape": IMAGE_SHAPES.get(name, (3, 16, 16)), "z_dim": Z_DIM}
    if "width" in options:
        kwargs["width"] = 4
    if "hidden" in options:
        kwargs["hidden"] = (32,)
    if get_model(name).conditional:
        kwargs["num_classes"] = NUM_CLASSES
    torch.manual_seed(0)
    generator = build_generator(name, **kwargs)
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.weight.normal_(0, module.weight[0].numel() ** -0.5)
            elif isinstance(module, torch.nn.ConvTranspose2d):  # weight (in, out, k, k); a stride s shares it s² ways
                fan_in = module.weight.shape[0] * module.weight[0, 0].numel() / math.prod(module.stride)
                module.weight.normal_(0, fan_in ** -0.5)
            elif isinstance(module, torch.nn.Embedding):
                module.weight.add_(torch.randn_like(module.weight) * 0.3)
        for norm in norms:
            norm.momentum = None  # running statistics = the average over the batches below
        generator.train()
        for _ in range(4):
            generate(generator, torch.randn(32, Z_DIM), torch.randint(0, NUM_CLASSES, (32,)))
        for norm in norms:
            norm.momentum = 0.1
    return generator.eval()


def session(path: Path) -> "onnxruntime.InferenceSession":
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_both(generator, sess, batch: int, seed: int):
    """(onnxruntime images, PyTorch images, labels or None) for `batch` random latents."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((batch, generator.z_dim), dtype=np.float32)
    feeds = {"z": z}
    labels = None
    if is_conditional(generator):
        labels = rng.integers(0, generator.num_classes, size=batch)  # int64
        feeds["class"] = labels
    (onnx_images,) = sess.run(["images"], feeds)
    with torch.no_grad():
        torch_images = generate(generator, torch.from_numpy(z),
                                None if labels is None else torch.from_numpy(labels)).numpy()
    return onnx_images, torch_images, labels


@pytest.mark.parametrize("name", model_names())
def test_every_model_exports_and_matches_pytorch(name, tmp_path):
    generator = small_generator(name)
    recipe = {"model": name, "part": "generator", "args": {"z_dim": Z_DIM}}
    path = export_onnx(generator, tmp_path / f"{name}.onnx", metadata={"recipe": recipe, "step": 7})
    assert path == tmp_path / f"{name}.onnx"
    assert not generator.training  # the module passed in is left as it was

    sess = session(path)
    shape = list(generator.image_shape)
    inputs = {i.name: i for i in sess.get_inputs()}
    assert list(inputs) == (["z", "class"] if is_conditional(generator) else ["z"])
    assert inputs["z"].type == "tensor(float)" and inputs["z"].shape == ["batch", Z_DIM]
    if is_conditional(generator):
        assert inputs["class"].type == "tensor(int64)" and inputs["class"].shape == ["batch"]
    (output,) = sess.get_outputs()
    assert output.name == "images" and output.type == "tensor(float)" and output.shape == ["batch", *shape]

    differences = []
    for batch in (1, 5):  # two batch sizes from one file: the batch dimension is dynamic
        onnx_images, torch_images, labels = run_both(generator, sess, batch, seed=batch)
        assert onnx_images.shape == (batch, *shape)
        differences.append(float(np.abs(onnx_images - torch_images).max()))
        assert differences[-1] <= TOLERANCE, f"{name}, batch {batch}: max difference {differences[-1]:.3g}"
        assert onnx_images.min() >= -1 and onnx_images.max() <= 1
    assert onnx_images.std(axis=0).mean() > 0.05  # the five latents give five different images
    print(f"{name}: max |onnxruntime - torch| = {max(differences):.3g}")

    if is_conditional(generator):  # one latent, every class: the class input is used
        z = np.repeat(np.random.default_rng(0).standard_normal((1, Z_DIM), dtype=np.float32), NUM_CLASSES, axis=0)
        (images,) = sess.run(["images"], {"z": z, "class": np.arange(NUM_CLASSES)})
        assert np.abs(images[0] - images[1]).max() > 1e-3

    expected = {"z_dim": Z_DIM, "image_shape": shape, "channels": shape[0],
                "num_classes": NUM_CLASSES if is_conditional(generator) else None, "output_range": [-1, 1],
                "ganvas_version": ganvas.__version__, "recipe": recipe, "step": 7}
    assert read_metadata(path) == expected
    stored = sess.get_modelmeta().custom_metadata_map  # what onnxruntime users see: JSON text
    assert {key: json.loads(value) for key, value in stored.items()} == expected
    assert os.listdir(tmp_path) == [f"{name}.onnx"]  # no temporary file left


def test_export_checkpoint_uses_the_runs_ema_generator_and_names_the_file_after_the_run(format1, tmp_path,
                                                                                       monkeypatch):
    from ganvas.sampling import load_generator

    run = shutil.copytree(format1.run, tmp_path / "my-run")  # a tiny format-1 dcgan-cond run with EMA weights
    monkeypatch.chdir(tmp_path)
    path = export_checkpoint(run)
    assert path.resolve() == (tmp_path / "my-run.onnx").resolve()

    metadata = read_metadata(path)
    assert metadata["weights"] == "generator_ema" and metadata["step"] == 4
    assert metadata["checkpoint"] == "step-00000004"
    assert metadata["recipe"] == {"model": "dcgan-cond", "part": "generator",
                                  "args": {"image_shape": [3, 16, 16], "width": 4, "num_classes": 2, "z_dim": 8}}
    assert (metadata["z_dim"], metadata["num_classes"], metadata["image_shape"]) == (8, 2, [3, 16, 16])

    generator, _ = load_generator(run, "cpu")
    onnx_images, torch_images, _ = run_both(generator, session(path), batch=4, seed=0)
    assert np.abs(onnx_images - torch_images).max() <= TOLERANCE

    # The latents and labels of `ganvas sample RUN --n 8 --seed 0` give its pixels (docs/export.md, Python).
    z = gaussian_latents(8, 8, seed=0).numpy()
    labels = balanced_labels(8, 2).numpy()
    (images,) = session(path).run(["images"], {"z": z, "class": labels})
    pixels = np.round((np.clip(images, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)
    sampled = format1.samples  # what `ganvas sample --n 8 --seed 0` gives for the same run
    assert np.abs(pixels.astype(int) - sampled).max() <= 1  # a float difference may cross a rounding boundary
    assert (pixels == sampled).mean() > 0.99



def test_export_checkpoint_takes_a_named_checkpoint_and_an_output_path(format1, tmp_path, monkeypatch):
    run = shutil.copytree(format1.run, tmp_path / "my-run")
    calls = []
    monkeypatch.setattr("ganvas.export.export_onnx", lambda generator, path, metadata: calls.append(path) or path)
    assert export_checkpoint(f"{run}:step-00000004", out=tmp_path / "g.onnx") == tmp_path / "g.onnx"
    monkeypatch.chdir(tmp_path)
    export_checkpoint(run / "checkpoints" / "step-00000004")  # a checkpoint folder is named after its run too
    assert calls == [tmp_path / "g.onnx", Path("my-run.onnx")]


def test_export_checkpoint_refuses_unknown_formats(format1, tmp_path):
    with pytest.raises(GanvasError, match="unknown export format 'tflite'; choose one of: onnx"):
        export_checkpoint(format1.run, tmp_path / "g.tflite", format="tflite")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    generator = small_generator("mlp")
    target = tmp_path / "g.onnx"
    target.write_bytes(b"the previous export")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("ganvas.files.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        export_onnx(generator, target, metadata={})
    assert os.listdir(tmp_path) == ["g.onnx"] and target.read_bytes() == b"the previous export"


def test_the_output_folder_is_made_on_demand(tmp_path):
    path = export_onnx(small_generator("mlp"), tmp_path / "models" / "g.onnx", metadata={})
    assert os.listdir(tmp_path / "models") == ["g.onnx"] and read_metadata(path)["num_classes"] is None


@pytest.mark.parametrize("package", ["onnx", "onnxscript"])
def test_a_missing_extra_says_how_to_install_it(package, format1, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    with pytest.raises(GanvasError, match=rf"{package}.*pip install 'ganvas\[onnx\]'"):
        export_onnx(small_generator("mlp"), tmp_path / "g.onnx", metadata={})
    with pytest.raises(GanvasError, match=r"pip install 'ganvas\[onnx\]'"):
        export_checkpoint(format1.run, tmp_path / "g.onnx")
    assert os.listdir(tmp_path) == []


def test_user_errors(tmp_path):
    generator = small_generator("mlp")
    with pytest.raises(GanvasError, match="is a folder"):
        export_onnx(generator, tmp_path, metadata={})
    with pytest.raises(ValueError, match="filled in from the generator"):
        export_onnx(generator, tmp_path / "g.onnx", metadata={"z_dim": 3})
    assert os.listdir(tmp_path) == []
