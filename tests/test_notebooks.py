"""Every notebook runs top to bottom against tiny random models (nbclient, the venv's ``python3`` kernel)
and shows pictures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_quick_start.ipynb", "02_generators_and_ops.ipynb", "03_strength_fan.ipynb",
            "04_soft_inpainting.ipynb", "05_chaining.ipynb", "06_instruction_models.ipynb"]


def test_the_five_notebooks_are_there_without_outputs():
    assert [p.name for p in NOTEBOOKS] == EXPECTED
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in cells), f"{path.name} has outputs"
        first = cells[0].source
        # Model ids come from variables at the top, defaulting to the real hub ids.
        assert 'os.environ.get("AUTOMAPS_NB_STEPS", "30")' in first
        assert "AUTOMAPS_NB_MODEL" in first or "AUTOMAPS_NB_CLIPSEG" in first


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """``python3`` from the venv (ipykernel ships its spec there); if it is missing, a spec for this interpreter
    is written to a temporary folder on ``JUPYTER_PATH`` (nothing in the venv is changed)."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" in KernelSpecManager().find_kernel_specs():
        yield "python3"
        return
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("kernels")
    install(kernel_name="automaps-test", prefix=str(prefix))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"), prepend=os.pathsep)
        yield "automaps-test"


@pytest.fixture(scope="module")
def tiny_env(tiny_folders, tmp_path_factory) -> dict[str, str]:
    from automaps import tiny

    root = tmp_path_factory.mktemp("notebook-map-models")
    return {
        "AUTOMAPS_NB_MODEL": str(tiny_folders["sd"]),
        "AUTOMAPS_NB_KONTEXT": str(tiny_folders["kontext"]),
        "AUTOMAPS_NB_CLIPSEG": str(tiny.save_tiny_clipseg(root / "clipseg")),
        "AUTOMAPS_NB_DETECTOR": str(tiny.save_tiny_grounding_dino(root / "detector")),
        "AUTOMAPS_NB_SEGMENTER": str(tiny.save_tiny_sam(root / "segmenter")),
        "AUTOMAPS_NB_DEPTH": str(tiny.save_tiny_depth_anything(root / "depth")),
        "AUTOMAPS_NB_STEPS": "3",
        "AUTOMAPS_NB_SIZE": "64",
        "AUTOMAPS_NB_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        # One thread per kernel: the tiny models gain nothing from more, and CI runs tests side by side.
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_and_shows_pictures(path, kernel_name, tiny_env, tmp_path, monkeypatch):
    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name, timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    pictures = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
                if "image/png" in output.get("data", {})]
    assert len(pictures) >= 3, f"{path.name} shows {len(pictures)} pictures"
    errors = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "error"]
    assert not errors
