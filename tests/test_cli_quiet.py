"""Quiet and fast where a user expects it: a hub that cannot be reached is found out with one connect, not
~20 s of retries; ``automaps`` prints one line per real problem (no loading bars, no library notices)."""

from __future__ import annotations

import socket

import pytest

from automaps import hub


@pytest.fixture
def unreachable_hub(monkeypatch):
    """No offline variable set, and every TCP connect refused and counted."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(hub, "_REACHABLE", {})
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # restored after the test: the check turns it on
    return attempts


def test_an_unreachable_hub_is_tried_once_and_named(unreachable_hub):
    from automaps.errors import ModelNotAvailableError
    from automaps.generators import generate
    from diffdiff import DifferentialEditor

    with pytest.raises(ModelNotAvailableError) as caught:
        DifferentialEditor.from_pretrained("automaps-test/missing-sd", device="cpu")
    message = str(caught.value)
    assert "huggingface.co cannot be reached" in message and "HF_HUB_OFFLINE=1" in message
    assert "hf download automaps-test/missing-sd" in message and "\n" not in message
    import numpy as np

    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ModelNotAvailableError, match=r"cannot be reached.*HF_HUB_OFFLINE=1"):
        generate(image, "sky", source="clipseg", model="automaps-test/missing-clipseg")
    assert [address for (address, *_) in unreachable_hub] == [("huggingface.co", 443)], "one connect per process"


def test_a_mirror_is_the_host_tried(unreachable_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example:8080")
    assert hub.hub_host() == ("mirror.example", 8080)
    assert hub.local_only("automaps-test/missing") and hub.local_only("automaps-test/other")
    assert [address for (address, *_) in unreachable_hub] == [("mirror.example", 8080)]


def test_offline_variables_skip_the_connect(unreachable_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.local_only("automaps-test/missing")
    assert unreachable_hub == []


def test_plan_imports_no_model_library():
    import subprocess
    import sys

    code = ("import sys, contextlib, io\n"
            "from pipelines import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert cli.main(['plan', 'make the sky stormy']) == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'diffusers', 'transformers', "
            "'huggingface_hub'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", "automaps plan needs no model: it must not import the model libraries"


@pytest.fixture
def picture(tmp_path):
    import numpy as np
    from PIL import Image

    path = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_quiet_edit_prints_nothing(picture, tmp_path, tiny_folders, map_models, capfd):
    from pipelines.cli import main

    model, clipseg = str(tiny_folders["sd"]), map_models["clipseg"]  # built (with their bars) before the capture
    capfd.readouterr()
    code = main(["edit", str(picture), "make the sky stormy", "-o", str(tmp_path / "out.png"), "--quiet",
                 "--model", model, "--map-model", f"clipseg={clipseg}",
                 "--steps", "2", "--seed", "1", "--dtype", "float32", "--num-images", "2"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert (out, err) == ("", ""), "no loading bars, no torchvision fallbacks, no float32-modules notices"
    assert sorted(p.name for p in tmp_path.glob("out*.png")) == ["out-1.png", "out-2.png"]


def test_each_problem_is_one_line(picture, tmp_path, tiny_folders, capfd, monkeypatch):
    import sys
    import warnings

    import numpy as np
    from PIL import Image

    from pipelines.cli import main

    # Printed as outside pytest (which records warnings instead), every time.
    monkeypatch.setattr(warnings, "showwarning", lambda message, category, filename, lineno, file=None, line=None:
                        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line)))
    monkeypatch.setattr(warnings, "filters", [("always", None, Warning, None, 0)])
    Image.fromarray(np.full((40, 64), 255, np.uint8)).save(tmp_path / "map.png")  # another aspect ratio
    model = str(tiny_folders["sd"])
    capfd.readouterr()
    code = main(["edit", str(picture), "make the sky stormy", "-o", str(tmp_path / "out.png"), "--quiet",
                 "--model", model, "--map", str(tmp_path / "map.png"), "--steps", "2",
                 "--prompt", "stormy sky " * 60, "--negative-prompt", "blurry"])
    err = capfd.readouterr().err
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 2, err[:2000]
    assert lines[0].startswith("warning: change_map: size 64x40 has another aspect ratio")
    assert lines[1].startswith("warning: prompt: ") and "truncated" in lines[1] and len(lines[1]) < 200


def test_diffdiff_cli_warns_in_one_line(picture, tmp_path, tiny_folders, capfd, monkeypatch):
    import warnings

    import numpy as np
    from PIL import Image

    from diffdiff.__main__ import main

    monkeypatch.setattr(warnings, "filters", [("always", None, Warning, None, 0)])
    Image.fromarray(np.full((40, 64), 255, np.uint8)).save(tmp_path / "map.png")  # another aspect ratio
    model = str(tiny_folders["sd"])
    capfd.readouterr()
    assert main([str(picture), "a stormy sky", "--map", str(tmp_path / "map.png"), "-o", str(tmp_path / "o.png"),
                 "--model", model, "--steps", "2", "--negative-prompt", "blurry", "--dtype", "float32"]) == 0
    warned = [line for line in capfd.readouterr().err.splitlines() if "aspect ratio" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: change_map: size 64x40"), warned
    assert ".py:" not in warned[0]


def test_api_edit_without_progress_prints_nothing(picture, tiny_folders, map_models, capfd):
    from pipelines import edit

    model, clipseg = str(tiny_folders["sd"]), map_models["clipseg"]
    capfd.readouterr()
    result = edit(picture, "make the sky stormy", model=model, map_models={"clipseg": clipseg}, steps=2, seed=1,
                  scheduler="ddim", torch_dtype="float32", progress=False)  # ddim: a fresh load, not the cache
    assert result.image.size == (64, 64)
    assert capfd.readouterr() == ("", ""), "no loading bars, torchvision fallbacks or float32-modules notices"
