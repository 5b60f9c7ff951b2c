"""Sphinx configuration of the skremix documentation.

Build: ``python -m sphinx -W -b html doc doc/_build/html`` (needs the
``docs`` extra: sphinx, numpydoc, matplotlib).
"""

import importlib
import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))

import skremix  # noqa: E402

project = "skremix"
author = "skremix developers"
copyright = "skremix developers"  # noqa: A001
release = skremix.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections say it, once
# skorch's NeuralNet has dozens of members: document only what a class
# defines or what the templates name, never a generated member table.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"skremix {release}"
html_static_path = []

# The public API, as the packages export it: every name must appear in
# api.rst, so that a new export without documentation fails the -W build.
PUBLIC = {
    "skremix": [n for n in skremix.__all__ if n != "__version__"],
    "skremix.nn": None,
    "skremix.mixing": None,
    "skremix.sampling": None,
    "skremix.callbacks": None,
    "skremix.datasets": None,
    "skremix.metrics": None,
    "skremix.bench": None,
}


def _check_api_coverage(app):
    from sphinx.util import logging

    logger = logging.getLogger("skremix.api")
    path = os.path.join(app.srcdir, "api.rst")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    documented = set(re.findall(r"^\s+~?([\w.]+)\s*$", text, flags=re.M))
    for module, names in PUBLIC.items():
        if names is None:
            names = importlib.import_module(module).__all__
        for name in names:
            short = name if module == "skremix" else f"{module.split('.', 1)[1]}.{name}"
            if name not in documented and short not in documented:
                logger.warning(
                    f"{module}.{name} is public (in __all__) but not listed in api.rst",
                    location=path,
                )


def setup(app):
    app.connect("builder-inited", _check_api_coverage)
