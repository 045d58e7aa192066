"""LoRA and IP-Adapter from the front ends: ``--lora ID[:SCALE]``, ``--ip-adapter`` / ``--ip-image`` / ``--ip-scale`` on
``automaps edit`` and ``python -m diffdiff`` (run in-process), and ``pipelines.edit(lora=, ip_adapter=,
ip_adapter_image=)``; each result equals the editor called directly with the same weights."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from PIL import Image

from diffdiff import DifferentialEditor
from diffdiff.adapters import has_ip_adapter, ip_adapter_arguments
from diffdiff.cli_adapter_flags import adapter_flag_values, add_adapter_flags, parse_lora_flag
from diffdiff.tiny.lora import save_tiny_ip_adapter, save_tiny_lora

pytest.importorskip("peft")

PROMPT = "a red fox in the snow"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapter-cli")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(root / "photo.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "ip.png")
    change = np.zeros((48, 48), np.uint8)
    change[:, 24:] = 200
    Image.fromarray(change).save(root / "map.png")
    return {"root": root, "lora": save_tiny_lora(root / "lora"), "ip": save_tiny_ip_adapter(root / "IP-Adapter")}


@pytest.mark.parametrize(("text", "parsed"), [
    ("someone/lora", "someone/lora"),
    ("someone/lora:0.7", ("someone/lora", 0.7)),
    ("someone/lora:-1", ("someone/lora", -1.0)),
    ("./dir:with:colons/style.safetensors", "./dir:with:colons/style.safetensors"),
    ("./dir:with:colons/style.safetensors:0.25", ("./dir:with:colons/style.safetensors", 0.25)),
    ("repo::weights.safetensors", "repo::weights.safetensors"),
    ("repo::weights.safetensors:2", ("repo::weights.safetensors", 2.0)),
    ("trailing:", "trailing:"),
])
def test_lora_flag_splits_on_the_last_colon_only_before_a_number(text, parsed):
    assert parse_lora_flag(text) == parsed


def flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_adapter_flags(parser)
    return parser.parse_args(list(argv))


def test_flag_values_are_the_edit_keywords(weights):
    values = adapter_flag_values(flags("--lora", "a:0.5", "--lora", "b", "--ip-adapter", "h94/IP-Adapter",
                                       "--ip-image", str(weights["root"] / "ip.png"), "--ip-scale", "0.6"))
    assert values == {"lora": [("a", 0.5), "b"], "ip_adapter": "h94/IP-Adapter",
                      "ip_adapter_image": weights["root"] / "ip.png", "ip_adapter_scale": 0.6}
    assert adapter_flag_values(flags()) == {}


@pytest.mark.parametrize(("argv", "words"), [
    (["--ip-image", "x.png"], "--ip-image: needs --ip-adapter"),
    (["--ip-scale", "0.5"], "--ip-scale: needs --ip-adapter"),
    (["--ip-adapter", "h94/IP-Adapter"], "--ip-adapter: needs --ip-image"),
    (["--ip-adapter", "h94/IP-Adapter", "--ip-image", "no-such.png"], "--ip-image: no such file"),
])
def test_flag_pairs_are_checked(argv, words):
    with pytest.raises((ValueError, FileNotFoundError), match=words):
        adapter_flag_values(flags(*argv))


def test_ip_adapter_spec_names_the_file_or_takes_the_familys_default():
    assert ip_adapter_arguments("h94/IP-Adapter", "sd") == {
        "pretrained_model_name_or_path_or_dict": "h94/IP-Adapter", "subfolder": "models",
        "weight_name": "ip-adapter_sd15.safetensors"}
    assert ip_adapter_arguments("h94/IP-Adapter::models/ip-adapter-plus_sd15.safetensors", "sd")["weight_name"] == \
        "ip-adapter-plus_sd15.safetensors"
    assert ip_adapter_arguments("h94/IP-Adapter", "sdxl")["subfolder"] == "sdxl_models"
    with pytest.raises(ValueError, match=r"ip_adapter: .*SUBFOLDER/WEIGHT"):
        ip_adapter_arguments("someone/ip", "kandinsky")


def direct_edit(folder, weights, scale: float, photo, change_map, steps: int, seed: int):
    """The edit the CLIs should have made, through the editor's own API."""
    editor = DifferentialEditor.from_pretrained(folder, device="cpu", lora=[(weights["lora"], scale)])
    editor.load_ip_adapter(weights["ip"], subfolder="models", weight_name="ip-adapter_sd15.safetensors")
    editor.pipe.set_progress_bar_config(disable=True)
    ip = Image.open(weights["root"] / "ip.png").convert("RGB")
    return editor(photo, PROMPT, change_map, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed),
                  ip_adapter_image=ip).images[0]


