"""A model family is one adapter plus its tiny builder, found through one registry: everything else (the
editor, the stock reference, the probe, the test parametrisation, ``automaps models``) reads the registry
and names no family."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from diffdiff.editor import extra_roles
from diffdiff.families import FAMILIES
from diffdiff.models import DEFAULT_MODELS
from diffdiff.tiny import TINY_EDITORS, TINY_FAMILIES
from pipelines.cli_models import model_rows

ROOT = Path(__file__).resolve().parents[1]
# The modules of the editor's machinery: none may branch on a family's name or an extra stage's role.
GENERIC = ["diffdiff/editor.py", "diffdiff/reference.py", "diffdiff/probe.py", "diffdiff/stages.py",
           "diffdiff/hook.py", "diffdiff/core.py", "diffdiff/inputs.py", "diffdiff/loading.py", "diffdiff/call_args.py"]


def string_constants(source: str) -> set[str]:
    """String literals of a module that are not docstrings."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_scan_sees_a_family_name():
    assert "kandinsky" in string_constants('def f(x):\n    """kandinsky"""\n    return x == "kandinsky"\n')
    assert "kandinsky" not in string_constants('def f(x):\n    """kandinsky"""\n')


@pytest.mark.parametrize("module", GENERIC)
def test_generic_modules_name_no_family_and_no_stage(module):
    names = set(FAMILIES) | set(extra_roles())
    found = string_constants((ROOT / module).read_text()) & names
    assert not found, f"{module} names {sorted(found)}: declare it in the family's adapter instead"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_has_defaults_a_tiny_editor_and_a_models_row(family):
    adapter = FAMILIES[family]
    assert "main" in DEFAULT_MODELS[family]
    cases = [case for case in TINY_EDITORS.values() if case.family == family]
    assert cases, f"{family}: register a tiny editor in diffdiff/tiny/"
    for case in cases:
        assert case.main in TINY_FAMILIES and set(case.extras.values()) <= set(TINY_FAMILIES)
        assert set(case.extras) <= set(adapter.extra_classes)
    listed = {row[1] for row in model_rows() if row[0] == "diffusion"}
    assert family in listed
    assert {f"{family}:{role}" for role in DEFAULT_MODELS[family] if role != "main"} <= listed


def test_extra_stages_are_editor_attributes(editors):
    editor = editors("if-1+2")
    assert editor.stage2 is editor.stages["stage2"] and editor.stage3 is None
    assert editor.refiner is None  # another family's role reads as absent, not as an error
    with pytest.raises(AttributeError):
        _ = editor.no_such_stage


def test_models_lists_the_pndm_extra_call():
    notes = {row[1]: row[4] for row in model_rows()}
    assert "k+1" in notes["sd"]
