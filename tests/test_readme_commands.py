"""Every command line README.md shows exists: each ``automaps ...`` / ``python -m diffdiff ...`` line of its bash
blocks parses with the real parsers (parsed, not run), every ``--flag`` of an inline command is an option of its
command, and the "Try it offline" journey runs end to end on tiny models."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()


def _bash_commands() -> list[str]:
    """Each ``automaps`` / ``python -m diffdiff`` command of README's bash blocks (``&&`` chains split)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith(("automaps ", "python -m diffdiff ")):
                    commands.append(part)
    return commands


def _parse(command: str) -> argparse.Namespace:
    """Parse one command line with the parser that would run it (argparse exits on an unknown flag)."""
    from diffdiff.__main__ import _parser
    from pipelines.cli import build_parser

    argv = shlex.split(command, comments=True)
    if argv[0] == "automaps":
        return build_parser().parse_args(argv[1:])
    return _parser().parse_args(argv[3:])


def _subcommand_options(command: str) -> set[str]:
    from diffdiff.__main__ import _parser
    from pipelines.cli import build_parser

    argv = shlex.split(command)
    if argv[0] != "automaps":
        parser = _parser()
    else:
        subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
        parser = subparsers.choices[argv[1]]
    return {option for action in parser._actions for option in action.option_strings}


COMMANDS = _bash_commands()


def test_the_readme_shows_the_journeys():
    subcommands = {shlex.split(c)[1] for c in COMMANDS if c.startswith("automaps ")}
    assert {"edit", "plan", "map", "models", "tiny-models", "fan", "inpaint", "evaluate"} <= subcommands
    assert any(c.startswith("python -m diffdiff ") for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_parses(command, capsys):
    try:
        _parse(command)
    except SystemExit:
        pytest.fail(f"README command does not parse ({capsys.readouterr().err.strip()}): {command}")


def test_every_inline_flag_exists():
    inline = [span for span in re.findall(r"`([^`\n]+)`", TEXT)
              if span.startswith(("automaps ", "python -m diffdiff ")) and len(shlex.split(span)) > 2]
    assert inline
    for span in inline:
        command = span.split("|")[0]
        flags = {token.split("=")[0] for token in shlex.split(command) if token.startswith("--")}
        assert flags <= _subcommand_options(command), span


def test_no_readme_link_leaves_the_clone():
    assert "../shared" not in TEXT
    for path in re.findall(r"python (benchmarks/\w+\.py)", TEXT):
        assert (README.parent / path).is_file(), path


def test_try_it_offline_runs_end_to_end(tmp_path, capsys, monkeypatch):
    """The README's "Try it offline" block is what ``automaps tiny-models`` prints, and each command works."""
    from diffdiff.__main__ import main as diffdiff_main
    from pipelines.cli import main
    from pipelines.cli_models import tiny_model_commands

    section = TEXT.split("## Try it offline", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    shown = [line.split("  #")[0].strip() for line in block.splitlines()[1:]]
    assert shown == tiny_model_commands(Path("tiny"))

    monkeypatch.chdir(tmp_path)
    assert main(["tiny-models", "tiny", "--only", "sd", "clipseg"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == tiny_model_commands(Path("tiny"))
    for command in printed:
        argv = shlex.split(command)
        code = main(argv[1:]) if argv[0] == "automaps" else diffdiff_main(argv[3:])
        assert code == 0, (command, capsys.readouterr().err)
    assert all((tmp_path / "tiny" / name).is_file() for name in ("sky.png", "edited.png", "edited-diffdiff.png"))
