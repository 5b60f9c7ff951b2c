"""Public import paths keep working: every name in each public package's
``__all__``, every name the API page documents, and the console script."""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from _imports import resolve

import skremix

ROOT = Path(__file__).resolve().parents[1]


def _public_modules():
    """``skremix`` and every module under it with no underscore part."""
    names = ["skremix"]
    for info in pkgutil.walk_packages(skremix.__path__, prefix="skremix."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names


def _documented_names():
    """``module.name`` of every autosummary entry of ``doc/api.rst``."""
    current, in_summary, names = None, False, []
    for line in (ROOT / "doc" / "api.rst").read_text(encoding="utf-8").splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            current = match.group(1)
        elif line.startswith(".. autosummary::"):
            in_summary = True
        elif in_summary and re.match(r"   [A-Za-z_][\w.]*$", line):
            names.append(f"{current}.{line.strip()}")
        elif in_summary and line and not line.startswith(" "):
            in_summary = False
    return names


def test_the_public_modules_are_found():
    modules = _public_modules()
    for name in ["skremix.base", "skremix.nn", "skremix.mixing", "skremix.losses"]:
        assert name in modules


@pytest.mark.parametrize("module", _public_modules())
def test_every_name_in_all_imports(module):
    mod = importlib.import_module(module)
    assert hasattr(mod, "__all__"), f"{module} has no __all__"
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"
        namespace = {}
        exec(f"from {module} import {name}", namespace)  # the user's spelling
        assert namespace[name] is getattr(mod, name)


def test_the_api_page_lists_names():
    assert len(_documented_names()) > 50


@pytest.mark.parametrize("dotted", _documented_names())
def test_every_documented_name_imports(dotted):
    resolve(dotted)


def test_the_console_script_imports():
    # [project.scripts] of pyproject.toml (tomllib is Python >= 3.11 only).
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    targets = re.findall(r'^\S+ = "([\w.]+):(\w+)"', section, flags=re.M)
    assert targets
    for module, attr in targets:
        assert callable(getattr(importlib.import_module(module), attr))
