"""The layering (DESIGN.md): ``automaps`` (maps + the shared foundation) <- ``diffdiff`` <- ``pipelines``, and the
foundation's pieces exist once.

- ``automaps`` imports neither ``diffdiff`` nor ``pipelines``;
- ``diffdiff`` imports no ``pipelines`` and none of automaps' generators or planner (only its foundation and
  ``ChangeMap``);
- nothing imports ``pipelines`` but ``pipelines`` itself;
- ``import automaps`` loads no torch, ``import diffdiff`` no transformers, OpenCV or map generators;
- one ``ModelNotAvailableError``, one ``MIN_SIDE``, one image opener, one reader of ``HF_HUB_OFFLINE``.

Every import is checked, absolute and relative, at module level or inside a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("automaps", "diffdiff", "pipelines")

# What each package may not import (a module or any of its submodules).
FORBIDDEN = {
    "automaps": ("diffdiff", "pipelines"),
    "diffdiff": ("pipelines", "automaps.generators", "automaps.planner", "automaps.plan_*", "automaps.llm_planner"),
    "pipelines": (),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, relative imports resolved to absolute names.

    ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a submodule).
    """
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - (node.level - 1)] if node.level else []
            prefix = [*base, *([node.module] if node.module else [])]
            if prefix:
                found.add(".".join(prefix))
            found.update(".".join([*prefix, alias.name]) for alias in node.names)
    return found


