"""Time each map generator on a 512x512 image with FULL-SIZE random-weight models of the real architectures.

Usage:
    python benchmarks/generators.py [--size 512] [--repeats 3] [--only clipseg,sam] [--jobs 1] [--workdir DIR]

No weights are downloaded: :mod:`automaps.tiny` builds each default architecture (``full_size=True``) with random
weights, saves it, and the generator loads it back through its own loader, so the compute is the real one
(ViT-B/16 CLIPSeg at 352 px, Swin-T Grounding DINO at 800 px, ViT-B SAM at 1024 px, OWLv2 B/16 at 960 px,
DINOv2-S Depth Anything at 518 px). Random weights do change data-dependent work in one place: the detectors'
scores are noise, so the grounded rows fix the number of boxes (``box_threshold=0``, ``max_boxes=3``).

Each row: one warm-up call (loads the model, fills caches), then the median of ``--repeats`` timed
``automaps.generators.generate`` calls (pre-processing, model, post-processing, resize to the image). Torch runs
on 1 CPU thread (``OMP_NUM_THREADS=1``): with 2 threads this machine's timings varied 10x between runs.
``--jobs N`` runs rows in N separate 1-thread processes (on a machine with >= N idle cores the numbers match
sequential runs; on a busy machine they do not).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the hub: every model is a local folder

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

# (row name, generate() keyword arguments; "{x}" = folder of model x, phrase) in table order.
ROWS: dict[str, tuple[str | list[str] | None, dict[str, str | float | int | list]]] = {
    "clipseg": ("sky", {"source": "clipseg", "model": "{clipseg}"}),
    "clipseg x4 phrases": (["sky", "water", "grass", "road"], {"source": "clipseg", "model": "{clipseg}"}),
    "grounded (DINO+SAM, 3 boxes)": ("cat", {"source": "grounded", "detector": "{dino}", "segmenter": "{sam}",
                                              "box_threshold": 0.0, "max_boxes": 3}),
    "grounded (OWLv2+SAM, 3 boxes)": ("cat", {"source": "grounded", "detector": "{owlv2}", "segmenter": "{sam}",
                                               "box_threshold": 0.0, "max_boxes": 3}),
    "sam (1 point)": (None, {"source": "sam", "model": "{sam}", "points": [[256, 256]]}),
    "depth": (None, {"source": "depth", "model": "{depth}"}),
    "saliency": (None, {"source": "saliency"}),
}
BUILDERS = {
    "clipseg": "save_tiny_clipseg",
    "dino": "save_tiny_grounding_dino",
    "owlv2": "save_tiny_owlv2",
    "sam": "save_tiny_sam",
    "depth": "save_tiny_depth_anything",
}


def models_of(row: str) -> list[str]:
    """Keys of :data:`BUILDERS` a row needs."""
    _, kwargs = ROWS[row]
    return [k for k in BUILDERS if any(v == "{" + k + "}" for v in kwargs.values())]


def build(names: list[str], workdir: Path) -> dict[str, Path]:
    """Build (once; reused if present) the full-size random models ``names`` under ``workdir``."""
    from automaps import tiny

    folders = {}
    for name in names:
        folder = workdir / name
        if not (folder / "config.json").exists():
            t = time.perf_counter()
            getattr(tiny, BUILDERS[name])(folder, full_size=True)
            print(f"  built {name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        folders[name] = folder
    return folders


def shape_of(row: str, folders: dict[str, Path]) -> str:
    """A short description of the row's models: parameters (millions) and input size."""
    from safetensors import safe_open

    parts = []
    for name in models_of(row):
        n = 0
        for f in folders[name].glob("*.safetensors"):
            with safe_open(f, "pt") as st:
                n += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())  # noqa: SIM118 - not a dict
        proc: dict = {}
        for fname in ("preprocessor_config.json", "processor_config.json"):
            if (folders[name] / fname).exists():
                proc = json.loads((folders[name] / fname).read_text())
                proc = proc.get("image_processor", proc)
                break
        size = proc.get("size", {})
        side = size.get("height") or size.get("shortest_edge") or size.get("longest_edge") or "?"
        parts.append(f"{name} {n / 1e6:.0f}M @{side}px")
    return " + ".join(parts) or "no model"


def time_row(row: str, folders: dict[str, Path], size: int, repeats: int) -> list[float]:
    """Seconds of ``repeats`` timed calls of one row, after one warm-up call."""
    import numpy as np
    import torch
    from PIL import Image

    from automaps.generators import generate

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    # A smooth random image (a raw noise image is unlike a photo for the saliency and tiling code paths).
    coarse = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
    phrase, kwargs = ROWS[row]
    kwargs = {k: (str(folders[v[1:-1]]) if isinstance(v, str) and v.startswith("{") else v) for k, v in kwargs.items()}
    source = kwargs.pop("source")
    generate(image, phrase, source=source, **kwargs)  # warm-up: load + first-call allocations
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        m = generate(image, phrase, source=source, **kwargs)
        times.append(time.perf_counter() - t)
    assert m.shape == (size, size)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per row (median reported)")
    parser.add_argument("--only", default="", help="comma-separated row-name prefixes, e.g. 'clipseg,sam'")
    parser.add_argument("--jobs", type=int, default=1, help="rows run in this many 1-thread processes")
    parser.add_argument("--workdir", type=Path, default=None, help="where the random models are saved (reused)")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # internal: time one row, print JSON
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="automaps-bench-"))
    if args.row is not None:
        folders = build(models_of(args.row), workdir)
        print(json.dumps(time_row(args.row, folders, args.size, args.repeats)))
        return

    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    rows = [r for r in ROWS if not wanted or any(r.startswith(p) for p in wanted)]
    import torch

    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), image {args.size}x{args.size}, "
          f"median of {args.repeats} after 1 warm-up; random weights, full-size architectures", flush=True)
    folders = build(sorted({m for r in rows for m in models_of(r)}), workdir)
    results: dict[str, list[float]] = {}
    if args.jobs <= 1:
        for r in rows:
            results[r] = time_row(r, folders, args.size, args.repeats)
    else:
        cmd = [sys.executable, __file__, "--size", str(args.size), "--repeats", str(args.repeats),
               "--workdir", str(workdir)]
        pending = list(rows)
        running: dict[str, subprocess.Popen[str]] = {}
        while pending or running:
            while pending and len(running) < args.jobs:
                r = pending.pop(0)
                running[r] = subprocess.Popen([*cmd, "--row", r], stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            for r, proc in list(running.items()):
                if proc.poll() is not None:
                    out, _ = proc.communicate()
                    if proc.returncode != 0:
                        raise SystemExit(f"row {r!r} failed (exit {proc.returncode})")
                    results[r] = json.loads(out.strip().splitlines()[-1])
                    del running[r]

    print(f"| {'generator':<30} | {'model shape':<44} | {'s / call':>8} | {'min..max':>13} |")
    print(f"| {'-' * 30} | {'-' * 44} | {'-' * 8}:| {'-' * 13}:|")
    for r in rows:
        t = results[r]
        print(f"| {r:<30} | {shape_of(r, folders):<44} | {statistics.median(t):8.3f} | "
              f"{min(t):6.2f}..{max(t):5.2f} |")


if __name__ == "__main__":
    main()
