"""Writes the five notebooks of this folder (nbformat v4, no outputs). Edit the cells here, then run
``python notebooks/make_notebooks.py``; tests/test_notebooks.py executes every notebook against tiny models.

Each notebook's first code cell reads the model ids from environment variables whose defaults are the real
hub ids, so the same notebook runs on a GPU with weights and in CI with tiny random models.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

CONFIG_HEAD = '''import os

# Model ids: the real hub ids by default. CI sets these variables to tiny random test models (whose pictures
# are noise: with them only the geometry of maps and edits means anything).
'''
CONFIG_LINES = {
    "model": 'MODEL = os.environ.get("AUTOMAPS_NB_MODEL", "stable-diffusion-v1-5/stable-diffusion-v1-5")',
    "clipseg": 'CLIPSEG = os.environ.get("AUTOMAPS_NB_CLIPSEG", "CIDAS/clipseg-rd64-refined")',
    "detector": 'DETECTOR = os.environ.get("AUTOMAPS_NB_DETECTOR", "IDEA-Research/grounding-dino-tiny")',
    "segmenter": 'SEGMENTER = os.environ.get("AUTOMAPS_NB_SEGMENTER", "facebook/sam-vit-base")',
    "depth": 'DEPTH = os.environ.get("AUTOMAPS_NB_DEPTH", "depth-anything/Depth-Anything-V2-Small-hf")',
}
INSTRUCTION_MODEL_LINE = 'KONTEXT = os.environ.get("AUTOMAPS_NB_KONTEXT", "black-forest-labs/FLUX.1-Kontext-dev")'
CONFIG_TAIL = '''STEPS = int(os.environ.get("AUTOMAPS_NB_STEPS", "30"))   # inference steps
SIZE = int(os.environ.get("AUTOMAPS_NB_SIZE", "512"))     # long side of the example photo, in pixels
DEVICE = os.environ.get("AUTOMAPS_NB_DEVICE") or None     # None: CUDA, then MPS, then the CPU
SEED = 0'''

PHOTO = '''from PIL import Image
from skimage import data  # real photographs shipped with scikit-image (public domain / CC0)


def photo(name: str) -> Image.Image:
    """A scikit-image photograph, resized so that its long side is SIZE."""
    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    scale = SIZE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)'''


def config(*models: str) -> str:
    lines = [CONFIG_LINES[m] for m in models]
    extra = ""
    map_roles = [m for m in models if m != "model"]
    if map_roles:
        extra = "\nMAP_MODELS = {" + ", ".join(f'"{m}": {m.upper()}' for m in map_roles) + "}"
    return CONFIG_HEAD + "\n".join(lines) + "\n" + CONFIG_TAIL + extra


def notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


md, code = new_markdown_cell, new_code_cell

QUICK_START = notebook([
    md("# 01 · Quick start\n\nEdit a photo with an instruction, look at the change map automaps made for it, and "
       "override it: with a region phrase, a strength, or a map of your own.\n\nA change map is float32 "
       "`(H, W)` in `[0, 1]`: **1 = regenerate fully, 0 = keep**."),
    code(config("model", "clipseg", "detector", "segmenter", "depth")),
    code(PHOTO + '\n\nrocket = photo("rocket")\nrocket'),
    md("## Edit with an instruction\n\n`edit()` plans the instruction (which region, which prompt, how strong), "
       "builds the change map with the map models, and runs Differential Diffusion."),
    code('''from pipelines import edit
from pipelines.sheet import contact_sheet

result = edit(rocket, "make the sky stormy", model=MODEL, map_models=MAP_MODELS, steps=STEPS, seed=SEED,
              device=DEVICE, progress=False)
print(result.plan)
contact_sheet([rocket, result.change_map, result.image], ["input", "change map", "edited"])'''),
    md("## Look at the map\n\nEvery map carries its provenance: how it was made, step by step. "
       "`side_by_side` shows image, map and the map tinted over the image."),
    code('''print(result.change_map.provenance)
print(result.change_map)
result.change_map.side_by_side(rocket)'''),
    md("## Override it\n\nA different region phrase and a lower strength; or any map you make yourself "
       "(here a vertical gradient: the top changes fully, the bottom not at all)."),
    code('''from automaps import generate, ops

gentler = edit(rocket, "make the sky stormy", region="clouds", strength=0.6, model=MODEL, map_models=MAP_MODELS,
               steps=STEPS, seed=SEED, device=DEVICE, progress=False)
my_map = ops.feather(generate(rocket, source="gradient", direction="top-bottom", lo=1.0, hi=0.0), 4)
own = edit(rocket, "make the sky stormy", change_map=my_map, model=MODEL, steps=STEPS, seed=SEED, device=DEVICE,
           progress=False)
contact_sheet([gentler.change_map, gentler.image, my_map, own.image],
              ["region='clouds', 0.6", "edited", "my gradient map", "edited"], columns=4)'''),
])

GENERATORS = notebook([
    md("# 02 · Map generators and operations\n\nEvery way automaps makes a change map, and the pure operations "
       "that reshape maps. All maps are previews here: white = change fully."),
    code(config("clipseg", "detector", "segmenter", "depth")),
    code(PHOTO + '''

from automaps import generate, list_generators, ops
from pipelines.sheet import contact_sheet

rocket = photo("rocket")
for spec in list_generators():
    print(f"{spec.name:10} {spec.default_model or '(no model)':45} {spec.summary}")'''),
    md("## Synthetic maps (no model)\n\nFor tests, notebooks and the Strength Fan: exact functions of the image size."),
    code('''synthetic = {
    "constant(0.5)": generate(rocket, source="constant", value=0.5),
    "gradient": generate(rocket, source="gradient", direction="left-right"),
    "radial": generate(rocket, source="radial", radius=0.6),
    "fan(8)": generate(rocket, source="fan", n=8),
}
contact_sheet(list(synthetic.values()), list(synthetic), columns=4)'''),
    md("## Maps from models\n\nText-prompted segmentation (CLIPSeg for stuff like sky; Grounding DINO + SAM for "
       "countable things), depth (far changes most) and spectral-residual saliency (OpenCV, no weights)."),
    code('''model_maps = {
    "clipseg('sky')": generate(rocket, "sky", source="clipseg", model=CLIPSEG),
    "grounded('rocket')": generate(rocket, "rocket", source="grounded", detector=DETECTOR, segmenter=SEGMENTER),
    "depth (far)": generate(rocket, source="depth", model=DEPTH, polarity="far"),
    "saliency": generate(rocket, source="saliency"),
}
contact_sheet([m.overlay(rocket) for m in model_maps.values()], list(model_maps), columns=4)'''),
    md("## Operations\n\nEach one is a pure function `ChangeMap -> ChangeMap` that appends a step to the provenance."),
    code('''sky = model_maps["clipseg('sky')"]
gradient = synthetic["gradient"]
operations = {
    "sky": sky,
    "grow(8)": ops.grow(sky, 8),
    "shrink(8)": ops.shrink(sky, 8),
    "feather(6)": ops.feather(sky, 6),
    "gamma(0.5)": ops.gamma(sky, 0.5),
    "levels(0.2, 0.8)": ops.levels(sky, 0.2, 0.8),
    "threshold(0.5)": ops.threshold(sky, 0.5),
    "quantize(4)": ops.quantize(sky, 4),
    "invert": ops.invert(sky),
    "union(sky, gradient)": ops.union(sky, gradient),
    "intersect(sky, gradient)": ops.intersect(sky, gradient),
    "subtract(sky, gradient)": ops.subtract(sky, gradient),
}
for name, m in operations.items():
    print(f"{name:26} {m.provenance}")
contact_sheet(list(operations.values()), list(operations), columns=4)'''),
])

FAN = notebook([
    md("# 03 · Strength Fan\n\nWhich strength does an edit need? (a) **One** edit with a fan-shaped map whose "
       "sectors go from 0 to 1 clockwise from 12 o'clock shows every strength side by side; (b) a grid of plain "
       "edits at uniform strengths `0, 1/7, ..., 1` (batched) shows the same as separate pictures. One seed for all."),
    code(config("model")),
    code(PHOTO + '''

from diffdiff import DifferentialEditor
from pipelines import strength_fan

editor = DifferentialEditor.from_pretrained(MODEL, device=DEVICE, scheduler="euler")
editor.pipe.set_progress_bar_config(disable=True)
cat = photo("chelsea")
cat'''),
    code('''fan = strength_fan(editor, cat, "a tiger, detailed fur", n=8, steps=STEPS, seed=SEED)
print("strengths:", [round(s, 2) for s in fan.strengths])
fan.change_map.side_by_side(cat)'''),
    md("## The fan edit: every strength in one picture"),
    code("fan.image"),
    md("## The contact sheet: input, fan map, fan edit, then the grid with the strength under each tile"),
    code("fan.sheet"),
    md("## Use what you saw\n\nPick the strength that looked right (here the sixth of eight) and use it: as a "
       "uniform map it is plain img2img at that strength; as the maximum of a soft map it limits a local edit."),
    code('''import numpy as np

from automaps import generate, ops
from pipelines import edit
from pipelines.sheet import contact_sheet

chosen = fan.strengths[5]
uniform = edit(cat, "a tiger, detailed fur", model=editor, change_map=np.full((cat.height, cat.width), chosen,
               np.float32), steps=STEPS, seed=SEED, progress=False)
local_map = ops.levels(generate(cat, source="radial", center=(0.5, 0.45), radius=0.45), 0.0, chosen)
local = edit(cat, "a tiger, detailed fur", model=editor, change_map=local_map, steps=STEPS, seed=SEED,
             progress=False)
contact_sheet([cat, uniform.image, local_map, local.image],
              ["input", f"uniform {chosen:.2f}", f"radial, max {chosen:.2f}", "edited"], columns=4)'''),
])

INPAINT = notebook([
    md("# 04 · Soft inpainting vs α / Poisson / Laplacian blending\n\nFill a hole and let its surroundings adapt "
       "a little, fading to untouched, in **one** Differential Diffusion pass: the change map is 1 in the hole, "
       "falls smoothly to 0 over a band (a distance transform) and is 0 beyond. The classic alternative fills "
       "the hole with a hard mask and pastes the fill back by α-compositing, Poisson blending (OpenCV "
       "`seamlessClone`) or Laplacian-pyramid blending."),
    code(config("model")),
    code(PHOTO + '''

import numpy as np

from diffdiff import DifferentialEditor
from pipelines.sheet import contact_sheet

editor = DifferentialEditor.from_pretrained(MODEL, device=DEVICE, scheduler="euler")
editor.pipe.set_progress_bar_config(disable=True)
coffee = photo("coffee")
height, width = coffee.height, coffee.width
y, x = np.mgrid[0:height, 0:width]
hole = (x - 0.62 * width) ** 2 + (y - 0.45 * height) ** 2 <= (0.18 * height) ** 2   # a disk on the cup
contact_sheet([coffee, (hole * 1.0).astype(np.float32)], ["input", "hole (white = fill)"])'''),
    md("## The soft map and its falloffs\n\n`linear` is `1 - t`, `cosine` is `(1 + cos(pi t)) / 2` (no kink at "
       "either end), `gaussian` is a Gaussian shifted and scaled to reach 0 at the band's edge."),
    code('''from pipelines.inpaint import FALLOFFS, soft_inpaint_map

BAND = max(2, SIZE // 10)
maps = [soft_inpaint_map(hole, BAND, falloff) for falloff in FALLOFFS]
contact_sheet(maps, [f"{f}, band {BAND} px" for f in FALLOFFS])'''),
    md("## Soft inpainting and the three baselines"),
    code('''from pipelines import soft_inpaint

result = soft_inpaint(editor, coffee, hole, "a red rose in a coffee cup", band=BAND, falloff="cosine",
                      steps=STEPS, seed=SEED)
result.sheet'''),
    md("## The seams, enlarged\n\nThe hole's left edge, three times larger: where do the new content and the "
       "original meet?"),
    code('''box = (max(0, round(0.62 * width - 0.35 * height)), round(0.25 * height), round(0.62 * width),
       round(0.65 * height))
crops = [result.image, *result.baselines.values()]
contact_sheet([c.crop(box) for c in crops], ["soft inpainting", *result.baselines],
              tile_size=(3 * (box[2] - box[0]), 3 * (box[3] - box[1])))'''),
])

CHAINING = notebook([
    md("# 05 · Chaining edits into a larger pipeline\n\nEach edit returns an `EditResult` (image, map, plan, seed); "
       "`then()` continues from its image with the same model. Maps compose with the operations, and the "
       "metrics measure how closely each step followed its map."),
    code(config("model", "clipseg", "detector", "segmenter", "depth")),
    code(PHOTO + '''

from pipelines import edit, metrics
from pipelines.sheet import contact_sheet

rocket = photo("rocket")
first = edit(rocket, "make the sky stormy", model=MODEL, map_models=MAP_MODELS, steps=STEPS, seed=SEED,
             device=DEVICE, progress=False)
second = first.then("add fireworks in the sky")
third = second.then("make it winter", strength=0.3)
steps = [first, second, third]
contact_sheet([rocket] + [r.image for r in steps] + [None] + [r.change_map for r in steps],
              ["input"] + [r.plan.prompt[:28] for r in steps] + [""] + [r.plan.kind for r in steps], columns=4)'''),
    md("## Compose a map, then edit with it\n\nThe sky, plus a gentle ramp towards the ground, minus the salient "
       "subject: a map no single generator makes."),
    code('''from automaps import generate, ops

sky = generate(rocket, "sky", source="clipseg", model=CLIPSEG)
ramp = generate(rocket, source="gradient", direction="bottom-top", lo=0.0, hi=0.4)
subject = ops.threshold(generate(rocket, source="saliency"), 0.6)
composed = ops.feather(ops.subtract(ops.union(sky, ramp), subject), 3)
print(composed.provenance)
custom = edit(third.image, "a dramatic sunset", change_map=composed, model=MODEL, steps=STEPS, seed=SEED,
              device=DEVICE, progress=False)
contact_sheet([sky, ramp, subject, composed, custom.image],
              ["sky", "ramp", "subject", "composed", "edited"], columns=5)'''),
    md("## Two regions, two prompts, one pass\n\nA compound instruction plans one part per region "
       "(`plan.parts`), each with its own prompt and strength; `edit()` builds one map per part and runs them "
       "together with `DifferentialEditor.edit_regions`. The result's map is their union."),
    code('''from pipelines.maps import map_from_plan

two = edit(rocket, "make the sky purple and the trees dark green", model=MODEL, map_models=MAP_MODELS,
           steps=STEPS, seed=SEED, device=DEVICE, progress=False)
part_maps = [map_from_plan(rocket, part, MAP_MODELS) for part in two.plan.parts]
print([(part.regions, part.prompt, part.strength) for part in two.plan.parts])
contact_sheet([rocket, *part_maps, two.change_map, two.image],
              ["input", *[part.prompt for part in two.plan.parts], "union", "edited"], columns=5)'''),
    md("## Measure each step\n\nThe edit-strength map (EM: per-pixel change; LPIPS when installed, else CIE76 "
       "ΔE) next to the map each step asked for, and CAM (correlation of map and EM, higher is better)."),
    code('''import numpy as np

from automaps import ChangeMap

sources = [rocket, first.image, second.image, third.image]
runs = [(first, sources[0]), (second, sources[1]), (third, sources[2]), (custom, sources[3])]
tiles, labels = [], []
for result, source in runs:
    em = metrics.edit_strength_map(source, result.image)
    shown = ChangeMap(em / max(float(em.max()), 1e-6), provenance="EM")
    score = metrics.cam(result.change_map, em)
    tiles += [result.change_map, shown]
    labels += ["asked", f"EM, CAM {score:.2f}" if np.isfinite(score) else "EM (uniform map)"]
contact_sheet(tiles, labels, columns=4)'''),
    md("## Save every step\n\n`save()` writes the image, the map, an overlay and `edit.json` (enough to reproduce)."),
    code('''import tempfile
from pathlib import Path

folder = Path(tempfile.mkdtemp(prefix="automaps-chain-"))
for i, result in enumerate([first, second, third, custom], 1):
    paths = result.save(folder / f"step{i}")
    print(i, sorted(p.name for p in paths.values()))'''),
])

INSTRUCTION_MODELS = notebook([
    md("# 06 · Instruction-editing models under a change map\n\nFLUX.1 Kontext understands the instruction "
       "itself: it gets the original as its context image and the instruction verbatim as its prompt, and the "
       "change map confines where it may repaint. The real model is gated (FLUX.1 [dev] non-commercial license; "
       "accept it on the hub first) and needs about 24 GB of accelerator memory in bfloat16."),
    code(config("clipseg", "detector", "segmenter", "depth") + "\n" + INSTRUCTION_MODEL_LINE + '''
DTYPE = None if DEVICE == "cpu" else "bfloat16"  # Kontext's 12B transformer: bfloat16 on an accelerator'''),
    code(PHOTO + '''

from pipelines import edit
from pipelines.sheet import contact_sheet

rocket = photo("rocket")
planned = edit(rocket, "make the sky stormy", model=KONTEXT, map_models=MAP_MODELS, steps=STEPS, seed=SEED,
               device=DEVICE, torch_dtype=DTYPE, progress=False)
print("prompt handed to the model:", repr(planned.plan.prompt))
print("map:", planned.change_map.provenance)
contact_sheet([rocket, planned.change_map, planned.image], ["input", "planner map", "Kontext, planner map"],
              columns=3)'''),
    md('## The map from the model itself\n\n`map_source="diffedit"` asks the instruction model where the edit '
       "lands: `|eps(instruction) - eps(empty instruction)|`, averaged over noise draws. No segmentation model "
       "runs. Compare it with the planner's map."),
    code('''import numpy as np

own = edit(rocket, "make the sky stormy", model=KONTEXT, map_source="diffedit", steps=STEPS, seed=SEED,
           device=DEVICE, torch_dtype=DTYPE, progress=False)
print("map:", own.change_map.provenance)
a, b = planned.change_map.values.ravel(), own.change_map.values.ravel()
print(f"correlation of the two maps: {np.corrcoef(a, b)[0, 1]:.2f}; mean |difference| {np.abs(a - b).mean():.2f}")
contact_sheet([planned.change_map, own.change_map, planned.image, own.image],
              ["planner map", "DiffEdit map (Kontext)", "edit, planner map", "edit, DiffEdit map"], columns=4)'''),
    md("## One model, several instructions\n\nThe DiffEdit map follows the instruction: each one moves the "
       "model's prediction somewhere else. (The editor is cached: `load_editor` returns the one loaded above.)"),
    code('''from automaps import generate
from pipelines.models import load_editor

editor, _ = load_editor(KONTEXT, device=DEVICE, torch_dtype=DTYPE)
instructions = ["make the sky stormy", "add fireworks in the sky", "paint the rocket red"]
maps = [generate(rocket, text, source="diffedit", editor=editor, n_draws=2) for text in instructions]
contact_sheet([rocket, *maps], ["input", *instructions], columns=4)'''),
])

NOTEBOOKS = {
    "01_quick_start.ipynb": QUICK_START,
    "02_generators_and_ops.ipynb": GENERATORS,
    "03_strength_fan.ipynb": FAN,
    "04_soft_inpainting.ipynb": INPAINT,
    "05_chaining.ipynb": CHAINING,
    "06_instruction_models.ipynb": INSTRUCTION_MODELS,
}


def main() -> None:
    for name, nb in NOTEBOOKS.items():
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
