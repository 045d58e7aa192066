"""``python -m diffdiff``: run as a subprocess, check exit codes, one-line errors and the written file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "diffdiff", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(folder / "photo.png")
    change = np.zeros((40, 56), np.uint8)
    change[:, 28:] = 255
    Image.fromarray(change).save(folder / "map.png")
    return folder


def test_edit_writes_an_image_of_the_input_size(files, tiny_folders):
    out = files / "edited.png"
    result = run_cli(str(files / "photo.png"), "a stormy sky", "--map", str(files / "map.png"), "-o", str(out),
                     "--model", str(tiny_folders["sd"]), "--steps", "4")
    assert result.returncode == 0, result.stderr
    edited, original = np.asarray(Image.open(out)), np.asarray(Image.open(files / "photo.png"))
    assert edited.shape == original.shape
    assert np.array_equal(edited[:, :28], original[:, :28])
    assert not [p for p in files.iterdir() if p.name.startswith(".edited")], "no temporary file is left"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--model", "automaps-test/missing"], 3, "hf download automaps-test/missing"),
        (["--map", "nope.png"], 2, "map: no such file"),
        (["-o", "missing-folder/out.png"], 2, "output: folder does not exist"),
        (["-o", "photo.png"], 2, "refusing to overwrite"),
    ],
)
def test_errors_are_one_line_with_exit_codes(files, args, code, needle):
    defaults = {"--map": str(files / "map.png"), "-o": str(files / "out.png"), "--model": "automaps-test/missing"}
    overrides = dict(zip(args[::2], args[1::2], strict=True))
    for key, value in overrides.items():
        defaults[key] = value if key == "--model" else str(files / value)
    flat = [item for pair in defaults.items() for item in pair]
    result = run_cli(str(files / "photo.png"), "a prompt", *flat)
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in result.stderr
