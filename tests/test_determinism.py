"""Same inputs and seed -> identical bytes on the CPU, across two separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_two_processes_write_identical_bytes(tmp_path, tiny_folders):
    from automaps import tiny

    clipseg = tiny.save_tiny_clipseg(tmp_path / "clipseg")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    before = photo.read_bytes(), photo.stat().st_mtime_ns
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

    def start(name: str) -> subprocess.Popen:
        command = [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main())", "edit",
                   str(photo), "make the sky stormy", "-o", str(tmp_path / name), "--model", str(tiny_folders["sd"]),
                   "--map-model", f"clipseg={clipseg}", "--seed", "11", "--steps", "3", "--quiet",
                   "--save-map", str(tmp_path / f"map-{name}")]
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    runs = [start("a.png"), start("b.png")]  # concurrently: two processes, half the wall time
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
    first, second = (tmp_path / "a.png").read_bytes(), (tmp_path / "b.png").read_bytes()
    assert first == second, "same inputs and seed give the same bytes"
    assert (tmp_path / "map-a.png").read_bytes() == (tmp_path / "map-b.png").read_bytes()
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(photo)))
    assert (photo.read_bytes(), photo.stat().st_mtime_ns) == before, "the input is not modified"
