"""``automaps ui``: the page's callbacks in-process (tiny SD + tiny CLIPSeg from folders), and one run of the whole
page in headless Chromium through Playwright (Debian's ``/usr/bin/chromium``; missing = a failure, not a skip)."""

from __future__ import annotations

import json
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automaps import ChangeMap
from pipelines.ui import (
    MapAdjustments,
    UISettings,
    adjusted_plan,
    edit_options,
    make_map,
    paint_strokes,
    plan_instruction,
    plan_markdown,
    read_upload,
    run_edit,
    save_zip,
)

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A real photo (scikit-image's astronaut, public domain) at 64x64, as a PNG file."""
    import skimage.data

    path = tmp_path_factory.mktemp("ui-photo") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).resize((64, 64), Image.Resampling.LANCZOS).save(path)
    return path


@pytest.fixture(scope="module")
def settings(tiny_folders, map_models, tmp_path_factory) -> UISettings:
    return UISettings(model=str(tiny_folders["sd"]), map_models={"clipseg": map_models["clipseg"]}, steps=4,
                      device="cpu", work_dir=str(tmp_path_factory.mktemp("ui-work")))


def _knobs(plan, **changes) -> MapAdjustments:
    values = dict(region=", ".join(plan.regions), generator=plan.generator, strength=plan.strength, grow=plan.grow,
                  feather=plan.feather)
    return MapAdjustments(**{**values, **changes})


# -- pure callbacks ------------------------------------------------------------------------------------------


