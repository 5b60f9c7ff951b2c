"""Sphinx configuration of the skremix documentation.

Build (needs the ``docs`` extra: sphinx, pydata-sphinx-theme, sphinx-gallery,
numpydoc, matplotlib)::

    python -m sphinx -W -b html doc doc/_build/html

Environment variables:

- ``SKREMIX_DOCS_NO_GALLERY=1``: build the example gallery without running
  the examples (no figures; seconds instead of about a minute). The API test
  (``tests/repository/test_docs_build.py``) builds this way.
- ``SKREMIX_DOCS_INTERSPHINX=1``: resolve references to scikit-learn,
  imbalanced-learn, skorch, PyTorch and NumPy with intersphinx, which
  downloads their inventories (needs internet). Without it, the build makes
  no network access and those references get plain URLs built by
  :func:`_external_url`.
"""

import importlib
import os
import pkgutil
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import skremix  # noqa: E402

project = "skremix"
author = "skremix developers"
copyright = "skremix developers"  # noqa: A001
release = skremix.__version__
version = release

NO_GALLERY = os.environ.get("SKREMIX_DOCS_NO_GALLERY", "") not in ("", "0")
INTERSPHINX = os.environ.get("SKREMIX_DOCS_INTERSPHINX", "") not in ("", "0")

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "generated/backreferences"]
root_doc = "index"

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
toc_object_entries_show_parents = "hide"  # "fit()", not "RemixClassifier.fit()"
autodoc_typehints = "none"  # the numpydoc sections say it, once
# skorch's NeuralNet has dozens of members: document only what a class
# defines or what the templates name, never a generated member table.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- HTML: the theme of scikit-learn, imbalanced-learn and NumPy -------------

html_theme = "pydata_sphinx_theme"
html_title = f"skremix {release}"
html_static_path = []
html_theme_options = {
    "logo": {"text": "skremix"},
    "navbar_align": "left",
    "header_links_before_dropdown": 8,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {
    # pages without children: no empty left column
    "index": [],
    "install": [],
    "bench": [],
    "quality": [],
    "changelog": [],
}
html_show_sourcelink = False

# -- Example gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Run every example, not only plot_*.py: each prints a table or draws.
    "filename_pattern": r"\.py$",
    "plot_gallery": "False" if NO_GALLERY else "True",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    # link skremix names in the example code to the API pages
    "doc_module": ("skremix",),
    "reference_url": {"skremix": None},
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "show_memory": False,
    "min_reported_time": 1,
}

# -- Links to the ecosystem ----------------------------------------------------

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "imblearn": ("https://imbalanced-learn.org/stable", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
}
intersphinx_timeout = 10
if INTERSPHINX:
    extensions.append("sphinx.ext.intersphinx")

# skorch documents its top-level names under their defining module.
_SKORCH_PAGES = {
    "skorch.NeuralNet": "net.html#skorch.net.NeuralNet",
    "skorch.NeuralNetClassifier": "classifier.html#skorch.classifier.NeuralNetClassifier",
    "skorch.NeuralNetRegressor": "regressor.html#skorch.regressor.NeuralNetRegressor",
}


