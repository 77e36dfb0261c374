"""The notebooks in notebooks/ run top to bottom with a real Jupyter kernel, as a user runs them.

GANVAS_NOTEBOOK_QUICK=1 cuts every run to a few steps; GANVAS_DATA_DIR points them at stand-in digits,
so nothing is downloaded. A cell that raises fails the test with the cell's error.
"""

import os
import sys
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_four_notebooks_stored_without_outputs():
    assert [path.name for path in NOTEBOOKS] == ["01-classic-gan.ipynb", "02-stable-gans.ipynb",
                                                 "03-your-own-art.ipynb", "04-enhance-your-art.ipynb"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), f"{path.name} has outputs"
        assert "pip" in code[0].source and "ganvas" in code[0].source, "the first cell installs ganvas"


@pytest.fixture
def notebook_environment(mnist_everywhere, monkeypatch):
    monkeypatch.setenv("GANVAS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny nets: one thread is fastest (conftest.one_thread)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))  # the kernel imports this checkout's ganvas
    return mnist_everywhere


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_top_to_bottom(path, notebook_environment):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook_environment)}})
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    pictures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert pictures, "the notebook shows its samples"
    assert (notebook_environment / "runs").is_dir()
