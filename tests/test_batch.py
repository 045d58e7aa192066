"""``automaps batch``: per-item failures, resumability after SIGKILL, byte-equality with ``automaps edit``, Ray.

One manifest of 8 items on the tiny SD (32 px, 2 steps): six good ones (planner maps through the tiny CLIPSeg,
explicit maps, a region, per-item strength / seed / steps / prompts), one image that is not an image and one map
that is not a map.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.batch_manifest import ManifestError, derived_seed, in_shard, read_manifest
from pipelines.batch_store import BatchStore
from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[1]
STEPS = "2"

ITEMS = [
    {"image": "img0.png", "instruction": "make the sky stormy"},
    {"image": "img1.png", "instruction": "a red car", "change_map": "map.png", "seed": 5},
    {"id": "img2-strong", "image": "img2.png", "instruction": "make the sky stormy", "strength": 0.9},
    {"image": "img3.png", "instruction": "a cat", "change_map": "map.png", "steps": 3},
    {"image": "img4.png", "instruction": "make it snowy", "region": "ground"},
    {"image": "img5.png", "instruction": "a dog", "change_map": "map.png", "prompt": "a dog",
     "negative_prompt": "blurry"},
    {"image": "bad.png", "instruction": "a cat", "change_map": "map.png"},
    {"id": "badmap", "image": "img0.png", "instruction": "a cat", "change_map": "badmap.png"},
]
GOOD = ["img0", "img1", "img2-strong", "img3", "img4", "img5"]


@pytest.fixture(scope="module")
def job(tmp_path_factory, tiny_folders, map_models):
    """``(manifest, flags)``: the 8-item manifest and the model flags every run here shares."""
    root = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(0)
    for k in range(6):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"img{k}.png")
    square = np.zeros((32, 32), np.uint8)
    square[8:24, 8:24] = 255
    Image.fromarray(square).save(root / "map.png")
    (root / "bad.png").write_text("not an image")
    (root / "badmap.png").write_text("not a map")
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    flags = ["--model", str(tiny_folders["sd"]), "--steps", STEPS, "--map-model", f"clipseg={map_models['clipseg']}"]
    return manifest, flags


@pytest.fixture(scope="module")
def local_run(job, tmp_path_factory):
    """The output folder of one local run of the whole manifest, and its exit code."""
    manifest, flags = job
    out = tmp_path_factory.mktemp("local") / "out"
    return out, main(["batch", str(manifest), "-o", str(out), *flags, "--quiet"])


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def _edit_command(item: dict, folder: Path, output: Path, flags: list[str]) -> list[str]:
    """The ``automaps edit`` command line of one manifest item (seed: its own or the id's)."""
    item_id = item.get("id", Path(item["image"]).stem)
    command = ["edit", str(folder / item["image"]), item["instruction"], "-o", str(output), *flags, "--quiet",
               "--seed", str(item.get("seed", derived_seed(item_id)))]
    for key, flag in (("change_map", "--map"), ("region", "--region"), ("strength", "--strength"),
                      ("prompt", "--prompt"), ("negative_prompt", "--negative-prompt")):
        if key in item:
            command += [flag, str(folder / item[key]) if key == "change_map" else str(item[key])]
    if "steps" in item:
        command[command.index("--steps") + 1] = str(item["steps"])
    return command


def test_failures_are_recorded_and_outputs_equal_single_edits(job, local_run, tmp_path):
    manifest, flags = job
    out, code = local_run
    assert code == 4
    records = {record["id"]: record for record in _lines(out)}
    assert len(_lines(out)) == len(ITEMS) and set(records) == {*GOOD, "bad", "badmap"}
    assert records["bad"]["status"] == "error" and records["bad"]["error"].startswith("image: ")
    assert records["badmap"]["status"] == "error" and records["badmap"]["error"].startswith("change_map: ")
    assert not (out / "bad").exists() and not (out / "badmap").exists()
    for item in ITEMS[:6]:
        item_id = item.get("id", Path(item["image"]).stem)
        record = records[item_id]
        assert record["status"] == "ok" and record["error"] is None and record["seconds"] > 0
        assert Path(record["output"]) == out.absolute() / item_id
        assert sorted(p.name for p in (out / item_id).iterdir()) == [
            "change_map.png", "edit.json", "image.png", "overlay.png"]
        saved = json.loads((out / item_id / "edit.json").read_text())
        assert saved["seed"] == item.get("seed", derived_seed(item_id))
        reference = tmp_path / f"{item_id}.png"
        assert main(_edit_command(item, manifest.parent, reference, flags)) == 0
        assert reference.read_bytes() == (out / item_id / "image.png").read_bytes(), item_id
    assert json.loads((out / "img3" / "edit.json").read_text())["settings"]["steps"] == 3


def test_rerun_skips_done_items_and_retry_failed_reruns_failures(job, local_run, tmp_path, capsys):
    manifest, flags = job
    out = tmp_path / "out"
    done = local_run[0]
    shutil.copytree(done, out)  # a finished run to resume, with its records
    before = (out / "results.jsonl").read_text()
    capsys.readouterr()
    assert main(["batch", str(manifest), "-o", str(out), *flags]) == 4  # failures stay failures
    assert (out / "results.jsonl").read_text() == before
    assert "0 ok, 0 failed, 8 skipped (2 failed before" in capsys.readouterr().err
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    for item in ITEMS:
        name = item["image"]
        source = manifest.parent / ("img1.png" if name == "bad.png" else name)
        (fixed / name).write_bytes(source.read_bytes())
    for name in ("map.png", "badmap.png"):
        (fixed / name).write_bytes((manifest.parent / name).read_bytes())
    (fixed / "manifest.jsonl").write_text(manifest.read_text())
    assert main(["batch", str(fixed / "manifest.jsonl"), "-o", str(out), *flags, "--quiet", "--retry-failed"]) == 4
    tail = _lines(out)[len(ITEMS):]
    assert [(r["id"], r["status"]) for r in tail] == [("bad", "ok"), ("badmap", "error")]
    assert [p.name for p in (out / ".failed").iterdir()] == ["badmap"]


def test_sigkill_mid_run_then_rerun_completes_each_item_once(job, tmp_path):
    manifest, flags = job
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pipelines.cli", "batch", str(manifest), "-o", str(out), *flags, "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "results.jsonl").exists() and '"ok"' in (out / "results.jsonl").read_text():
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    killed = [r["id"] for r in _lines(out)]
    assert 1 <= len(killed) < len(ITEMS)  # killed mid-way: some items done, some not
    assert main(["batch", str(manifest), "-o", str(out), *flags, "--quiet"]) == 4
    records = _lines(out)
    for item_id in GOOD:
        assert [r["status"] for r in records if r["id"] == item_id] == ["ok"], item_id
        assert (out / item_id / "edit.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([*GOOD, ".claims", ".failed", ".partial", "results.jsonl"])
    assert list((out / ".partial").iterdir()) == [] and list((out / ".claims").iterdir()) == []
    assert sorted(p.name for p in (out / ".failed").iterdir()) == ["bad", "badmap"]


def test_ray_engine_with_two_workers_gives_the_local_bytes(job, local_run, tmp_path):
    pytest.importorskip("ray.data")
    manifest, flags = job
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", str(out), *flags, "--quiet", "--engine", "ray", "--workers", "2"]) == 4
    local = {r["id"]: r for r in _lines(local_run[0])}
    remote = {r["id"]: r for r in _lines(out)}
    assert {k: (r["status"], r["error"]) for k, r in remote.items()} == {
        k: (r["status"], r["error"]) for k, r in local.items()}
    for item_id in GOOD:
        for name in ("image.png", "change_map.png", "overlay.png"):
            assert (out / item_id / name).read_bytes() == (local_run[0] / item_id / name).read_bytes(), item_id


def test_folder_manifest_with_instruction(job, tmp_path):
    manifest, flags = job
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((manifest.parent / "img0.png").read_bytes())
    (folder / "notes.txt").write_text("not an image: not an item")
    out = tmp_path / "out"
    command = ["batch", str(folder), "-o", str(out), *flags, "--quiet", "--instruction", "make the sky stormy"]
    with BatchStore(out).claim("b") as held:  # another live run is editing b: this one leaves it alone
        assert held and main(command) == 0
    assert [r["id"] for r in _lines(out)] == ["a"] and not (out / "b").exists()
    assert main(command) == 0
    assert [(r["id"], r["status"]) for r in _lines(out)] == [("a", "ok"), ("b", "ok")]
    # same image, same instruction, seeds derived from different ids: different edits
    assert (out / "a" / "image.png").read_bytes() != (out / "b" / "image.png").read_bytes()


BAD_MANIFESTS = [
    ("m.jsonl", '{"image": "a.png", "instruction": "x"}\n{"image": "b.png", "instruction": \n', "line 2: not JSON"),
    ("m.jsonl", '{"image": "a.png", "instruction": "x"}\n\n{"image": "b.png"}\n',
     "line 3: missing column 'instruction'"),
    ("m.jsonl", '{"image": "a.png", "instruction": "x"}\n{"image": "a.png", "instruction": "y"}\n',
     "line 2: duplicate id 'a' (first on line 1)"),
    ("m.jsonl", '{"image": "a.png", "instruction": "x", "strenght": 0.5}\n', "line 1: unknown column(s) ['strenght']"),
    ("m.jsonl", '{"image": "a.png", "instruction": "x", "strength": 2}\n', "line 1: strength: expected a value in"),
    ("m.jsonl", '{"image": "a.png", "instruction": "x", "id": "../up"}\n', "line 1: id: '../up' cannot name a folder"),
    ("m.jsonl", '[1, 2]\n', "line 1: expected a JSON object"),
    ("m.csv", "image,instruction,seed\na.png,x,1\nb.png,y,one\n", "line 3: seed: expected an integer"),
    ("m.csv", "image,instruction\na.png,x,extra\n", "line 2: more cells than header columns"),
    ("m.csv", "image,instruction,change_map,region\na.png,x,m.png,sky\n", "line 2: change_map and region"),
    ("m.txt", "a.png\n", "expected a .jsonl or .csv file"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_MANIFESTS)
def test_bad_manifest_exits_2_naming_the_line_before_any_model(name, text, message, tmp_path, capsys):
    manifest = tmp_path / name
    manifest.write_text(text)
    out = tmp_path / "out"
    code = main(["batch", str(manifest), "-o", str(out), "--model", str(tmp_path / "no-such-model"), "--quiet"])
    error = capsys.readouterr().err
    assert code == 2 and message in error and error.startswith("error: manifest: ")
    assert not out.exists()  # refused before the output folder or any model


def test_folder_without_instruction_and_bad_flags_exit_2(tmp_path, capsys):
    assert main(["batch", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "--instruction: required" in capsys.readouterr().err
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"image": "a.png", "instruction": "x"}\n')
    for flags, message in ((["--shard", "2/2"], "--shard: expected I/N"), (["--workers", "2"], "--workers"),
                           (["--steps", "0"], "--steps")):
        assert main(["batch", str(manifest), "-o", str(tmp_path / "out"), *flags]) == 2
        assert message in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_made_exits_2(job, tmp_path, capsys):
    manifest, flags = job
    (tmp_path / "file").write_text("a file, not a folder")
    assert main(["batch", str(manifest), "-o", str(tmp_path / "file"), *flags, "--quiet"]) == 2
    assert "--output: " in capsys.readouterr().err
    assert main(["batch", str(manifest), "-o", str(tmp_path / "no" / "out"), *flags, "--quiet"]) == 2
    assert "--output: folder does not exist" in capsys.readouterr().err


def test_missing_model_stops_the_run_once_without_records(job, tmp_path, capsys):
    manifest, _ = job
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", str(out), "--model", "nobody/no-such-model", "--quiet"]) == 3
    assert "nobody/no-such-model" in capsys.readouterr().err
    assert main(["batch", str(manifest), "-o", str(out), "--model", str(tmp_path / "none"), "--quiet"]) == 2
    assert "model: no such folder" in capsys.readouterr().err
    assert not (out / "results.jsonl").exists()


def test_csv_manifest_resolves_paths_against_its_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    manifest = tmp_path / "sub" / "m.csv"
    manifest.write_text("id,image,instruction,strength,seed,steps,change_map\n"
                        "one,pics/a.png,make it red,0.5,7,3,\n"
                        ",b.png,make it blue,,,,maps/b.png\n")
    first, second = read_manifest(manifest)
    assert (first.id, first.image, first.strength, first.seed, first.steps, first.change_map, first.line) == (
        "one", str(tmp_path / "sub" / "pics" / "a.png"), 0.5, 7, 3, None, 2)
    assert (second.id, second.change_map, second.seed, second.line) == ("b", str(tmp_path / "sub/maps/b.png"), None, 3)
    manifest.write_text("image\na.png\n")
    with pytest.raises(ManifestError, match="line 2: missing column 'instruction'"):
        read_manifest(manifest)
    assert read_manifest(manifest, instruction="default")[0].instruction == "default"


def test_shards_partition_the_items_stably():
    ids = [f"item-{k}" for k in range(200)]
    shards = [{i for i in ids if in_shard(i, (k, 3))} for k in range(3)]
    assert set().union(*shards) == set(ids) and sum(map(len, shards)) == len(ids)
    assert all(40 < len(shard) < 95 for shard in shards)  # a hash spreads them
    assert derived_seed("item-1") == derived_seed("item-1") != derived_seed("item-2")


def test_a_claim_is_exclusive_and_released(tmp_path):
    store = BatchStore(tmp_path / "out")
    with store.claim("a") as first, store.claim("a") as second, store.claim("b") as other:
        assert (first, second, other) == (True, False, True)
    with store.claim("a") as again:
        assert again
    assert list((tmp_path / "out" / ".claims").iterdir()) == []


def test_a_claim_dies_with_its_process(tmp_path):
    out = tmp_path / "out"
    BatchStore(out)
    code = ("import os, sys; from pipelines.batch_store import BatchStore\n"
            f"store = BatchStore({str(out)!r}); claim = store.claim('a'); claim.__enter__(); "
            "print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    with BatchStore(out).claim("a") as held:
        assert not held
    holder.kill()
    holder.wait()
    with BatchStore(out).claim("a") as held:  # the kernel dropped the dead process's lock
        assert held


def test_torchrun_environment_picks_shard_and_device():
    from pipelines.cli_batch import launcher_defaults

    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    assert launcher_defaults(None, None, env, cuda_available=True) == ((1, 2), "cuda:1")
    assert launcher_defaults((0, 4), "cpu", env, cuda_available=True) == ((0, 4), "cpu")
    assert launcher_defaults(None, None, env, cuda_available=False) == ((1, 2), None)
    assert launcher_defaults(None, None, {}, cuda_available=True) == (None, None)
