"""numpydoc validation of every public docstring.

Modelled on scikit-learn's ``sklearn/tests/test_docstrings.py``. The objects
are every function and class named in ``__all__`` of :mod:`skremix` and of
each public module below it (found with :mod:`pkgutil`: every subpackage or
module whose name does not start with ``_``, so a new one joins by existing),
plus, for each class, every public method or property that skremix itself
defines (in the class or in a skremix base such as the private estimator
base; not what it inherits from skorch, scikit-learn or torch). A method
shared by several classes is validated once, under the first public class
that exposes it. Data objects in ``__all__`` (``__version__``, the
``geometric_mean_scorer`` instance) are not numpydoc's business: Sphinx
documents them from their ``#:`` comments. One test per object, named by its
public dotted path; a failure prints the docstring and its errors.

Codes checked (``CHECKED``), and why:

* GL01, GL03, GL05, GL06, GL07, GL09, GL10: the docstring parses as the
  numpydoc the Sphinx build renders: no stray blank lines, no tabs, only
  numpydoc's sections and in its order (the house order: summary,
  Parameters, ..., See Also, Notes, References, Examples), directives with
  their ``::``.
* GL08: every public object has a docstring, overrides of skorch / torch
  hooks included: the reader of the API page should learn what *this* hook
  does, not the base's generic sentence.
* SS01-SS06: a one-line summary, capitalised, ending in a period, starting
  with an infinitive verb for functions and methods: the line autosummary
  puts in the API tables.
* PR01-PR10: every parameter is documented, no unknown ones, in signature
  order, each with a type and a sentence. The class docstring is checked
  against ``__init__``.
* RT01, RT03-RT05, YD01: what comes back is documented, with a sentence.
* SA02-SA04: a See Also entry, when there is one, says why in a sentence.
* EX01, for functions and classes only (not methods): the house style asks
  every public function and class for a doctest (they run in the suite).

Codes not checked, and why:

* ES01 (no extended summary): a one-line summary plus Parameters is the
  whole story of many small functions; padding them would add noise.
* SA01 (no See Also section): cross-references are added where they help,
  not everywhere.
* RT02 (Returns line holds more than a type): the house style names returned
  values (``score : float``), as scikit-learn does.
* GL02 (closing quotes on their own line): layout, owned by the formatter;
  the summary rules above catch the content problem it usually comes with.
* EX01 on methods: the class's example shows them at work.

Rules on top of the codes (``_filter_errors``):

* An override of a method that a third-party base (skorch, scikit-learn,
  torch) documents, taking no parameter that the base does not define
  (skorch's ``on_epoch_begin(self, net, **kwargs)``, ``get_loss``,
  ``extra_repr``), keeps the base's contract: its docstring may say only
  what it does differently. PR01 is waived while it has no Parameters
  section and RT01 while it has no Returns section; once written, a section
  is checked in full. ``forward`` methods take parameters torch's base does
  not define, so they are checked in full.
* A single object can waive a code with numpydoc's own inline comment,
  ``# numpydoc ignore=CODE`` on its ``def`` / ``class`` line, with the
  reason beside it.

``PENDING`` lists the objects known to fail, each marked as a strict xfail:
the test turns red as soon as one passes, so the entry must then be removed.

numpydoc (which pulls in Sphinx) comes with the ``docs`` extra, not the
``test`` one: the module is skipped without it. ``.ci/run`` installs the docs
extra before its ``pytest`` run, so CI always runs it (the minimum-dependencies
job skips it); locally, ``pip install -e ".[test,docs]"``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import skremix

numpydoc_validate = pytest.importorskip("numpydoc.validate")

CHECKED = frozenset(
    ["GL01", "GL03", "GL05", "GL06", "GL07", "GL08", "GL09", "GL10"]
    + [f"SS0{i}" for i in range(1, 7)]
    + [f"PR{i:02d}" for i in range(1, 11)]
    + ["RT01", "RT03", "RT04", "RT05", "YD01"]
    + ["SA02", "SA03", "SA04"]
    + ["EX01"]
)

# Objects that still fail, with the codes they fail on, until their
# docstrings are fixed: strict xfails, so an entry must be removed as soon as
# its object passes. Empty since every public docstring passed; never add to
# it: a new object passes before it is exported.
PENDING: dict[str, str] = {}


def _is_own(obj):
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "skremix"


def _public_modules():
    """``skremix`` and every public module or subpackage directly below it."""
    yield skremix
    for info in sorted(pkgutil.iter_modules(skremix.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"skremix.{info.name}")


def _own_members(cls):
    """Public methods and properties that skremix code defines for ``cls``.

    Yields ``(name, defining_class, raw_attribute)``, walking the MRO so that
    an attribute is the one ``getattr(cls, name)`` finds.
    """
    seen = set()
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if not _is_own(klass):
                continue
            if isinstance(value, property | classmethod | staticmethod) or (
                inspect.isfunction(value)
            ):
                yield name, klass, value


def _function_of(value):
    if isinstance(value, property):
        return value.fget
    if isinstance(value, classmethod | staticmethod):
        return value.__func__
    return value


def collect_objects():
    """Map each public dotted path to what to validate there.

    Each value is a dict with ``kind`` ('function', 'class' or 'method') and,
    for methods, ``cls`` (the public class), ``owner`` (the class defining
    it) and ``attr`` (the raw class attribute).
    """
    objects = {}
    seen = set()
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue  # data: documented by a ``#:`` comment
            if not _is_own(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            path = f"{module.__name__}.{name}"
            objects[path] = {"kind": "class" if inspect.isclass(obj) else "function"}
            if not inspect.isclass(obj):
                continue
            for attr, owner, value in _own_members(obj):
                func = _function_of(value)
                if func is None or id(func) in seen:
                    continue
                seen.add(id(func))
                objects[f"{path}.{attr}"] = {
                    "kind": "method",
                    "cls": obj,
                    "owner": owner,
                    "attr": value,
                }
    return objects


OBJECTS = collect_objects()


def _param_names(func):
    """Parameter names of ``func`` without ``self``/``cls``; ``*``/``**``
    stand for variadic ones."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    names = set()
    for i, p in enumerate(params):
        if i == 0 and p.name in ("self", "cls"):
            continue
        if p.kind is p.VAR_POSITIONAL:
            names.add("*")
        elif p.kind is p.VAR_KEYWORD:
            names.add("**")
        else:
            names.add(p.name)
    return names


