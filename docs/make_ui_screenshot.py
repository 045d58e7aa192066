"""Take the README's screenshot of ``automaps ui`` on a real photo, with tiny random models (no download).

    python docs/make_ui_screenshot.py        # writes docs/ui.png (needs Debian's /usr/bin/chromium)

It serves the page on loopback with a tiny SD and a tiny CLIPSeg, and drives headless Chromium as a user would:
upload scikit-image's rocket photo (public domain), type "make the sky stormy", wait for the plan and the map,
paint one half-opaque stroke on the map, run the edit, and shoot the page. The models are random, so the map
and the edited pixels are noise: the picture shows the page, never the looks of an edit.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from PIL import Image
from skimage import data

from automaps import tiny
from automaps.io import atomic_write
from diffdiff.tiny import save_tiny_pipeline
from pipelines.ui import UISettings
from pipelines.ui_app import build_app, launch

HERE = Path(__file__).resolve().parent
SIDE = 192


def _wait(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text, timeout=300_000)


def _drive(url: str, photo: Path, shot: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.locator("#image input[type=file]").set_input_files(str(photo))
        _wait(page, "Image loaded")
        page.locator("#instruction textarea").fill("make the sky stormy")
        page.locator("#instruction textarea").press("Enter")
        _wait(page, "Map ready")
        page.locator("#change-map button[aria-label='Brush']").first.click()
        box = page.locator("#change-map canvas").first.bounding_box()
        x, y = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.8
        page.mouse.move(x, y)
        page.mouse.down()
        for k in range(1, 9):
            page.mouse.move(x + k * box["width"] * 0.03, y, steps=2)
        page.mouse.up()
        page.locator("#run").click()
        _wait(page, "Edited")
        page.evaluate("document.querySelector('#status').scrollIntoView()")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        rocket = Image.fromarray(data.rocket()).convert("RGB")
        scale = SIDE / max(rocket.size)
        rocket.resize((round(rocket.width * scale), round(rocket.height * scale)), Image.Resampling.LANCZOS).save(
            root / "rocket.png")
        settings = UISettings(model=str(save_tiny_pipeline("sd", root / "sd")), steps=8, device="cpu",
                              map_models={"clipseg": str(tiny.save_tiny_clipseg(root / "clipseg"))})
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = launch(build_app(settings), "127.0.0.1", port, block=False)
        try:
            _drive(f"http://127.0.0.1:{port}/", root / "rocket.png", root / "ui.png")
        finally:
            app.close()
        shot = Image.open(root / "ui.png").convert("RGB")
        with atomic_write(HERE / "ui.png") as handle:  # a 256-colour palette keeps the README light
            shot.quantize(256, method=Image.Quantize.MEDIANCUT).save(handle, format="PNG", optimize=True)
    print(f"wrote {HERE / 'ui.png'} ({(HERE / 'ui.png').stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
