"""The changelog stays true: every public name it cites in a :mod:, :func:,
:class:, :meth:, :attr: or :data: role imports from the path it gives."""

import re
from pathlib import Path

import pytest
from _imports import resolve

CHANGELOG = Path(__file__).resolve().parents[2] / "doc" / "changelog.rst"
ROLE = re.compile(r":(?:mod|func|class|meth|attr|data):`([^`]+)`")


def _cited():
    """The targets of the roles, without ``~`` or a title."""
    names = []
    for text in ROLE.findall(CHANGELOG.read_text(encoding="utf-8")):
        target = re.sub(r"^.*<(.+)>$", r"\1", text).lstrip("~")
        names.append(target)
    return sorted(set(names))


def test_the_changelog_cites_names():
    assert "skremix.losses" in _cited()


@pytest.mark.parametrize("dotted", _cited())
def test_every_cited_name_imports(dotted):
    assert dotted.startswith("skremix"), f"{dotted}: not a skremix path"
    resolve(dotted)


def test_a_wrong_path_fails():
    with pytest.raises(AttributeError):
        resolve("skremix.mixing.ldam_cross_entropy")