def _keeps_third_party_contract(info, name):
    """Whether the method overrides a documented third-party method and
    takes no parameter that the overridden method does not define."""
    func = _function_of(info["attr"])
    own = _param_names(func)
    mro = info["cls"].__mro__
    for klass in mro[mro.index(info["owner"]) + 1 :]:
        if _is_own(klass) or name not in vars(klass):
            continue
        base = _function_of(vars(klass)[name])
        if not (getattr(base, "__doc__", None) or "").strip():
            continue
        base_params = _param_names(base)
        if own is not None and base_params is not None and own <= base_params:
            return True
    return False


def _filter_errors(path, info, result):
    """The errors of ``result`` that count for ``path``, as (code, message)."""
    sections = result["docstring"]
    has_params = "\nParameters\n----------" in f"\n{sections}"
    has_returns = "\nReturns\n-------" in f"\n{sections}"
    relaxed = info["kind"] == "method" and _keeps_third_party_contract(
        info, path.rsplit(".", 1)[1]
    )
    for code, message in result["errors"]:
        if code not in CHECKED:
            continue
        if code == "EX01" and info["kind"] == "method":
            continue
        if relaxed and (
            (code == "PR01" and not has_params) or (code == "RT01" and not has_returns)
        ):
            continue
        yield code, message


def _report(path, info, result, errors):
    where = f"{result['file']}:{result['file_line']}"
    if info["kind"] == "method":
        owner = info["owner"]
        where += f" (defined in {owner.__module__}.{owner.__qualname__})"
    lines = "\n".join(f"  {code}: {message}" for code, message in errors)
    return (
        f"{path}\n{where}\n\n{result['docstring']}\n\n# Errors\n{lines}\n\n"
        f"numpydoc's full report (all codes): python -m numpydoc validate {path}"
    )


def _params():
    params = []
    for path in OBJECTS:
        marks = ()
        if path in PENDING:
            marks = pytest.mark.xfail(strict=True, reason=PENDING[path])
        params.append(pytest.param(path, marks=marks, id=path))
    return params


@pytest.mark.parametrize("path", _params())
def test_docstring(path):
    """numpydoc validation of one public object, on the CHECKED codes."""
    info = OBJECTS[path]
    result = numpydoc_validate.validate(path)
    errors = list(_filter_errors(path, info, result))
    if errors:
        pytest.fail(_report(path, info, result, errors), pytrace=False)


def test_pending_entries_exist():
    """A PENDING entry names an object that is still collected."""
    assert sorted(set(PENDING) - set(OBJECTS)) == []


def test_public_modules_declare_all():
    """Every public module declares ``__all__``: it is what is validated."""
    missing = [m.__name__ for m in _public_modules() if not hasattr(m, "__all__")]
    assert missing == []
