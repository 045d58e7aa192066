"""Paths, special files and signals: an input is never overwritten, an output is checked before any work, special
files and link loops are one-line errors, a full disk names option and path, long names fit, SIGTERM and a
closed pipe leave nothing behind and say nothing they should not.

Commands run in-process through ``main([...])`` (a missing model, ``automaps-test/not-cached``, would exit 3: an
exit 2 proves the path was refused before any model loaded); only signals and pipes need a subprocess.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automaps import io as amio
from automaps.imagefiles import MultiFrameWarning, open_image_file, save_image

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
MISSING = "automaps-test/not-cached"  # any model load is exit 3


@pytest.fixture
def files(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(tmp_path / "map.png")
    return tmp_path


def automaps(argv: list, capsys) -> tuple[int, str]:
    from pipelines.cli import main

    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def diffdiff(argv: list, capsys) -> tuple[int, str]:
    from diffdiff.__main__ import main

    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


def test_doctests():
    import doctest

    import pipelines.outputs

    assert doctest.testmod(pipelines.outputs).failed == 0


# ------------------------------------------------------------------------------- inputs are never overwritten
class TestInputsNeverOverwritten:
    @pytest.mark.parametrize("spelling", ["same", "dotdot", "hardlink", "symlink", "overwrite-flag"])
    def test_edit_output_is_the_image(self, files, capsys, spelling):
        (files / "sub").mkdir()
        target = {"same": files / "photo.png", "dotdot": files / "sub" / ".." / "photo.png",
                  "hardlink": files / "hard.png", "symlink": files / "soft.png",
                  "overwrite-flag": files / "photo.png"}[spelling]
        if spelling == "hardlink":
            os.link(files / "photo.png", target)
        if spelling == "symlink":
            target.symlink_to(files / "photo.png")
        before = snapshot(files)
        extra = ["--overwrite"] if spelling == "overwrite-flag" else []
        code, err = automaps(["edit", files / "photo.png", "make it winter", "-o", target, "--model", MISSING,
                              *extra], capsys)
        assert code == 2
        assert one_error(err).startswith("error: output: refusing to overwrite an input file: ")
        assert "is also image" in err
        assert snapshot(files) == before

    def test_save_map_is_the_output(self, files, capsys):
        code, err = automaps(["edit", files / "photo.png", "make it winter", "-o", files / "out.png",
                              "--save-map", files / "out.png", "--model", MISSING], capsys)
        assert code == 2 and f"error: --save-map: {files / 'out.png'} is also output" in one_error(err)
        assert not (files / "out.png").exists()

    def test_preview_is_the_save_map_by_another_spelling(self, files, capsys):
        (files / "d").mkdir()
        code, err = automaps(["edit", files / "photo.png", "make it winter", "-o", files / "out.png",
                              "--save-map", files / "m.png", "--preview", files / "d" / ".." / "m.png",
                              "--model", MISSING], capsys)
        assert code == 2 and "--preview: " in one_error(err) and "is also --save-map" in err

    def test_output_is_the_map(self, files, capsys):
        code, err = automaps(["edit", files / "photo.png", "make it winter", "-o", files / "map.png",
                              "--map", files / "map.png", "--model", MISSING], capsys)
        assert code == 2 and "is also --map" in one_error(err)

    def test_map_command(self, files, capsys):
        os.link(files / "photo.png", files / "hard.png")
        code, err = automaps(["map", files / "photo.png", "-o", files / "hard.png", "--source", "constant"], capsys)
        assert code == 2 and "output: refusing to overwrite an input file" in one_error(err)
        code, err = automaps(["map", files / "photo.png", "-o", files / "m.png", "--preview", files / "m.png",
                              "--source", "constant"], capsys)
        assert code == 2 and "--preview: " in one_error(err) and "is also output" in err

    def test_tools(self, files, capsys):
        code, err = automaps(["fan", files / "photo.png", "a cat", "-o", files / "s.png", "--save-fan",
                              files / "s.png", "--model", MISSING], capsys)
        assert code == 2 and "--save-fan: " in one_error(err) and "is also output" in err
        code, err = automaps(["inpaint", files / "photo.png", files / "map.png", "a cat", "-o", files / "o.png",
                              "--compare", files / "map.png", "--model", MISSING], capsys)
        assert code == 2 and "--compare: refusing to overwrite an input file" in one_error(err)
        assert "is also mask" in err

    def test_evaluate_json_over_a_photo(self, files, capsys):
        before = snapshot(files)
        code, err = automaps(["evaluate", files, "--json", files / "photo.png", "--model", MISSING], capsys)
        assert code == 2 and "--json: refusing to overwrite an input file" in one_error(err)
        assert snapshot(files) == before

    def test_an_existing_output_that_is_no_input_is_replaced(self, files, capsys):
        (files / "m.png").write_bytes(b"an old map")
        code, err = automaps(["map", files / "photo.png", "-o", files / "m.png", "--source", "constant"], capsys)
        assert code == 0, err
        assert Image.open(files / "m.png").size == (32, 24)

    @pytest.mark.parametrize("how", ["hardlink-of-map", "symlink-to-image", "overwrite-flag"])
    def test_diffdiff(self, files, capsys, how):
        target = files / "out.png"
        if how == "hardlink-of-map":
            os.link(files / "map.png", target)
        elif how == "symlink-to-image":
            target.symlink_to("photo.png")
        else:
            target = files / "photo.png"
        before = snapshot(files)
        code, err = diffdiff([files / "photo.png", "a cat", "--map", files / "map.png", "-o", target, "--model",
                              MISSING, *(["--overwrite"] if how == "overwrite-flag" else [])], capsys)
        assert code == 2 and "output: refusing to overwrite an input file" in one_error(err)
        assert snapshot(files) == before

    def test_check_distinct_directly(self, tmp_path):
        (tmp_path / "a").write_bytes(b"x")
        amio.check_distinct({"image": tmp_path / "a", "--map": None}, {"output": tmp_path / "b", "--x": None})
        amio.check_distinct({"image": [tmp_path / "a", tmp_path / "a"]}, {})  # inputs may repeat
        with pytest.raises(ValueError, match=r"output: refusing to overwrite an input file: .* is also images"):
            amio.check_distinct({"images": [tmp_path / "b", tmp_path / "a"]}, {"output": tmp_path / "a"})
        with pytest.raises(ValueError, match=r"--two: .* is also --one"):  # not yet existing: by resolved path
            amio.check_distinct({}, {"--one": tmp_path / "new", "--two": tmp_path / "." / "new"})


# ------------------------------------------------------------------------------------------ special files
@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


@pytest.fixture
def loop(tmp_path) -> Path:
    (tmp_path / "loop-a.png").symlink_to(tmp_path / "loop-b.png")
    (tmp_path / "loop-b.png").symlink_to(tmp_path / "loop-a.png")
    return tmp_path / "loop-a.png"


class TestSpecialFiles:
    def test_opener_refuses_special_files(self, tmp_path, fifo, loop):
        with pytest.raises(ValueError, match=r"^image: .*pipe.png is a FIFO \(named pipe\), not an image file$"):
            open_image_file(fifo, "image")
        with pytest.raises(ValueError, match=r"^map: /dev/null is a device, not an image file$"):
            open_image_file("/dev/null", "map")
        with pytest.raises(ValueError, match=r"^image: .*loop-a.png is a symbolic link loop$"):
            open_image_file(loop, "image")
        with pytest.raises(ValueError, match="is a folder, not an image file"):
            open_image_file(tmp_path, "image")
        with pytest.raises(FileNotFoundError, match="image: no such file"):
            open_image_file(tmp_path / "dangling.png", "image")
        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(tmp_path / "s.png"))
            with pytest.raises(ValueError, match="is a socket, not an image file"):
                open_image_file(tmp_path / "s.png", "image")
        finally:
            server.close()

    def test_change_map_from_a_loop_is_no_traceback(self, loop):
        from automaps.changemap import ChangeMap

        with pytest.raises((FileNotFoundError, ValueError), match="change_map"):
            ChangeMap.from_file(loop, name="change_map")

    @pytest.mark.parametrize("where", ["image", "--map", "output", "--save-map", "--preview"])
    def test_edit_fifo_and_loop(self, files, fifo, loop, capsys, where):
        for special, words in ((fifo, "is a FIFO"), (loop, "is a symbolic link loop")):
            paths = {"image": files / "photo.png", "output": files / "o.png"}
            paths[where] = special
            flags = [f for option, p in paths.items() if option.startswith("--") for f in (option, p)]
            code, err = automaps(["edit", paths["image"], "make it winter", "-o", paths["output"], *flags,
                                  "--model", MISSING], capsys)
            assert code == 2, err
            line = one_error(err)
            assert line.startswith(f"error: {where}: ") and words in line, line

    def test_tools_and_diffdiff(self, files, fifo, loop, capsys):
        code, err = automaps(["inpaint", files / "photo.png", fifo, "a cat", "-o", files / "o.png", "--model",
                              MISSING], capsys)
        assert code == 2 and "mask: " in one_error(err) and "is a FIFO" in err
        code, err = automaps(["fan", loop, "a cat", "-o", files / "o.png", "--model", MISSING], capsys)
        assert code == 2 and "image: " in one_error(err) and "symbolic link loop" in err
        code, err = automaps(["evaluate", files, "--json", loop, "--model", MISSING], capsys)
        assert code == 2 and "--json: " in one_error(err) and "symbolic link loop" in err
        for args, needle in (([fifo, "a cat", "--map", files / "map.png", "-o", files / "o.png"], "image: "),
                             ([files / "photo.png", "a cat", "--map", loop, "-o", files / "o.png"], "map: "),
                             ([files / "photo.png", "a cat", "--map", files / "map.png", "-o", loop], "output: ")):
            code, err = diffdiff([*args, "--model", MISSING], capsys)
            assert code == 2 and needle in one_error(err), err
        assert not (files / "o.png").exists()

    def test_a_device_is_no_output(self, files, capsys):
        code, err = automaps(["map", files / "photo.png", "-o", "/dev/null", "--source", "constant"], capsys)
        assert code == 2 and "output: /dev/null is a device" in one_error(err)

    @pytest.mark.parametrize("kind", ["gif", "apng", "tiff"])
    def test_multi_frame_files_warn(self, tmp_path, kind):
        frames = [Image.new("RGB", (20, 20), (60 * k, 0, 0)) for k in range(3)]
        path = tmp_path / {"gif": "a.gif", "apng": "a.png", "tiff": "a.tif"}[kind]
        frames[0].save(path, save_all=True, append_images=frames[1:], **({"duration": 50} if kind != "tiff" else {}))
        with pytest.warns(MultiFrameWarning, match=r"^image: .* has 3 frames; only the first is used$"):
            image = open_image_file(path, "image")
        assert image.convert("RGB").getpixel((0, 0)) == (0, 0, 0)  # the first frame
        frames[0].save(tmp_path / "one.gif")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            open_image_file(tmp_path / "one.gif", "image")

    def test_multi_frame_warning_is_one_cli_line(self, tmp_path, capsys, monkeypatch):
        frames = [Image.new("RGB", (20, 20), (k, k, k)) for k in range(4)]
        frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])

        def show(message, category, filename, lineno, file=None, line=None):  # Python's default, past pytest's
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

        monkeypatch.setattr(warnings, "showwarning", show)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            code, err = automaps(["map", tmp_path / "a.gif", "-o", tmp_path / "m.png", "--source", "constant"],
                                 capsys)
        assert code == 0, err
        assert [line for line in err.splitlines() if line.startswith("warning:")] == [
            f"warning: image: {tmp_path / 'a.gif'} has 4 frames; only the first is used"]


# ------------------------------------------------------------------------------ outputs checked up front
class TestOutputsCheckedUpFront:
    @pytest.mark.parametrize("name", ["m.jpg", "m.JPEG", "m.webp"])
    def test_lossy_map_refused_before_work(self, files, capsys, name):
        code, err = automaps(["edit", files / "photo.png", "make it winter", "-o", files / "o.png", "--save-map",
                              files / name, "--model", MISSING], capsys)
        assert code == 2, err
        assert "--save-map: " in one_error(err) and "a change map must be lossless (.png or .npy)" in err

    @pytest.mark.parametrize(("command", "needle"), [
        (["edit", "{p}", "x", "-o", "{d}/o.png", "--save-map", "{d}/m.tif"], "--save-map: expected a .png or .npy"),
        (["edit", "{p}", "x", "-o", "{d}/o.png", "--preview", "{d}/v.xyz"], "--preview: unknown image extension"),
        (["edit", "{p}", "x", "-o", "{d}/o.png", "--save-map", "{d}/no/m.png"], "--save-map: folder does not exist"),
        (["edit", "{p}", "x", "-o", "{d}"], "output: {d} is a folder"),
        (["map", "{p}", "-o", "{d}/m.jpg", "--source", "constant"], "output: {d}/m.jpg: a change map must be"),
        (["inpaint", "{p}", "{d}/map.png", "x", "-o", "{d}/o.png", "--save-map", "{d}/m.jpg"], "--save-map: "),
        (["fan", "{p}", "x", "-o", "{d}/o.png", "--save-fan", "{d}/f.nope"], "--save-fan: unknown image extension"),
    ])
    def test_named_option_and_path(self, files, capsys, command, needle):
        code, err = automaps([a.format(p=files / "photo.png", d=files) for a in command] + ["--model", MISSING], capsys)
        assert code == 2 and needle.format(d=files) in one_error(err), err

    def test_npy_map_accepted(self, files, capsys):
        code, err = automaps(["edit", files / "photo.png", "make it winter", "-o", files / "o.png", "--save-map",
                              files / "m.npy", "--model", MISSING], capsys)
        assert code == 3, err  # the paths passed: it went on to look for the model
        code, err = automaps(["map", files / "photo.png", "-o", files / "m.npy", "--source", "constant"], capsys)
        assert code == 0, err
        assert np.load(files / "m.npy").shape == (24, 32)

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
    def test_unwritable_folder_named(self, files, capsys):
        (files / "ro").mkdir()
        (files / "ro").chmod(0o500)
        try:
            code, err = automaps(["edit", files / "photo.png", "x", "-o", files / "o.png", "--preview",
                                  files / "ro" / "v.png", "--model", MISSING], capsys)
        finally:
            (files / "ro").chmod(0o700)
        assert code == 2 and "--preview: cannot write to folder" in one_error(err)


# ------------------------------------------------------------------------------------------------ full disk
def _failing(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


class TestFullDisk:
    @pytest.mark.parametrize(("where", "code", "words"), [
        ("fsync", errno.ENOSPC, "no space left on device"),
        ("fsync", errno.EDQUOT, "disk quota exceeded"),
        ("replace", errno.EROFS, "read-only file system"),
    ])
    def test_named_and_cleaned_up(self, tmp_path, monkeypatch, where, code, words):
        destination = tmp_path / "out.png"
        destination.write_bytes(b"old")
        monkeypatch.setattr(amio.os, where, _failing(code))
        with pytest.raises(OSError) as caught, amio.atomic_write(destination, name="--preview") as handle:
            handle.write(b"new")
        assert str(caught.value) == f"--preview: cannot write {destination}: {words}"
        assert caught.value.errno == code
        monkeypatch.undo()
        assert destination.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["out.png"]

    def test_other_errors_pass_unchanged(self, tmp_path, monkeypatch):
        monkeypatch.setattr(amio.os, "fsync", _failing(errno.EIO))
        with pytest.raises(OSError, match=r"\[Errno 5\]"), amio.atomic_write(tmp_path / "o.png") as handle:
            handle.write(b"x")

    def test_full_at_creation(self, tmp_path, monkeypatch):
        real_open = os.open

        def full(path, *args, **kwargs):
            if os.path.basename(path).endswith(".tmp"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(amio.os, "open", full)
        with pytest.raises(OSError, match=r"^output: cannot write to folder .*: no space left on device$"):
            amio.check_writable(tmp_path / "o.png", name="output")

    def test_cli_line(self, files, capsys, monkeypatch):
        monkeypatch.setattr(amio.os, "fsync", _failing(errno.ENOSPC))
        code, err = automaps(["map", files / "photo.png", "-o", files / "m.npy", "--source", "constant"], capsys)
        assert code == 2
        assert one_error(err) == f"error: output: cannot write {files / 'm.npy'}: no space left on device"
        assert not [p for p in files.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------------ long names
class TestLongNames:
    @pytest.mark.parametrize("name", ["a" * 236 + ".png", "b" * 251 + ".png", "é" * 117 + ".png"])
    def test_legal_long_names_are_written(self, tmp_path, name):
        assert len(os.fsencode(name)) <= amio.NAME_MAX
        assert len(os.fsencode(amio._temporary_name(str(tmp_path / name)))) <= amio.NAME_MAX
        amio.check_writable(tmp_path / name, name="output")
        save_image(Image.new("RGB", (16, 16)), tmp_path / name)
        assert os.listdir(tmp_path) == [name]

    def test_stale_cleanup_for_long_names(self, tmp_path):
        one, two = "c" * 240 + "1.png", "c" * 240 + "2.png"  # the same first 221 bytes
        assert amio._temporary_prefix(one) != amio._temporary_prefix(two)
        stale = [tmp_path / f"{amio._temporary_prefix(n)}999999999-0123abcd.tmp" for n in (one, two)]
        for path in stale:
            path.write_bytes(b"killed")
            os.utime(path, (time.time() - amio.STALE_SECONDS - 1,) * 2)
        with amio.atomic_write(tmp_path / one) as handle:
            handle.write(b"done")
        assert not stale[0].exists() and stale[1].exists(), "only its own destination's leftover is removed"

    def test_cli(self, files, capsys):
        out = files / ("d" * 236 + ".png")
        code, err = automaps(["map", files / "photo.png", "-o", out, "--source", "constant"], capsys)
        assert code == 0 and out.is_file(), err


# ------------------------------------------------------------------------------------------ signals, pipes
SLOW_WRITE = textwrap.dedent("""
    import sys, time
    import {module} as cli
    from automaps.io import atomic_write

    def slow(*args):
        with atomic_write(sys.argv[1], name="output") as handle:
            handle.write(b"N" * 65536)
            handle.flush()
            print("halfway", flush=True)
            time.sleep(120)

    cli.{target} = slow
    sys.exit(cli.main({argv}))