def test_python_m_diffdiff_runs_lora_and_ip_adapter(tiny_folders, weights):
    from diffdiff.__main__ import main

    root, out = weights["root"], weights["root"] / "diffdiff-out.png"
    code = main([str(root / "photo.png"), PROMPT, "--map", str(root / "map.png"), "-o", str(out),
                 "--model", str(tiny_folders["sd"]), "--steps", "4", "--seed", "3",
                 "--lora", f"{weights['lora']}:0.8", "--ip-adapter", str(weights["ip"]), "--ip-image",
                 str(root / "ip.png")])
    assert code == 0
    photo = Image.open(root / "photo.png").convert("RGB")
    expected = direct_edit(tiny_folders["sd"], weights, 0.8, photo, Image.open(root / "map.png"), 4, 3)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))


def test_python_m_diffdiff_refuses_an_ip_image_alone(weights, capsys):
    from diffdiff.__main__ import main

    root = weights["root"]
    code = main([str(root / "photo.png"), PROMPT, "--map", str(root / "map.png"), "-o", str(root / "x.png"),
                 "--model", "./no/such/model", "--ip-image", str(root / "ip.png")])
    assert code == 2
    assert "--ip-image: needs --ip-adapter" in capsys.readouterr().err


def test_edit_api_with_lora_and_ip_adapter_equals_the_editor(tiny_folders, weights):
    from pipelines.edit import edit

    root = weights["root"]
    result = edit(root / "photo.png", "make it snowy", model=str(tiny_folders["sd"]), change_map=root / "map.png",
                  prompt=PROMPT, seed=5, steps=4, crop="off", progress=False, lora=[(str(weights["lora"]), 0.5)],
                  ip_adapter=str(weights["ip"]), ip_adapter_image=root / "ip.png", ip_adapter_scale=0.7)
    editor = result._editor
    assert has_ip_adapter(editor.pipe.unet) and editor.pipe.get_active_adapters() == ["lora_0"]
    assert result.settings["ip_adapter"] == str(weights["ip"]) and result.settings["ip_adapter_scale"] == 0.7
    expected = editor(result.source, PROMPT, result.change_map, num_inference_steps=4,
                      generator=torch.Generator().manual_seed(5),
                      ip_adapter_image=Image.open(root / "ip.png").convert("RGB")).images[0]
    assert np.array_equal(np.asarray(result.image), np.asarray(expected))
    # The cached editor forgets the scale: without ip_adapter_scale the next edit runs at 1.0.
    again = edit(root / "photo.png", "make it snowy", model=str(tiny_folders["sd"]), change_map=root / "map.png",
                 prompt=PROMPT, seed=5, steps=4, crop="off", progress=False, lora=[(str(weights["lora"]), 0.5)],
                 ip_adapter=str(weights["ip"]), ip_adapter_image=root / "ip.png")
    assert again._editor is editor
    assert not np.array_equal(np.asarray(again.image), np.asarray(result.image))


def test_automaps_edit_flags_reach_the_editor(tiny_folders, weights):
    from pipelines.cli import main
    from pipelines.models import _EDITORS

    root, out = weights["root"], weights["root"] / "automaps-out.png"
    code = main(["edit", str(root / "photo.png"), "make it snowy", "-o", str(out), "--map", str(root / "map.png"),
                 "--model", str(tiny_folders["sd"]), "--steps", "3", "--seed", "1", "--crop", "off", "--quiet",
                 "--lora", f"{weights['lora']}:0.25", "--ip-adapter", str(weights["ip"]),
                 "--ip-image", str(root / "ip.png")])
    assert code == 0 and out.is_file()
    [editor] = [e for key, e in _EDITORS.items() if str(weights["ip"]) in key and "0.25" in str(key)]
    assert has_ip_adapter(editor.pipe.unet) and editor.pipe.get_active_adapters() == ["lora_0"]


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"ip_adapter": "h94/IP-Adapter"}, ValueError, "ip_adapter_image: required"),
    ({"ip_adapter_scale": 0.5}, ValueError, "ip_adapter_scale"),
    ({"lora": [3]}, TypeError, r"lora\[0\]"),
    ({"ip_adapter": 7, "ip_adapter_image": "x.png"}, TypeError, "ip_adapter:"),
])
def test_edit_refuses_bad_adapter_arguments_first(kwargs, error, words):
    from pipelines.edit import edit

    with pytest.raises(error, match=words):
        edit(np.zeros((32, 32, 3), np.uint8), "make it snowy", model="./no/such/model", change_map=0.5, **kwargs)


def test_edit_refuses_lora_for_a_loaded_editor(editors):
    from pipelines.edit import edit

    with pytest.raises(ValueError, match="lora: applies to a model loaded by name"):
        edit(np.zeros((32, 32, 3), np.uint8), "make it snowy", model=editors("sd"), change_map=0.5, lora=["a/b"])


@pytest.mark.parametrize("module", ["diffdiff.adapters", "diffdiff.cli_adapter_flags"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
