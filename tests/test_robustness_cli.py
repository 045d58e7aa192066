"""Bad input at the command lines, run as subprocesses: exit code, one ``error:`` line naming the parameter, no
traceback; and interrupted writes: a killed run leaves no partial file at the destination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def run(*args: str, module: str = "pipelines.cli") -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())", *args]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300, check=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("robust-cli")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / "photo.png")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    (folder / "notes.png").write_bytes(b"make the sky stormy\n")
    data = (folder / "photo.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    np.save(folder / "nan.npy", np.full((24, 32), np.nan, np.float32))
    (folder / "empty-model").mkdir()
    return folder


# (command line with {dir}/{sd} placeholders, exit code, text the single error line contains)
CLI_CASES = {
    "corrupt-image": (["edit", "{dir}/cut.png", "make it winter", "-o", "{dir}/o.png"], 2, "image: "),
    "not-an-image": (["edit", "{dir}/notes.png", "make it winter", "-o", "{dir}/o.png"], 2,
                     "notes.png is not an image file"),
    "one-pixel": (["edit", "{dir}/dot.png", "make it winter", "-o", "{dir}/o.png"], 2,
                  "image: 1x1 pixels is too small; the minimum is 16 pixels per side"),
    "empty-instruction": (["edit", "{dir}/photo.png", "", "-o", "{dir}/o.png"], 2, "instruction: is empty"),
    "nan-map": (["edit", "{dir}/photo.png", "make it winter", "-o", "{dir}/o.png", "--map", "{dir}/nan.npy",
                 "--model", "{sd}"], 2, "change_map contains NaN"),
    "missing-weights": (["edit", "{dir}/photo.png", "make it winter", "-o", "{dir}/o.png", "--model",
                         "automaps-test/not-cached"], 3, "hf download automaps-test/not-cached"),
    "not-a-pipeline": (["edit", "{dir}/photo.png", "make it winter", "-o", "{dir}/o.png", "--model",
                        "{dir}/empty-model"], 2, "model: "),
    "no-cuda": (["edit", "{dir}/photo.png", "make it winter", "-o", "{dir}/o.png", "--device", "cuda"], 2,
                "device: 'cuda' is not available"),
    "unwritable": (["edit", "{dir}/photo.png", "make it winter", "-o", "/sys/automaps-test.png"], 2,
                   "output: cannot write to folder '/sys'"),
    "output-is-input": (["map", "{dir}/photo.png", "sky", "-o", "{dir}/photo.png", "--source", "constant"], 2,
                        "output: refusing to overwrite an input file: "),
    "diffdiff-corrupt-image": (["{dir}/cut.png", "a cat", "--map", "{dir}/photo.png", "-o", "{dir}/o.png"], 2,
                               "image: "),
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_errors_are_one_line_with_exit_codes(name, files, tiny_folders):
    args, code, needle = CLI_CASES[name]
    if name == "no-cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    if name == "unwritable" and not _sys_is_read_only():
        pytest.skip("/sys is missing or writable here")
    sd = str(tiny_folders["sd"]) if name == "nan-map" else ""
    filled = [a.format(dir=files, sd=sd) for a in args]
    before = (files / "photo.png").read_bytes()
    result = run(*filled, module="diffdiff.__main__" if name.startswith("diffdiff") else "pipelines.cli")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert not (files / "o.png").exists()
    assert (files / "photo.png").read_bytes() == before, "inputs are never modified"


def _sys_is_read_only() -> bool:
    if not Path("/sys").is_dir():
        return False
    try:
        with open("/sys/automaps-probe", "wb"):
            pass
    except OSError:
        return True
    os.unlink("/sys/automaps-probe")
    return False


# ------------------------------------------------------------------------------------------- interruption
WRITER = textwrap.dedent("""
    import signal, sys, time
    from automaps.io import atomic_write

    # Ctrl-C as a terminal delivers it: a child inherits an ignored or blocked SIGINT from its parent (a test
    # worker that started servers or clusters before), and Python then never raises KeyboardInterrupt.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)

    with atomic_write(sys.argv[1], name="output") as handle:
        handle.write(b"N" * 65536)   # half of the new content
        handle.flush()
        print("halfway", flush=True)
        time.sleep(120)              # killed here
        handle.write(b"N" * 65536)
""")


def _kill_halfway(destination: Path, sig: int) -> subprocess.Popen:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(destination)], stdout=subprocess.PIPE, text=True,
                              env=ENV)
    assert writer.stdout.readline().strip() == "halfway"
    writer.send_signal(sig)
    writer.wait(timeout=60)
    return writer


@pytest.mark.parametrize("existing", [True, False], ids=["replacing-a-file", "new-file"])
def test_killed_write_leaves_no_partial_file(tmp_path, existing):
    destination = tmp_path / "edited.png"
    if existing:
        destination.write_bytes(b"old complete content")
    _kill_halfway(destination, signal.SIGKILL)
    if existing:
        assert destination.read_bytes() == b"old complete content"
    else:
        assert not destination.exists()
    # SIGKILL cannot be caught: the hidden temporary file stays until the next write to the same path.
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".edited.png.")]
    assert len(leftovers) == 1 and leftovers[0].stat().st_size == 65536

    from automaps.io import STALE_SECONDS, atomic_write

    os.utime(leftovers[0], (time.time() - STALE_SECONDS - 1,) * 2)
    with atomic_write(destination) as handle:
        handle.write(b"new complete content")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.png"], "the dead run's leftover is removed"
    assert destination.read_bytes() == b"new complete content"


def test_interrupted_write_cleans_up_after_itself(tmp_path):
    destination = tmp_path / "edited.png"
    writer = _kill_halfway(destination, signal.SIGINT)  # Ctrl-C: KeyboardInterrupt unwinds atomic_write
    assert writer.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_recent_or_live_temporaries_are_left_alone(tmp_path):
    from automaps.io import atomic_write

    live = tmp_path / f".out.png.{os.getppid()}-0123abcd.tmp"  # old, but its process (our parent) runs
    fresh = tmp_path / ".out.png.999999999-0123abcd.tmp"  # no such process, but young: maybe another host's
    live.write_bytes(b"in progress")
    fresh.write_bytes(b"in progress")
    os.utime(live, (time.time() - 10_000,) * 2)
    with atomic_write(tmp_path / "out.png") as handle:
        handle.write(b"done")
    assert live.exists() and fresh.exists()