def _matches(name: str, rule: str) -> bool:
    if rule.endswith("*"):
        return name.startswith(rule[:-1])
    return name == rule or name.startswith(rule + ".")


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``source`` (module ``module``) that break the layering."""
    top = module.split(".")[0]
    bad = []
    for name in sorted(imported_modules(source, module, is_package)):
        rules = FORBIDDEN.get(top, ()) + (("pipelines",) if top != "pipelines" else ())
        if any(_matches(name, rule) for rule in rules):
            bad.append(f"{module} imports {name}")
    return bad


def _sources() -> list[tuple[Path, str, bool]]:
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 30, "the packages' files were found"
    return [(p, _module_name(p), p.name == "__init__.py") for p in files]


def test_the_checker_flags_bad_imports():
    assert violations("import diffdiff", "automaps.ops") == ["automaps.ops imports diffdiff"]
    assert violations("def f():\n    from pipelines.edit import edit\n", "automaps.changemap")
    assert violations("from ..generators import generate", "automaps.hub") == []  # automaps may use its own
    assert violations("from automaps.generators import generate", "diffdiff.editor")
    assert violations("from automaps import planner", "diffdiff.editor") == ["diffdiff.editor imports automaps.planner"]
    assert violations("from automaps.plan_types import EditPlan", "diffdiff.stages")
    assert violations("import automaps.llm_planner as l", "diffdiff.probe")
    assert violations("from ..pipelines import x", "diffdiff.families.sd") == []  # that is diffdiff.pipelines
    assert violations("from ..pipelines import x", "diffdiff.families", is_package=True) == []
    assert violations("from ..pipelines import x", "diffdiff.stages") == ["diffdiff.stages imports pipelines",
                                                                         "diffdiff.stages imports pipelines.x"]
    assert violations("from ... import pipelines", "diffdiff.families.sd") == ["diffdiff.families.sd imports pipelines"]
    assert violations("from automaps.errors import ModelNotAvailableError", "diffdiff.loading") == []
    assert violations("from automaps.changemap import ChangeMap", "diffdiff.inputs") == []
    assert violations("from diffdiff import DifferentialEditor", "pipelines.edit") == []
    assert imported_modules("from . import hub", "automaps", is_package=True) >= {"automaps", "automaps.hub"}


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_layering(package):
    bad = [v for path, module, is_package in _sources() if module.split(".")[0] == package
           for v in violations(path.read_text(), module, is_package)]
    assert bad == []


def _loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            check=True)
    return result.stdout.split()


def test_importing_the_packages_stays_light():
    assert _loaded_after("import automaps", ("torch", "transformers", "cv2", "diffdiff", "pipelines")) == []
    assert _loaded_after("import diffdiff", ("transformers", "cv2", "automaps.generators", "automaps.planner",
                                             "pipelines")) == []


# ------------------------------------------------------------------------------------------ one of each
def test_one_error_class_and_one_min_side():
    import automaps
    import automaps.errors
    import automaps.generators
    import automaps.imagefiles
    import diffdiff
    import diffdiff.inputs
    import pipelines.images

    assert diffdiff.ModelNotAvailableError is automaps.ModelNotAvailableError is automaps.errors.ModelNotAvailableError
    assert automaps.generators.ModelNotAvailableError is automaps.ModelNotAvailableError
    assert diffdiff.UnsupportedPipelineError is automaps.errors.UnsupportedPipelineError
    assert issubclass(automaps.ModelNotAvailableError, (automaps.errors.AutomapsError, OSError))
    assert diffdiff.inputs.MIN_SIDE is pipelines.images.MIN_SIDE is automaps.imagefiles.MIN_SIDE
    assert pipelines.images.open_image_file is automaps.imagefiles.open_image_file


def _defines(tree: ast.Module, name: str) -> bool:
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False


def _calls_image_open(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "open"
               and isinstance(node.func.value, ast.Name) and node.func.value.id == "Image" for node in ast.walk(tree))


def _names_offline_variable(tree: ast.AST) -> bool:
    # The bare key, as os.environ.get / os.getenv / os.environ[...] take it (messages that mention it are longer).
    return any(isinstance(node, ast.Constant) and node.value == "HF_HUB_OFFLINE" for node in ast.walk(tree))


def test_the_foundation_pieces_exist_once():
    owners: dict[str, list[str]] = {"opens": [], "reads_offline": []}
    for name in ("ModelNotAvailableError", "UnsupportedPipelineError", "MIN_SIDE", "open_image_file",
                 "atomic_write", "resolve_dtype", "resolve_device", "looks_like_path", "_looks_like_path",
                 "_offline", "offline", "_to_8bit", "_save_atomically"):
        owners[name] = []
    for path, module, _ in _sources():
        tree = ast.parse(path.read_text())
        for name in owners:
            if name not in ("opens", "reads_offline") and _defines(tree, name):
                owners[name].append(module)
        if _calls_image_open(tree):
            owners["opens"].append(module)
        if _names_offline_variable(tree):
            owners["reads_offline"].append(module)
    assert owners["opens"] == ["automaps.imagefiles"], "only the one opener calls Image.open"
    assert owners["reads_offline"] == ["automaps.hub"], "only automaps.hub reads HF_HUB_OFFLINE"
    assert owners["ModelNotAvailableError"] == owners["UnsupportedPipelineError"] == ["automaps.errors"]
    assert owners["MIN_SIDE"] == owners["open_image_file"] == ["automaps.imagefiles"]
    assert owners["atomic_write"] == ["automaps.io"]
    assert owners["resolve_dtype"] == owners["resolve_device"] == owners["offline"] == ["automaps.hub"]
    assert owners["looks_like_path"] == ["automaps.hub"]
    assert owners["_looks_like_path"] == owners["_offline"] == owners["_to_8bit"] == owners["_save_atomically"] == []


def test_the_scans_can_fail():
    assert _calls_image_open(ast.parse("from PIL import Image\nwith Image.open(p) as f: pass"))
    assert not _calls_image_open(ast.parse("open_image_file(p, 'image')"))
    assert _names_offline_variable(ast.parse("import os\nos.environ.get('HF_HUB_OFFLINE')"))
    assert not _names_offline_variable(ast.parse("message = 'HF_HUB_OFFLINE is set'"))
    assert _defines(ast.parse("MIN_SIDE = 16"), "MIN_SIDE") and not _defines(ast.parse("x = MIN_SIDE"), "MIN_SIDE")


@pytest.mark.parametrize("name", ["automaps.errors", "automaps.hub", "automaps.imagefiles"])
def test_foundation_doctests(name):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(name)).failed == 0
