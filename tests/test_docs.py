"""docs/api.md's examples run as written, in order, on tiny data; and its options table is current.

The examples train for minutes or thousands of steps; here every run is cut to a few steps on 256
stand-in digits (GANVAS_DATA_DIR), which is all that changes: the calls, keywords and objects are
the documented ones.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import ganvas.api

ROOT = Path(__file__).resolve().parents[1]
QUICK_STEPS = 6


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.fixture
def tiny_mnist_everywhere(mnist_everywhere, monkeypatch):
    real_train = ganvas.api.train

    def quick_train(*args, **options):
        if "resume" not in options:
            options.update(steps=min(options.get("steps") or QUICK_STEPS, QUICK_STEPS), minutes=None)
            options.setdefault("eval_every", 0)
            options.update(log_every=2, sample_every=3, checkpoint_every=3)
        options.setdefault("progress", False)
        return real_train(*args, **options)

    monkeypatch.setattr(ganvas.api, "train", quick_train)
    return mnist_everywhere


def test_the_api_guide_runs_as_written(tiny_mnist_everywhere, capsys):
    blocks = python_blocks(ROOT / "docs" / "api.md")
    assert len(blocks) >= 6
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"docs/api.md block {number}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"docs/api.md block {number} failed: {type(err).__name__}: {err}\n{block}") from err
    out = capsys.readouterr().out
    assert "needs a Lipschitz constraint on D" in out, "the error example printed its error"
    assert (tiny_mnist_everywhere / "grid.png").is_file() and (tiny_mnist_everywhere / "walk.gif").is_file()
    assert len(list((tiny_mnist_everywhere / "digits").iterdir())) == 16
    assert {run.path.name for run in ganvas.runs("runs")} == {"digits", "hinge", "watched", "listened"}


def test_the_options_table_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "options_table.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