def _external_url(target, reftype):
    """URL of a scikit-learn, imbalanced-learn, skorch, torch or numpy object.

    Used when intersphinx is off (the default, offline build): each project
    has one page per public object (skorch: one per module), so the URL
    follows from the dotted name. Returns None for anything else.
    """
    top = target.split(".", 1)[0]
    if top not in {"sklearn", "imblearn", "skorch", "torch", "numpy"}:
        return None
    page, anchor = target, ""
    if reftype in {"meth", "attr"} and target.count(".") >= 2:
        page, anchor = target.rsplit(".", 1)[0], f"#{target}"
    if top == "sklearn":
        if reftype == "mod":
            return f"https://scikit-learn.org/stable/api/{target}.html"
        return f"https://scikit-learn.org/stable/modules/generated/{page}.html{anchor}"
    if top == "imblearn":
        return f"https://imbalanced-learn.org/stable/references/generated/{page}.html{anchor}"
    if top == "skorch":
        base = "https://skorch.readthedocs.io/en/stable/"
        if page in _SKORCH_PAGES:
            return base + _SKORCH_PAGES[page]
        parts = target.split(".")
        return base + (f"{parts[1]}.html#{target}" if len(parts) > 2 else "")
    if target.startswith("torch.utils.data."):
        return f"https://docs.pytorch.org/docs/stable/data.html#{target}"
    if target.startswith("numpy.random.Generator"):
        return f"https://numpy.org/doc/stable/reference/random/generator.html#{target}"
    if top == "torch":
        if reftype == "mod":
            return (
                f"https://docs.pytorch.org/docs/stable/{target.split('.', 1)[-1]}.html"
            )
        return f"https://docs.pytorch.org/docs/stable/generated/{page}.html{anchor}"
    return f"https://numpy.org/doc/stable/reference/generated/{page}.html{anchor}"


# User-guide labels in docstrings inherited from scikit-learn (``score``).
_SKLEARN_LABELS = {
    "accuracy_score": "modules/model_evaluation.html#accuracy-score",
}


def _resolve_external(app, env, node, contnode):
    domain, target = node.get("refdomain"), node["reftarget"]
    if domain == "std" and node["reftype"] == "ref" and target in _SKLEARN_LABELS:
        url = "https://scikit-learn.org/stable/" + _SKLEARN_LABELS[target]
    elif domain == "py":
        url = _external_url(target, node["reftype"])
    else:
        return None
    if url is None:
        return None
    from docutils import nodes

    ref = nodes.reference("", "", internal=False, refuri=url, reftitle=target)
    ref += contnode
    return ref


# -- The public API must be documented ----------------------------------------


def public_modules():
    """Every public module of skremix and the names it exports.

    The top-level package exports the classifiers; every subpackage or
    module without a leading underscore is public and exports ``__all__``.
    A new public subpackage is found here without editing this file, and
    fails the ``-W`` build until api.rst lists its names.
    """
    public = {"skremix": [n for n in skremix.__all__ if n != "__version__"]}
    for info in pkgutil.iter_modules(skremix.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"skremix.{info.name}")
        public[module.__name__] = list(getattr(module, "__all__", []))
    return public


PUBLIC = public_modules()


def _check_api_coverage(app):
    from sphinx.util import logging

    logger = logging.getLogger("skremix.api")
    path = os.path.join(app.srcdir, "api.rst")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    documented = set(re.findall(r"^\s+~?([\w.]+)\s*$", text, flags=re.M))
    for module, names in PUBLIC.items():
        for name in names:
            short = name if module == "skremix" else f"{module.split('.', 1)[1]}.{name}"
            if name not in documented and short not in documented:
                logger.warning(
                    f"{module}.{name} is public (in __all__) but not listed in api.rst",
                    location="api",
                )
    # autosummary falls back to its plain template, silently, when the
    # one named by :template: is not found under templates_path.
    for template in sorted(set(re.findall(r":template:\s*(\S+)", text))):
        if not os.path.isfile(os.path.join(app.srcdir, "_templates", template)):
            logger.warning(
                f":template: {template} is not a file under doc/_templates/: "
                "autosummary would silently use its default template",
                location="api",
            )


def _examples_out(app):
    # The examples save their figure too: keep those files out of the
    # source tree (sphinx-gallery runs them from examples/).
    path = os.path.join(app.doctreedir, "examples-out")
    os.makedirs(path, exist_ok=True)
    os.environ.setdefault("SKREMIX_EXAMPLES_OUT", path)


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn adds set_fit_request / set_partial_fit_request to every
    # class whose fit takes sample_weight (the public base defines fit): its
    # generated docstrings cite sklearn's glossary, which is not ours.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("builder-inited", _examples_out, priority=100)  # before the gallery
    app.connect("builder-inited", _check_api_coverage)
    if not INTERSPHINX:
        app.connect("missing-reference", _resolve_external)
