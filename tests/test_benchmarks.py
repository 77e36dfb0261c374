"""The benchmarks still run: each one end to end on a few steps (their numbers are not checked here)."""

import runpy
import sys
from pathlib import Path

import pytest

from conftest import digit_like_images, write_mnist_split

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_benchmark(name: str, *args: str, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [name, *args])
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/NAME` puts it there
    runpy.run_path(str(BENCHMARKS / name), run_name="__main__")


def test_throughput_benchmark_runs(monkeypatch, capsys):
    run_benchmark("throughput.py", "--steps", "1", "--rounds", "1", "--batch-size", "8", "--ablate",
                  "--precision", "bf16", "--profile", monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert "x plain" in out and "plain + fused Adam" in out and "matmuls alone" in out
    assert "precision casts" in out and "the speed of its matrix multiplies alone" in out


def test_art_throughput_benchmark_runs(monkeypatch, capsys):
    run_benchmark("art_throughput.py", "--sizes", "16", "--images", "16", "--steps", "1", "--rounds", "1",
                  monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert "16 px  bf16" in out and "x the preset" in out


def test_evaluate_speed_benchmark_runs(tmp_path, monkeypatch, capsys):
    pixels, labels = digit_like_images(40)
    data_dir = write_mnist_split(tmp_path / "mnist", pixels, labels, "test")
    run_benchmark("evaluate_speed.py", "--data-dir", str(data_dir), "--n", "20", monkeypatch=monkeypatch)
    assert "one evaluation (reference cached)" in capsys.readouterr().out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_plain_loop_runs_the_same_procedure_as_the_seed_step(precision, monkeypatch):
    """The throughput ratio compares one algorithm written two ways: from the same start, on the same batches, the
    plain port and ganvas's step end with the same weights (in bf16 too: both under autocast)."""
    import torch

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    throughput = runpy.run_path(str(BENCHMARKS / "throughput.py"))
    plain = throughput["make_gan"](fused=False, precision=precision)
    ours = throughput["make_gan"](fused=True, precision=precision)
    real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for _ in range(3):
        throughput["plain_step"](plain, real)
        throughput["ganvas_step"](ours, real)
    for a, b in zip([*plain.generator.parameters(), *plain.discriminator.parameters()],
                    [*ours.generator.parameters(), *ours.discriminator.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-6)


def test_translation_throughput_benchmark_runs(monkeypatch, capsys):
    run_benchmark("translation_throughput.py", "--tasks", "upscale,cyclegan", "--size", "16", "--steps", "1",
                  "--rounds", "1", monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert "upscale" in out and "cyclegan" in out
