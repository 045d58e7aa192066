"""The public API: loading, family detection, schedulers, input forms, output sizes, errors."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch
from helpers import make_image
from PIL import Image

from diffdiff import DifferentialEditor, ModelNotAvailableError, UnsupportedPipelineError
from diffdiff.schedulers import SCHEDULER_NAMES, make_scheduler

PROMPT = "a watercolor landscape"


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("name", "family"), [("sd", "sd"), ("sdxl", "sdxl"), ("sdxl-refiner", "sdxl")])
def test_family_is_read_from_model_index(tiny_folders, name, family):
    editor = DifferentialEditor.from_pretrained(tiny_folders[name], device="cpu")
    assert editor.family == family
    assert editor.pipe.unet.dtype == torch.float32
    assert editor.pipe.device.type == "cpu"


def test_from_pipe_of_a_text_to_image_pipeline_matches_from_pretrained(tiny_folders, editors):
    from diffusers import StableDiffusionPipeline

    text2img = StableDiffusionPipeline.from_pretrained(tiny_folders["sd"])
    original_scheduler = text2img.scheduler
    editor = DifferentialEditor.from_pipe(text2img, scheduler="ddim")
    editor.pipe.set_progress_bar_config(disable=True)
    assert editor.family == "sd"
    assert text2img.scheduler is original_scheduler, "from_pipe must not change the user's pipeline"
    assert editor.pipe.unet is text2img.unet, "modules are shared, so LoRA and patches are kept"
    image, change = make_image(), torch.linspace(0, 1, 64).expand(64, 64).clone()
    ours = editor(image, PROMPT, change, num_inference_steps=6, generator=gen(), output_type="latent").images
    loaded = editors("sd", "ddim")(image, PROMPT, change, num_inference_steps=6, generator=gen(),
                                   output_type="latent").images
    torch.testing.assert_close(ours, loaded, rtol=0, atol=1e-6)


def test_unsupported_pipeline_class_is_named(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline"}))
    with pytest.raises(UnsupportedPipelineError, match=r"DDPMPipeline.*StableDiffusionImg2ImgPipeline"):
        DifferentialEditor.from_pretrained(tmp_path, device="cpu")


def test_folder_that_is_not_a_pipeline(tmp_path):
    with pytest.raises(ValueError, match=r"id_or_folder: .*model_index\.json"):
        DifferentialEditor.from_pretrained(tmp_path, device="cpu")


def test_missing_model_offline_names_it_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model_id = "automaps-test/does-not-exist"
    with pytest.raises(ModelNotAvailableError) as info:
        DifferentialEditor.from_pretrained(model_id, device="cpu")
    message = str(info.value)
    assert model_id in message and "hf download" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_every_scheduler_name_builds(editors, name):
    scheduler = make_scheduler(name, editors("sd").pipe.scheduler.config)
    assert hasattr(scheduler, "step")


def test_unknown_scheduler_name_lists_the_known_ones(editors):
    with pytest.raises(ValueError, match=r"scheduler: unknown name 'warp'.*euler"):
        make_scheduler("warp", editors("sd").pipe.scheduler.config)


def test_device_and_dtype_errors(tiny_folders):
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: 'cuda'"):
            DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cuda")
    with pytest.raises(ValueError, match="torch_dtype: float16 is not supported on the CPU"):
        DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", torch_dtype=torch.float16)


def test_bfloat16_loads_and_runs(tiny_folders):
    editor = DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", torch_dtype="bfloat16")
    assert editor.pipe.unet.dtype == torch.bfloat16
    out = editor(make_image(), PROMPT, torch.ones(64, 64) * 0.5, num_inference_steps=2, generator=gen())
    assert out.images[0].size == (64, 64)


@pytest.mark.parametrize("size", [(50, 70), (33, 64), (64, 64)])
def test_output_size_equals_input_size(editors, size):
    height, width = size
    image = Image.fromarray((make_image(height, width)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    change = np.zeros((height, width), dtype=np.float32)
    change[:, width // 2 :] = 1.0
    out = editors("sd")(image, PROMPT, change, num_inference_steps=3, generator=gen())
    assert out.images[0].size == (width, height)
    result = np.asarray(out.images[0])
    assert np.array_equal(result[:, : width // 2], np.asarray(image)[:, : width // 2])


def test_map_forms_agree_and_inputs_are_not_modified(editors):
    from automaps import ChangeMap

    editor = editors("sd", "euler")
    image = make_image(seed=9)
    image_before = image.clone()
    values = np.zeros((64, 64), dtype=np.float32)
    values[8:40, 8:56] = 1.0
    values_before = values.copy()
    forms = [
        values,
        torch.from_numpy(values)[None],
        Image.fromarray((values * 255).astype(np.uint8), "L"),
        (values * 255).astype(np.uint8),
        ChangeMap(values, provenance="test"),
    ]
    results = [
        editor(image, PROMPT, form, num_inference_steps=4, generator=gen(), output_type="latent").images
        for form in forms
    ]
    for result in results[1:]:
        assert torch.equal(result, results[0])
    assert torch.equal(image, image_before) and np.array_equal(values, values_before)


def test_invert_map_reads_paper_convention(editors):
    editor = editors("sd", "euler")
    image, change = make_image(), torch.linspace(0, 1, 64).expand(64, 64).clone()
    direct = editor(image, PROMPT, change, num_inference_steps=4, generator=gen(), output_type="latent").images
    inverted = editor(image, PROMPT, 1 - change, num_inference_steps=4, generator=gen(), output_type="latent",
                      invert_map=True).images
    assert torch.equal(direct, inverted)


def test_output_types(editors):
    editor = editors("sd")
    image, change = make_image(40, 48), torch.ones(40, 48) * 0.6
    assert isinstance(editor(image, PROMPT, change, num_inference_steps=2, generator=gen()).images[0], Image.Image)
    assert editor(image, PROMPT, change, num_inference_steps=2, output_type="np").images.shape == (1, 40, 48, 3)
    pt = editor(image, PROMPT, change, num_inference_steps=2, output_type="pt").images
    assert pt.shape == (1, 3, 40, 48) and pt.min() >= 0 and pt.max() <= 1


def test_all_zero_map_returns_the_input(editors):
    image = make_image(seed=3)
    out = editors("sd")(image, PROMPT, torch.zeros(64, 64), output_type="pt")
    assert torch.equal(out.images, image) and out.steps_run == 0


def test_user_callback_runs_after_the_blend(editors):
    seen = []

    def callback(pipe, step_index, timestep, kwargs):
        seen.append(step_index)
        return kwargs

    editors("sd", "euler")(make_image(), PROMPT, torch.full((64, 64), 0.5), num_inference_steps=6,
                           callback_on_step_end=callback)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"strength": 0.5}, TypeError, "strength: set by the editor"),
        ({"num_inference_steps": 0}, ValueError, "num_inference_steps"),
        ({"output_type": "jpeg"}, ValueError, "output_type"),
        ({"generator": [torch.Generator()] * 3}, ValueError, "generator"),
        ({"generator": 5}, TypeError, "generator"),
        ({"prompt": ["a", "b"]}, ValueError, "prompt: got 2 for 1 images"),
        ({"prompt": 7}, TypeError, "prompt"),
        ({"change_map": np.full((64, 64), np.nan)}, ValueError, "change_map:? contains NaN"),
        ({"change_map": np.full((64, 64), 1.5)}, ValueError, r"change_map: expected values in \[0, 1\]"),
        ({"change_map": np.zeros((2, 3, 64, 64))}, ValueError, "change_map: expected shape"),
        ({"change_map": "sky"}, TypeError, "change_map"),
        ({"image": "photo.jpg"}, TypeError, "image"),
        ({"image": torch.rand(1, 4, 64, 64)}, ValueError, "image: expected a tensor"),
        ({"image": torch.full((3, 64, 64), 2.0)}, ValueError, r"image: expected values in \[0, 1\]"),
    ],
)
def test_bad_arguments_name_the_parameter(editors, kwargs, error, pattern):
    call = {"image": make_image(), "prompt": PROMPT, "change_map": torch.full((64, 64), 0.5),
            "num_inference_steps": 2}
    call.update(kwargs)
    with pytest.raises(error, match=pattern):
        editors("sd")(**call)


def test_map_of_another_aspect_ratio_warns_and_is_stretched(editors):
    with pytest.warns(UserWarning, match="aspect ratio"):
        out = editors("sd")(make_image(), PROMPT, torch.ones(32, 16), num_inference_steps=2, output_type="latent")
    assert out.change.shape[-2:] == (32, 32)
