"""Map models stay cached across edits: a chain of ``then()`` edits loads CLIPSeg once; asking (or a machine
short of memory) drops them."""

from __future__ import annotations

import pytest
import transformers
from PIL import Image

import automaps.generators.loading as loading
from pipelines import edit


@pytest.fixture
def loads(monkeypatch):
    """Counts CLIPSeg ``from_pretrained`` calls (the weights read from disk)."""
    calls = []
    original = transformers.CLIPSegForImageSegmentation.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("pretrained_model_name_or_path"))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(transformers.CLIPSegForImageSegmentation, "from_pretrained", classmethod(counting))
    loading.release()
    yield calls
    loading.release()


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return Image.fromarray(data.rocket()).resize((64, 48))


def test_chained_edits_load_the_map_model_once(editors, map_models, photo, loads, monkeypatch):
    monkeypatch.setattr(loading, "memory_is_short", lambda fraction=0.25: False)
    first = edit(photo, "make the sky stormy", model=editors("sd", "euler"), map_models=map_models, steps=2,
                 progress=False)
    second = first.then("make the grass yellow", map_models=map_models, steps=2, progress=False)
    second.then("make the sky pink", map_models=map_models, steps=2, progress=False)
    assert len(loads) == 1, "chaining must not reload the map model"
    assert len(loading.cached()) == 1


def test_release_map_models_drops_them(editors, map_models, photo, loads):
    edit(photo, "make the sky stormy", model=editors("sd", "euler"), map_models=map_models, steps=2, progress=False,
         release_map_models=True)
    assert loading.cached() == []
    edit(photo, "make the sky stormy", model=editors("sd", "euler"), map_models=map_models, steps=2, progress=False,
         release_map_models=True)
    assert len(loads) == 2


def test_short_memory_drops_them(editors, map_models, photo, loads, monkeypatch):
    monkeypatch.setattr(loading, "memory_is_short", lambda fraction=0.25: True)
    edit(photo, "make the sky stormy", model=editors("sd", "euler"), map_models=map_models, steps=2, progress=False)
    assert loading.cached() == []


def test_memory_is_short_reads_meminfo():
    assert loading.memory_is_short(0.0) is False
    assert loading.memory_is_short(1.01) is True