""")


class TestSignalsAndPipes:
    @pytest.mark.parametrize(("module", "target", "argv"), [
        ("pipelines.cli", "cmd_plan", ["plan", "x"]),
        ("diffdiff.__main__", "run", ["i.png", "p", "--map", "m.png", "-o", "o.png"]),
    ])
    def test_sigterm_mid_write_leaves_no_temporary(self, tmp_path, module, target, argv):
        script = SLOW_WRITE.format(module=module, target=target, argv=argv)
        writer = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out.png")], env=ENV, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert writer.stdout.readline().strip() == "halfway"
        writer.send_signal(signal.SIGTERM)
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 143, err
        assert one_error(err).startswith("error: terminated")
        assert list(tmp_path.iterdir()) == []

    def test_closed_pipe_is_quiet(self):
        command = [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main(['models']))"]
        reader = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reader.stdout.close()  # `| head -0`: the reader is gone before the first line
        err = reader.stderr.read().decode()
        assert reader.wait(timeout=120) == 141, err
        assert err == ""

    def test_handler_is_restored_and_ctrl_c_is_130(self, monkeypatch, capsys):
        import pipelines.cli as cli

        before = signal.getsignal(signal.SIGTERM)

        def interrupted(args):
            assert signal.getsignal(signal.SIGTERM) is not before
            raise KeyboardInterrupt

        monkeypatch.setattr(cli, "cmd_plan", interrupted)
        assert cli.main(["plan", "x"]) == 130
        assert one_error(capsys.readouterr().err).startswith("error: interrupted")
        assert signal.getsignal(signal.SIGTERM) is before


# ------------------------------------------------------------------------------------------------------ umask
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_respect_the_umask(tmp_path, umask):
    from automaps.changemap import ChangeMap

    previous = os.umask(umask)
    try:
        save_image(Image.new("RGB", (16, 16)), tmp_path / "a.png")
        ChangeMap.from_array(np.zeros((16, 16), np.float32)).save(tmp_path / "m.npy")
    finally:
        os.umask(previous)
    for name in ("a.png", "m.npy"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_diffdiff_output_respects_the_umask(files, tiny_folders, capsys):
    previous = os.umask(0o022)
    try:
        code, err = diffdiff([files / "photo.png", "a cat", "--map", files / "map.png", "-o", files / "o.png",
                              "--model", tiny_folders["sd"], "--steps", "2", "--device", "cpu"], capsys)
    finally:
        os.umask(previous)
    assert code == 0, err
    assert (files / "o.png").stat().st_mode & 0o777 == 0o644
