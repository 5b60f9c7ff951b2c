"""The built API pages show what users look for.

autosummary falls back to its plain template, silently, when the one named
by ``:template:`` is not found; the classifier pages then list no method at
all. This builds the documentation once (without running the examples:
``SKREMIX_DOCS_NO_GALLERY=1``, about 15 s) into a temporary folder and reads
the HTML. With ``SKREMIX_DOCS_HTML`` set to the output folder of a build
already made (as ``.ci/run`` does after its ``-W`` build), it reads that one
instead. Skipped without the ``docs`` extra or outside a source checkout.
"""

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

for _module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme"):
    pytest.importorskip(
        _module, reason="needs the docs extra: pip install -e '.[docs]'"
    )

from sklearn.base import BaseEstimator  # noqa: E402

import skremix  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "doc"
METHODS = ("fit", "partial_fit", "predict", "predict_proba", "score")
ESTIMATORS = [
    name
    for name in skremix.__all__
    if inspect.isclass(getattr(skremix, name))
    and issubclass(getattr(skremix, name), BaseEstimator)
]


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """The folder of the built HTML documentation."""
    built = os.environ.get("SKREMIX_DOCS_HTML")
    if built:
        return Path(built)
    if not (DOC / "conf.py").is_file():
        pytest.skip("no doc/ folder next to tests/ (not a source checkout)")
    out = tmp_path_factory.mktemp("docs")
    env = {**os.environ, "SKREMIX_DOCS_NO_GALLERY": "1"}
    env.pop("SKREMIX_DOCS_INTERSPHINX", None)  # no network
    command = [sys.executable, "-m", "sphinx", "-q", "-b", "html"]
    command += ["-d", str(out / "doctrees"), str(DOC), str(out / "html")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"the docs build failed:\n{proc.stderr[-4000:]}"
    return out / "html"


def _public_names():
    spec = importlib.util.spec_from_file_location("_skremix_doc_conf", DOC / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return [
        f"{module}.{name}" for module, names in conf.PUBLIC.items() for name in names
    ]


def test_estimators_found():
    assert len(ESTIMATORS) >= 5, ESTIMATORS


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_page_documents_sklearn_methods(html, name):
    page = html / "generated" / f"skremix.{name}.html"
    assert page.is_file(), f"no API page for skremix.{name}"
    text = page.read_text(encoding="utf-8")
    missing = [m for m in METHODS if f'id="skremix.{name}.{m}"' not in text]
    assert not missing, (
        f"{page.name} documents no {', '.join(missing)}: is "
        "doc/_templates/autosummary/estimator.rst used (the :template: of api.rst)?"
    )


def test_every_public_name_has_a_page(html):
    if not (DOC / "conf.py").is_file():
        pytest.skip("no doc/conf.py (not a source checkout)")
    missing = [
        name
        for name in _public_names()
        if not (html / "generated" / f"{name}.html").is_file()
    ]
    assert not missing, f"public names without an API page: {missing}"
