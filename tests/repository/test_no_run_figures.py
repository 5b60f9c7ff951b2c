"""No run figures in the package's code: dates of runs, confidence intervals
and "measured" readings go stale with every change. They belong in
``benchmarks/results/`` and ``doc/``; the code says what and why and points
there (CONTRIBUTING.md, "Where things go")."""

import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "skremix"
STALE = {
    "a date": re.compile(r"\b20\d\d-\d\d\b"),
    "an interval": re.compile(r"\[[+-]\d+\.\d+, [+-]\d+\.\d+\]"),
    "a measurement": re.compile(r"\b[Mm]easured\b|\bpaired fits\b"),
}


@pytest.mark.parametrize(
    "path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG.parent))
)
def test_no_run_figures_in_the_code(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for what, pattern in STALE.items():
            assert not pattern.search(line), (
                f"{path.name}:{number} quotes {what}: move the figure to "
                f"benchmarks/results/ or doc/ and point there\n{line}"
            )


def test_the_check_sees_a_figure():
    line = "made on 2026-11-29: +4.50 [+3.31, +5.69], 35 paired fits"
    assert all(p.search(line) for p in STALE.values())
