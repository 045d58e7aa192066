"""``automaps map``'s operation flags come from ``automaps.ops.OPERATIONS``: one flag per single-map operation,
its type and range from the spec, applied in the registry's order; a value out of range is exit code 2 with one
``error:`` line naming the flag and the range."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from automaps import ChangeMap, ops
from automaps.ops import OPERATIONS
from pipelines.cli import EXIT_BAD_INPUT, MAP_OPERATIONS_WITHOUT_FLAG, build_parser, main, map_operation_flags

FLAGS = map_operation_flags()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("map-flags")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / "p.png")
    return folder / "p.png"


def run_map(photo, *flags: str, capsys) -> tuple[int, str, ChangeMap | None]:
    out = photo.parent / "m.png"
    out.unlink(missing_ok=True)
    code = main(["map", str(photo), "-o", str(out), "--source", "radial", *flags])
    stderr = capsys.readouterr().err
    return code, stderr, ChangeMap.from_file(out) if out.exists() else None


def test_every_operation_has_a_flag_or_a_reason():
    names = {flag[2:] for flag in FLAGS}
    assert names.isdisjoint(MAP_OPERATIONS_WITHOUT_FLAG)
    assert names | set(MAP_OPERATIONS_WITHOUT_FLAG) == set(OPERATIONS)
    # Every single-map operation with one scalar parameter (or none) is a flag; only resize is left out.
    scalar = {name for name, spec in OPERATIONS.items()
              if spec.n_maps == 1 and len(spec.params) <= 1 and name != "resize"}
    assert scalar <= names
    assert all(OPERATIONS[name].n_maps != 1 for name in MAP_OPERATIONS_WITHOUT_FLAG if name != "resize")
    assert list(FLAGS) == [f"--{name}" for name in OPERATIONS if name in names], "the registry's order"


def test_flags_take_the_spec_types_and_show_the_ranges():
    parser = build_parser()
    args = parser.parse_args(["map", "x.png", "-o", "m.png", "--grow", "2.5", "--quantize", "4", "--levels", "0.2",
                              "0.8", "--invert"])
    assert args.grow == 2.5 and args.quantize == 4 and isinstance(args.quantize, int)
    assert args.levels == [0.2, 0.8] and args.invert is True and args.normalize is False and args.feather is None
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["map", "x.png", "-o", "m.png", "--quantize", "2.5"])
    assert exit_info.value.code == EXIT_BAD_INPUT
    help_text = " ".join(parser._subparsers._group_actions[0].choices["map"].format_help().split())
    for flag, spec in FLAGS.items():
        assert flag in help_text
        for name, (lo, hi) in spec.params.items():
            assert f"{name.upper()} in [{lo:g}, {hi:g}]" in help_text


OUT_OF_RANGE = [(flag, name, value) for flag, spec in FLAGS.items() for name, (lo, hi) in spec.params.items()
                for value in (lo - 1, hi + 1)]


@pytest.mark.parametrize(("flag", "name", "value"), OUT_OF_RANGE, ids=[f"{f}={v:g}" for f, _, v in OUT_OF_RANGE])
def test_a_value_out_of_range_is_refused_naming_the_flag(photo, capsys, flag, name, value):
    spec = FLAGS[flag]
    values = [str(int(value) if spec.kind(name) is int else value)]
    if len(spec.params) > 1:  # the other parameters in range
        values = [values[0] if other == name else str(spec.params[other][0]) for other in spec.params]
    code, stderr, change = run_map(photo, flag, *values, capsys=capsys)
    lo, hi = spec.params[name]
    where = flag if len(spec.params) == 1 else f"{flag} {name.upper()}"
    got = spec.kind(name)(values[list(spec.params).index(name)])
    assert code == EXIT_BAD_INPUT and change is None
    assert stderr.splitlines() == [f"error: {where}: expected a value in [{lo:g}, {hi:g}], got {got!r}"]


def test_range_is_checked_before_the_image_is_read(tmp_path, capsys):
    code = main(["map", str(tmp_path / "missing.png"), "-o", str(tmp_path / "m.png"), "--feather", "-2"])
    assert code == EXIT_BAD_INPUT
    assert capsys.readouterr().err == "error: --feather: expected a value in [0, 1024], got -2.0\n"


def test_a_constraint_between_parameters_names_the_flag(photo, capsys):
    code, stderr, change = run_map(photo, "--levels", "0.8", "0.2", capsys=capsys)
    assert code == EXIT_BAD_INPUT and change is None
    assert stderr.startswith("error: --levels: lo: expected lo <= hi")


def test_operations_apply_in_the_registry_order_whatever_the_command_line_order(photo, capsys):
    base = run_map(photo, capsys=capsys)[2]
    flags = ["--invert", "--threshold", "0.4", "--feather", "1.5", "--grow", "2", "--gamma", "2"]
    code, stderr, change = run_map(photo, *flags, capsys=capsys)
    assert code == 0, stderr
    assert stderr.rstrip().endswith("| grow(2) | feather(1.5) | gamma(2) | threshold(0.4) | invert")
    expected = ops.invert(ops.threshold(ops.gamma(ops.feather(ops.grow(base, 2), 1.5), 2), 0.4))
    assert np.mean(change.values != expected.values) < 0.01  # the base map went through an 8-bit PNG


def test_zero_and_switch_flags(photo, capsys):
    code, stderr, _ = run_map(photo, "--normalize", "--grow", "0", capsys=capsys)
    assert code == 0, stderr
    assert stderr.rstrip().endswith("| grow(0) | normalize")
