"""The ``automaps`` command line, run as subprocesses: commands, files written, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def automaps(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main())", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli-edit")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 72, 3), dtype=np.uint8)).save(folder / "photo.png")
    return folder / "photo.png"


def test_plan_prints_json_without_a_model():
    result = automaps("plan", "make the sky stormy but not the mountains")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert {"kind", "regions", "negatives", "prompt", "strength", "generator"} <= set(plan)
    assert plan["regions"] == ["sky"] and plan["negatives"] == ["mountains"]


def test_edit_writes_image_map_and_preview(photo, tiny_folders, map_models):
    out = photo.parent / "edited.png"
    result = automaps("edit", str(photo), "make the sky stormy", "-o", str(out), "--model", str(tiny_folders["sd"]),
                      "--steps", "3", "--seed", "1", "--save-map", str(photo.parent / "map.png"),
                      "--preview", str(photo.parent / "overlay.png"), "--quiet",
                      "--map-model", f"clipseg={map_models['clipseg']}")
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (72, 48)
    assert Image.open(photo.parent / "map.png").mode == "L"
    assert Image.open(photo.parent / "overlay.png").size == (72, 48)
    assert not [p for p in photo.parent.iterdir() if p.name.startswith(".")], "no temporary files are left"


def test_map_command(photo, map_models):
    out = photo.parent / "sky.png"
    result = automaps("map", str(photo), "sky", "-o", str(out), "--source", "clipseg", "--grow", "2",
                      "--feather", "1.5", "--map-model", f"clipseg={map_models['clipseg']}")
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (72, 48)


def test_map_command_diffedit_uses_the_diffusion_model(photo, tiny_folders):
    out = photo.parent / "diffedit.png"
    result = automaps("map", str(photo), "a tiger", "-o", str(out), "--source", "diffedit", "--model",
                      str(tiny_folders["sd"]), "--source-prompt", "a cat")
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (72, 48) and "diffedit('a tiger' vs 'a cat'" in result.stderr


def test_models_command_lists_ids_and_download_commands():
    result = automaps("models")
    assert result.returncode == 0, result.stderr
    assert "CIDAS/clipseg-rd64-refined" in result.stdout and "hf download" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["edit", "{photo}", "make the sky stormy", "-o", "{dir}/x.png", "--model", "automaps-test/missing",
          "--map-model", "clipseg=automaps-test/missing-clipseg"], 3, "hf download automaps-test/missing"),
        (["edit", "{dir}/missing.png", "make it winter", "-o", "{dir}/x.png"], 2, "image: no such file"),
        (["edit", "{photo}", "make it winter", "-o", "{dir}/nowhere/x.png"], 2, "output: folder does not exist"),
        (["edit", "{photo}", "make it winter", "-o", "{photo}"], 2, "refusing to overwrite"),
        (["edit", "{photo}", "make it winter", "-o", "{dir}/x.xyz"], 2, "unknown image extension"),
        (["edit", "{photo}", "make it winter", "-o", "{dir}/x.png", "--map", "{photo}", "--region", "sky"], 2,
         "--map and --region"),
        (["edit", "{photo}", "  ", "-o", "{dir}/x.png"], 2, "instruction"),
        (["map", "{photo}", "sky", "-o", "{dir}/m.png", "--map-model", "clipseg"], 2, "--map-model"),
        (["map", "{photo}", "-o", "{dir}/m.png", "--source", "radial", "--grow", "-1"], 2,
         "--grow: expected a value in [0, 4096], got -1.0"),
    ],
)
def test_errors_are_one_line_with_exit_codes(photo, args, code, needle):
    filled = [a.format(photo=photo, dir=photo.parent) for a in args]
    result = automaps(*filled)
    assert result.returncode == code, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and needle in lines[0], result.stderr
