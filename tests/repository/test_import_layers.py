"""The package's layers, read from the import statements: the building blocks
never import the estimators, and the main job, the benchmarks and the
examples use public names only."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "skremix"
# Below the estimators: pure torch / numpy building blocks and callbacks.
LOWER = [
    "nn",
    "mixing",
    "losses",
    "sampling",
    "callbacks",
    "datasets",
    "metrics",
    "calibration",
]
# Private modules of the package root that are building blocks too (plain
# torch, no skorch, no estimator): the training-step contract, the epoch
# arithmetic and the data-parallel state, which the callbacks, the BatchNorm
# layers and the estimators share.
PURE_ROOT = ["_step", "_schedule", "_data_parallel"]


def _imports(path):
    """Every module name an import statement of ``path`` names, with the
    names it takes from it (``from m import a`` gives ``m.a``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _files(*parts):
    return sorted(p for part in parts for p in (ROOT / part).rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [p for sub in LOWER for p in _files(f"skremix/{sub}")]
    + [PKG / f"{name}.py" for name in PURE_ROOT],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_building_blocks_do_not_import_the_estimators(path):
    own = ".".join(path.relative_to(ROOT).with_suffix("").parts[:2])
    for name in _imports(path):
        if not name.startswith("skremix"):
            continue
        parts = name.split(".")
        # skremix.<lower subpackage>... or a pure root module only, never
        # the top-level package (it imports the estimators), skremix.base
        # (the estimator base) or another private module of the package root
        # (_net, _erm, ...).
        assert len(parts) > 1, f"{path.name} imports the top-level package"
        assert parts[1] in LOWER or parts[1] in PURE_ROOT, (
            f"{path.relative_to(ROOT)} imports {name}, above its layer"
        )
        if parts[1] != own.split(".")[-1]:
            assert len(parts) < 3 or not parts[2].startswith("_"), (
                f"{path.relative_to(ROOT)} imports the private {name} of another "
                "subpackage"
            )


@pytest.mark.parametrize(
    "path",
    _files("skremix/bench", "benchmarks", "examples"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_main_job_benchmarks_and_examples_use_public_names(path):
    inside_bench = path.is_relative_to(PKG / "bench")
    for name in _imports(path):
        if not name.startswith("skremix"):
            continue
        if inside_bench and name.startswith("skremix.bench"):
            continue  # the main job's own private modules
        private = [p for p in name.split(".")[1:] if p.startswith("_")]
        assert not private, f"{path.relative_to(ROOT)} imports the private {name}"


def test_the_check_sees_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from skremix._net import _fill_module_kwargs\n")
    assert "skremix._net._fill_module_kwargs" in list(_imports(bad))
