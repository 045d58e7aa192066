"""Offline use and safe loading: with ``HF_HUB_OFFLINE=1`` a missing model is a typed error raised at once, with
no network attempt (sockets are blocked); no pickle is loaded without ``weights_only=True``, and no remote code is
trusted unless the user passes it."""

from __future__ import annotations

import ast
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("automaps", "diffdiff", "pipelines")


@pytest.fixture
def no_network(monkeypatch):
    """Every connection attempt is recorded and refused; ``HF_HUB_OFFLINE=1``."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_missing_models_fail_fast_without_the_network(no_network, tiny_folders):
    from automaps.errors import ModelNotAvailableError
    from automaps.generators import ModelNotAvailableError as MapModelMissing
    from automaps.generators import generate
    from diffdiff import DifferentialEditor
    from pipelines import edit

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    started = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match=r"'automaps-test/missing'.*hf download automaps-test/missing"):
        DifferentialEditor.from_pretrained("automaps-test/missing")
    with pytest.raises(ModelNotAvailableError, match="automaps-test/missing-sd"):
        edit(image, "make the sky stormy", model="automaps-test/missing-sd",
             map_models={"clipseg": "automaps-test/missing-clipseg"}, progress=False)
    with pytest.raises(MapModelMissing, match=r"automaps-test/missing-clipseg.*download it with"):
        edit(image, "make the sky stormy", model=str(tiny_folders["sd"]),
             map_models={"clipseg": "automaps-test/missing-clipseg"}, progress=False)
    for source in ("clipseg", "depth", "grounded"):
        with pytest.raises(MapModelMissing, match="automaps-test/missing"):
            generate(image, "sky", source=source, **(
                {"detector": "automaps-test/missing-dino", "segmenter": "automaps-test/missing-sam"}
                if source == "grounded" else {"model": "automaps-test/missing"}))
    assert no_network == [], "no connection was attempted"
    assert time.perf_counter() - started < 60, "typed errors come at once, not after network time-outs"


def _calls(tree: ast.AST, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if called == name:
                yield node


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_no_unsafe_loading_in_the_project():
    offenders = []
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert len(files) > 20
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        name = path.relative_to(ROOT)

        def where(node: ast.AST, name=name) -> str:
            return f"{name}:{node.lineno}"

        for call in _calls(tree, "load"):
            # torch.load(...) must say weights_only=True (a pickle can run code).
            function = call.func
            is_torch = isinstance(function, ast.Attribute) and getattr(function.value, "id", None) == "torch"
            flag = _keyword(call, "weights_only")
            if is_torch and not (isinstance(flag, ast.Constant) and flag.value is True):
                offenders.append(f"{where(call)}: torch.load without weights_only=True")
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "trust_remote_code" and (
                    isinstance(node.value, ast.Constant) and node.value.value is True):
                offenders.append(f"{where(node.value)}: trust_remote_code=True")
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (isinstance(key, ast.Constant) and key.value == "trust_remote_code"
                            and isinstance(value, ast.Constant) and value.value is True):
                        offenders.append(f"{where(value)}: trust_remote_code=True")
        for call in _calls(tree, "from_pretrained"):
            flag = _keyword(call, "use_safetensors")
            if isinstance(flag, ast.Constant) and flag.value is False:
                offenders.append(f"{where(call)}: use_safetensors=False")
    assert offenders == []


def test_the_scan_would_catch_an_unsafe_call():
    tree = ast.parse("import torch\nx = torch.load('w.bin')\ny = torch.load('w.bin', weights_only=True)\n")
    unsafe = [c for c in _calls(tree, "load") if _keyword(c, "weights_only") is None]
    assert len(unsafe) == 1 and unsafe[0].lineno == 2
