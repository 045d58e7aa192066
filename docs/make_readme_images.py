"""Make the README's Strength Fan and soft-inpainting pictures with a tiny random SD model (no download).

    python docs/make_readme_images.py        # writes docs/fan.png and docs/soft_inpaint.png

The model is random, so the generated content is noise: the pictures show the geometry (which pixels change,
by how much, how the new content meets the old), never the looks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from automaps.io import atomic_write
from diffdiff import DifferentialEditor
from diffdiff.tiny import save_tiny_pipeline
from pipelines import soft_inpaint, strength_fan

HERE = Path(__file__).resolve().parent
TITLE = "tiny random model: the content is noise, the geometry is the point"
SIDE = 128


def _photo(name: str) -> Image.Image:
    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    scale = SIDE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def _save(image: Image.Image, path: Path) -> None:
    # A 256-colour palette keeps the noisy tiles small enough for a README (<= 200 KB).
    with atomic_write(path) as handle:
        image.quantize(256, method=Image.Quantize.MEDIANCUT).save(handle, format="PNG", optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        editor = DifferentialEditor.from_pretrained(save_tiny_pipeline("sd", Path(folder) / "sd"), device="cpu",
                                                    scheduler="euler")
        editor.pipe.set_progress_bar_config(disable=True)
        _make(editor)


def _make(editor: DifferentialEditor) -> None:
    cat = _photo("chelsea")
    fan = strength_fan(editor, cat, "a tiger, detailed fur", n=8, steps=8, seed=0, tile=SIDE, title=TITLE)
    _save(fan.sheet, HERE / "fan.png")

    coffee = _photo("coffee")
    y, x = np.mgrid[0 : coffee.height, 0 : coffee.width]
    hole = (x - 0.62 * coffee.width) ** 2 + (y - 0.45 * coffee.height) ** 2 <= (0.18 * coffee.height) ** 2
    result = soft_inpaint(editor, coffee, hole, "a red rose in a coffee cup", band=12, falloff="cosine", steps=8,
                          seed=0, tile=SIDE, title=TITLE)
    _save(result.sheet, HERE / "soft_inpaint.png")

if __name__ == "__main__":
    main()