def test_paint_strokes_composites_brightness_by_alpha():
    change = ChangeMap(np.full((8, 8), 0.2, np.float32), provenance="constant(0.2)")
    strokes = np.zeros((8, 8, 4), np.uint8)
    strokes[:, :4] = (255, 255, 255, 128)  # half-opaque white on the left: half way to "change fully"
    strokes[0, 4:] = (0, 0, 0, 255)  # an opaque black line on the right: keep
    painted = paint_strokes(change, [strokes])
    a = 128 / 255
    np.testing.assert_allclose(painted.values[:, :4], 0.2 * (1 - a) + a, rtol=0, atol=1e-6)
    assert (painted.values[0, 4:] == 0).all() and (painted.values[1:, 4:] == np.float32(0.2)).all()
    assert painted.provenance == "constant(0.2) | paint(1 layer)"
    assert paint_strokes(change, [np.zeros((8, 8, 4), np.uint8)], softness=3) is change  # nothing painted
    soft = paint_strokes(change, [Image.fromarray(strokes).resize((16, 16))], softness=1.5)  # resized, blurred
    assert 0.2 < soft.values[4, 4] < painted.values[4, 0]
    with pytest.raises(ValueError, match="layers: expected RGBA"):
        paint_strokes(change, [np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(ValueError, match="softness"):
        paint_strokes(change, [], softness=-1)


def test_adjusted_plan_applies_knobs_and_refuses_bad_ones():
    plan = plan_instruction("make the sky stormy")
    assert adjusted_plan(plan, _knobs(plan)) == plan
    moved = adjusted_plan(plan, _knobs(plan, region="clouds, sea", strength=0.5, grow=2.4, feather=3))
    assert (moved.regions, moved.strength, moved.grow, moved.feather) == (["clouds", "sea"], 0.5, 2, 3.0)
    assert moved.prompt == plan.prompt and moved.generator == plan.generator
    with pytest.raises(ValueError, match="strength"):
        adjusted_plan(plan, _knobs(plan, strength=1.5))
    with pytest.raises(ValueError, match="generator"):
        adjusted_plan(plan, _knobs(plan, generator="magic"))
    with pytest.raises(ValueError, match="region"):
        adjusted_plan(plan_instruction("make it winter"), MapAdjustments(generator="clipseg"))
    with pytest.raises(ValueError, match="instruction: is empty"):
        plan_instruction("  ")
    compound = plan_instruction("make the sky stormy and the grass yellow")
    if compound.parts:  # a moved knob applies to the whole map: one region, the parts' union
        assert adjusted_plan(compound, _knobs(compound)).parts == compound.parts
        assert adjusted_plan(compound, _knobs(compound, strength=0.4)).parts == []
    assert "**prompt** a stormy sky" in plan_markdown(plan)


def test_make_map_is_the_plans_map_then_gamma_and_invert(photo, settings, tmp_path):
    from pipelines.maps import map_from_plan

    source = read_upload(photo)
    plan = plan_instruction("make the sky stormy")
    shown = make_map(source, plan, _knobs(plan), map_models=settings.map_models)
    assert np.array_equal(shown.values, map_from_plan(source, plan, settings.map_models).values)
    winter = plan_instruction("make it winter")  # a whole-image plan: uniform at its strength

    def winter_map(**knobs) -> ChangeMap:
        return make_map(source, adjusted_plan(winter, _knobs(winter, **knobs)), _knobs(winter, **knobs), **extra)

    extra = {}
    uniform = winter_map(strength=0.5, gamma=2.0)
    assert np.allclose(uniform.values, 0.25) and uniform.size == source.size
    assert np.allclose(winter_map(strength=0.4, invert=True).values, 0.6)
    gradient = np.tile(np.linspace(0, 255, 32, dtype=np.float32).round().astype(np.uint8), (32, 1))
    Image.fromarray(gradient).save(tmp_path / "map.png")
    extra = {"uploaded": str(tmp_path / "map.png")}
    uploaded = winter_map(strength=0.5)
    assert uploaded.size == source.size and uploaded.max() == pytest.approx(0.5, abs=1e-6)
    assert uploaded.values[:, 0].max() < 0.05  # white = change: the dark left edge is kept
    with pytest.raises(ValueError, match="gamma"):
        make_map(source, winter, _knobs(winter, gamma=0))


def test_read_upload_refuses_bad_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises((ValueError, OSError), match="image"):
        read_upload(str(tmp_path / "notes.txt"))
    Image.new("RGB", (1200, 1000)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match=r"1200x1000 pixels \(1.2 MP\) is too large"):
        read_upload(str(tmp_path / "big.png"), max_megapixels=1.0)
    with pytest.raises(ValueError, match="none uploaded"):
        read_upload(None)


def test_edit_options_offers_only_what_edit_accepts():
    import inspect

    from pipelines.edit import edit

    accepted = inspect.signature(edit).parameters
    assert edit_options({"control_scale": 0.5, "lora": " ", "ip_adapter": None, "steps": 3}) == {}  # blank: nothing
    chosen = edit_options({"controlnet": "cn", "control_source": "canny", "control_scale": 0.5, "lora": "a, b",
                           "lora_scale": 0.8, "ip_adapter": "h94/IP-Adapter", "ip_adapter_image": "ref.png"})
    wanted = {"controlnet": "cn", "control": "canny", "control_scale": 0.5, "lora": [("a", 0.8), ("b", 0.8)],
              "ip_adapter": "h94/IP-Adapter", "ip_adapter_image": "ref.png"}
    assert chosen == {name: value for name, value in wanted.items() if name in accepted}
    picture = Image.new("RGB", (8, 8))
    with_image = edit_options({"controlnet": "cn", "control_source": "depth", "control_image": picture})
    assert with_image.get("control", picture) is picture


def test_run_edit_is_edit_with_the_pages_map_and_plan(photo, settings, tmp_path):
    from pipelines.edit import edit

    source = read_upload(photo)
    plan = adjusted_plan(plan_instruction("make the sky stormy"), _knobs(plan_instruction("make the sky stormy")))
    keep = np.zeros((64, 64, 4), np.uint8)
    keep[:, :32] = (0, 0, 0, 255)  # the left half painted "keep"
    change = paint_strokes(make_map(source, plan, _knobs(plan), map_models=settings.map_models), [keep])
    result = run_edit(source, plan, change, settings, seed=3)
    stock = edit(source, plan.instruction, model=settings.model, change_map=change, seed=3, steps=4, progress=False)
    assert np.array_equal(np.asarray(result.image), np.asarray(stock.image))  # the page adds nothing to edit()
    assert np.array_equal(np.asarray(result.image)[:, :32], np.asarray(source)[:, :32])  # "keep" is exact
    assert not np.array_equal(np.asarray(result.image), np.asarray(source))
    archive = save_zip(result, tmp_path)
    with zipfile.ZipFile(archive) as files:
        assert sorted(files.namelist()) == ["change_map.png", "edit.json", "image.png", "overlay.png"]
        record = json.loads(files.read("edit.json"))
    assert record["plan"]["prompt"] == plan.prompt and record["seed"] == 3
    assert record["map_provenance"].endswith("paint(1 layer)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit.zip"]  # no half-written or staging files left


def test_a_compound_plan_runs_as_edit_runs_it(photo, settings):
    from pipelines.edit import edit

    source = read_upload(photo)
    plan = plan_instruction("make the sky stormy and the grass yellow")
    result = run_edit(source, plan, None, settings, seed=2)  # None: the plan's own map, as the page sends it
    stock = edit(source, plan.instruction, model=settings.model, seed=2, steps=4, progress=False,
                 map_models=settings.map_models)
    assert np.array_equal(np.asarray(result.image), np.asarray(stock.image))
    assert result.plan.parts == stock.plan.parts and np.array_equal(result.change_map.values, stock.change_map.values)


def test_a_lora_from_the_page_reaches_edit(photo, settings, tmp_path):
    import inspect

    from diffdiff.tiny.lora import save_tiny_lora
    from pipelines.edit import edit

    source = read_upload(photo)
    plan = plan_instruction("make it winter")
    change = make_map(source, plan, _knobs(plan))
    folder = str(save_tiny_lora(tmp_path / "lora", family="sd"))
    result = run_edit(source, plan, change, settings, seed=5, options={"lora": folder, "lora_scale": 0.8})
    plain = run_edit(source, plan, change, settings, seed=5)
    if "lora" not in inspect.signature(edit).parameters:  # an editor without LoRA support: the field is ignored
        assert np.array_equal(np.asarray(result.image), np.asarray(plain.image))
        return
    stock = edit(source, plan.instruction, model=settings.model, change_map=change, seed=5, steps=4, progress=False,
                 lora=[(folder, 0.8)])
    assert np.array_equal(np.asarray(result.image), np.asarray(stock.image))
    assert not np.array_equal(np.asarray(result.image), np.asarray(plain.image))


# -- the page's handlers (Gradio imported, no browser) --------------------------------------------------------


def test_handlers_show_failures_as_one_line_and_keep_serving(photo, settings, tmp_path):
    from pipelines.ui_app import _guarded, _Handlers

    handlers = _Handlers(settings)
    preview = _guarded(9)(handlers.preview)
    (tmp_path / "notes.txt").write_text("not an image")
    status, *_ = preview(str(tmp_path / "notes.txt"), "make the sky stormy", 1.0, False, None, {})
    assert status.startswith("**Error:** image:") and "Traceback" not in status
    status, *_ = preview(str(photo), "", 1.0, False, None, {})
    assert status.startswith("Image loaded (64x64)")
    status, markdown, region, generator, strength, grow, feather, editor, state = preview(
        str(photo), "make the sky stormy", 1.0, False, None, {})
    plan = plan_instruction("make the sky stormy")
    assert status.startswith("Map ready") and "a stormy sky" in markdown
    assert (region, generator, strength, grow, feather) == ("sky", plan.generator, plan.strength, plan.grow,
                                                             plan.feather)
    assert editor["background"].size == (64, 64) and state["map"].size == (64, 64)
    missing = dict(controlnet="", control_source="depth", control_image=None, control_scale=1.0, lora="",
                   lora_scale=1.0, ip_adapter="", ip_adapter_image=None, ip_adapter_scale=1.0)
    status, *_ = _guarded(5)(handlers.run)(editor, 0, str(tmp_path / "no-such-model"), 4, 1, "", *missing.values(),
                                           state, progress=lambda *a, **k: None)
    assert status.startswith(("**Missing model:**", "**Error:**")) and "no-such-model" in status
    status, pair, used, download, state = _guarded(5)(handlers.run)(
        editor, 0, "", 4, 1, "", *missing.values(), state, progress=lambda *a, **k: None)
    assert status.startswith("Edited") and pair[1].size == used.size == (64, 64)
    assert zipfile.is_zipfile(download["value"])
    status, sheet = _guarded(2)(handlers.fan)(editor, 0, "", 2, 0, state)
    assert status.startswith("Strength Fan ready") and sheet.width > 64
    status, image, instruction, state = _guarded(4)(handlers.chain)(state)
    assert Image.open(image).size == (64, 64) and instruction == "" and "plan" not in state


def test_cli_refuses_a_remote_host_without_the_flag(capsys):
    from pipelines.cli import main
    from pipelines.cli_ui import check_host, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("192.168.1.2")
    assert check_host("127.0.0.1", False) is None
    assert "anyone who can reach" in check_host("0.0.0.0", True)
    assert main(["ui", "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(["ui", "--map-model", "colour=x"]) == 2


def test_cli_serves_the_page_on_loopback(settings):
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    command = [sys.executable, "-m", "pipelines.cli", "ui", "--model", settings.model, "--port", str(port),
               "--map-model", f"clipseg={settings.map_models['clipseg']}", "--steps", "4"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, page = time.monotonic() + 180, ""
        while time.monotonic() < deadline and server.poll() is None and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(1)
        assert "automaps" in page, server.stderr.read() if server.poll() is not None else "no page in 180 s"
    finally:
        server.terminate()  # SIGTERM: the CLI unwinds like Ctrl-C and Gradio closes the server
        try:
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
    assert server.returncode is not None


# -- the page in a real browser -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_status(page, text: str, timeout: float = 60_000) -> str:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text,
                           timeout=timeout)
    return page.locator("#status").inner_text()


def test_browser_upload_plan_paint_run_download(photo, settings, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    from pipelines.ui_app import build_app, launch

    port = _free_port()
    app = launch(build_app(settings), "127.0.0.1", port, block=False)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#image input[type=file]").set_input_files(str(photo))
            _wait_status(page, "Image loaded")
            page.locator("#instruction textarea").fill("make the sky stormy")
            page.locator("#instruction textarea").press("Enter")
            _wait_status(page, "Map ready")  # the plan and map, before any diffusion
            assert "a stormy sky" in page.locator("#plan").inner_text()

            page.locator("#change-map button[aria-label='Brush']").first.click()
            box = page.locator("#change-map canvas").first.bounding_box()
            x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
            page.mouse.move(x, y)
            page.mouse.down()
            for k in range(1, 9):
                page.mouse.move(x + k * box["width"] * 0.05, y, steps=2)
            page.mouse.up()

            page.locator("#model textarea").fill(str(tmp_path / "no-such-model"))
            page.locator("#run").click()
            assert "no-such-model" in _wait_status(page, "model")  # a readable line, and the page keeps serving
            page.locator("#model textarea").fill(settings.model)
            page.locator("#run").click()
            _wait_status(page, "Edited")
            assert page.locator("#result img").count() >= 1
            page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)

            with page.expect_download() as download:
                page.locator("#download").click()
            download.value.save_as(tmp_path / "edit.zip")
            with zipfile.ZipFile(tmp_path / "edit.zip") as files:
                record = json.loads(files.read("edit.json"))
            assert record["plan"]["prompt"] == "a stormy sky"
            assert record["map_provenance"].endswith("paint(1 layer)")  # the stroke reached the edit

            (tmp_path / "notes.txt").write_text("not an image")
            page.locator("#image input[type=file]").set_input_files(str(tmp_path / "notes.txt"))
            page.get_by_text("Invalid file type").first.wait_for(timeout=20_000)
            page.screenshot(path=str(tmp_path / "bad-upload.png"), full_page=True)
            browser.close()
    finally:
        app.close()
    assert (tmp_path / "ui.png").stat().st_size > 0
